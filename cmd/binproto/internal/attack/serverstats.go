package attack

import (
	"context"
	"fmt"
	"time"

	binprom "github.com/binproto/binproto/observe/prometheus"
)

// Server is what the server itself counted during an attack: its
// connection closes by reason (binproto.Stats.Closes) and the connections
// it refused at accept (Stats.ConnectionsRejected). It is reported when
// Config.Stats or Config.Metrics says where to read them.
type Server struct {
	// Closes counts the connections closed during the attack, by reason
	// ("protocol", "rate_limit", "config_mismatch", ...); reasons that did
	// not occur are left out.
	Closes map[string]uint64 `json:"closes"`
	// Rejected counts the connections refused at accept (over
	// MaxConnections, MaxConnsPerIP or IPConnRate, or throttled).
	Rejected uint64 `json:"rejected"`
	// Error is set when the counters could not be read after the attack.
	Error string `json:"error,omitempty"`
}

// serverCounters is a reading of the server's counters.
type serverCounters struct {
	closes   map[string]uint64
	rejected uint64
}

// scrapeTimeout bounds one read of the server's metrics.
const scrapeTimeout = 5 * time.Second

// readServer reads the server's counters from cfg.Stats or, without it,
// from cfg.Metrics; ok is false when neither is set.
func readServer(ctx context.Context, cfg Config) (c serverCounters, ok bool, err error) {
	switch {
	case cfg.Stats != nil:
		st := cfg.Stats()
		c = serverCounters{closes: make(map[string]uint64, len(st.Closes)), rejected: st.ConnectionsRejected}
		for r, n := range st.Closes {
			c.closes[string(r)] = n
		}
		return c, true, nil
	case cfg.Metrics != "":
		ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
		defer cancel()
		ss, err := binprom.Scrape(ctx, nil, cfg.Metrics)
		if err != nil {
			return c, true, fmt.Errorf("server metrics: %w", err)
		}
		c = serverCounters{closes: make(map[string]uint64), rejected: uint64(ss.Sum("binproto_connections_rejected_total", "side", "server"))}
		for r, n := range ss.By("reason", "binproto_connections_closed_total", "side", "server") {
			c.closes[r] = uint64(n)
		}
		return c, true, nil
	}
	return c, false, nil
}

// since returns what the server counted from before to c.
func (c serverCounters) since(before serverCounters) *Server {
	s := &Server{Closes: make(map[string]uint64), Rejected: c.rejected - min(before.rejected, c.rejected)}
	for r, n := range c.closes {
		if d := n - min(before.closes[r], n); d > 0 {
			s.Closes[r] = d
		}
	}
	return s
}

// serverSince reads the server's counters after an attack and returns
// what they counted since before (read with error berr).
func serverSince(ctx context.Context, cfg Config, before serverCounters, berr error) *Server {
	after, _, err := readServer(ctx, cfg)
	if err == nil {
		err = berr
	}
	if err != nil {
		return &Server{Error: err.Error()}
	}
	return after.since(before)
}
