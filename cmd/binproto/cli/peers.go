package cli

import (
	"slices"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// selectable builds the target --targets names: a candidate, which gets
// --addr and --token, or a baseline other than --baseline, measured like a
// candidate against an embedded server.
func (bf *benchFlags) selectable(name string) (bench.Target, bool) {
	if c, ok := find(bf.candidates, name); ok {
		return c.build(endpoint{addr: bf.addr, token: bf.token, schema: bf.schema, observe: bf.metricsAdapter}), true
	}
	if b, ok := find(bf.baselines, name); ok {
		return b.build(endpoint{schema: bf.schema}), true
	}
	return nil, false
}

// sharedPeers returns the baselines other than --baseline that can share
// one connection, when a shared-connection benchmark is selected: the peers
// those benchmarks compare with. They are named in o.SharedOnly, so they
// run the shared-connection benchmarks only.
func (bf *benchFlags) sharedPeers(o *bench.Options) []bench.Target {
	if !slices.ContainsFunc(o.Kinds, report.IsShared) {
		return nil
	}
	var peers []bench.Target
	for _, b := range bf.baselines {
		if b.name == bf.baselineName() {
			continue
		}
		if t := b.build(endpoint{}); canShare(t) {
			peers = append(peers, t)
			o.SharedOnly = append(o.SharedOnly, b.name)
		}
	}
	return peers
}

// runsAny reports whether t runs any benchmark of kinds: every target runs
// the others, only those that can share one connection run the
// shared-connection ones.
func runsAny(t bench.Target, kinds []string) bool {
	return canShare(t) || slices.ContainsFunc(kinds, func(k string) bool { return !report.IsShared(k) })
}

func canShare(t bench.Target) bool {
	_, ok := t.(bench.SharedDialer)
	return ok
}
