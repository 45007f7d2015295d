package cli

import (
	"context"
	"io"

	"github.com/binproto/binproto"

	"github.com/binproto/binproto/cmd/binproto/internal/attack"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
	"github.com/binproto/binproto/cmd/binproto/internal/target/grpctarget"
	"github.com/binproto/binproto/cmd/binproto/internal/target/httpjson"
)

// wiring is what the commands run: the targets bench can measure and the
// server serve runs. Execute builds it with defaultWiring; tests build
// their own. Nothing registers itself.
type wiring struct {
	// candidates are the systems measured against the baseline, in order;
	// bench runs them all unless --targets selects some. Each gets --addr.
	candidates []namedTarget
	// baselines are selectable with --baseline; the first is the default.
	// The baseline gets --baseline-addr.
	baselines []namedTarget
	// serve runs `binproto serve` until ctx ends, logging to out.
	serve func(ctx context.Context, cfg binprototarget.ServeConfig, out io.Writer) error
	// attack runs `binproto attack`.
	attack func(ctx context.Context, cfg attack.Config) (*attack.Report, error)
	// checks names the targets of the shared-connection checks.
	checks report.CheckTargets
}

// namedTarget is a target bench can build, by name.
type namedTarget struct {
	name string
	// build returns the target for ep.
	build func(ep endpoint) bench.Target
}

// endpoint says which server a target measures.
type endpoint struct {
	// addr is the host:port of a running server, or "" for an embedded one.
	addr string
	// token authenticates to a running binproto server (`serve --token`);
	// other targets ignore it.
	token string
	// schema, when set, is the protocol of `bench --schema`.
	schema *schemafile.Schema
	// observe makes a binproto target report to the Prometheus adapter
	// (`bench --metrics-adapter`); other targets ignore it.
	observe bool
}

// defaultWiring returns binproto measured against the HTTP/JSON baseline
// (or the grpc-go one), and the binproto benchmark server.
func defaultWiring() wiring {
	return wiring{
		candidates: []namedTarget{{binprototarget.Name, func(ep endpoint) bench.Target {
			return binprototarget.New(binprototarget.Config{Addr: ep.addr, Token: ep.token, Schema: ep.schema, Observe: ep.observe})
		}}, {binprototarget.NativeName, func(ep endpoint) bench.Target {
			return binprototarget.New(binprototarget.Config{Name: binprototarget.NativeName, Addr: ep.addr, Token: ep.token,
				Schema: ep.schema, Observe: ep.observe, Client: binproto.ClientOptions{Profile: binproto.ProfileNative}})
		}}},
		baselines: []namedTarget{{httpjson.DefaultName, func(ep endpoint) bench.Target {
			return httpjson.New(httpjson.Config{Addr: ep.addr, Schema: ep.schema})
		}}, {grpctarget.Name, func(ep endpoint) bench.Target {
			return grpctarget.New(grpctarget.Config{Addr: ep.addr})
		}}},
		serve:  binprototarget.Serve,
		attack: attack.Run,
		checks: report.CheckTargets{Native: binprototarget.NativeName, Compat: binprototarget.Name, Peer: grpctarget.Name},
	}
}

// find returns the target named name in ts.
func find(ts []namedTarget, name string) (namedTarget, bool) {
	for _, t := range ts {
		if t.name == name {
			return t, true
		}
	}
	return namedTarget{}, false
}

// names returns the names of ts, in order.
func names(ts []namedTarget) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.name
	}
	return out
}
