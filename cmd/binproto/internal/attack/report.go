package attack

import (
	"cmp"
	"encoding/json"
	"fmt"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
)

// Report is the outcome of Run.
type Report struct {
	Addr                string    `json:"addr,omitempty"`
	UDPAddr             string    `json:"udp_addr,omitempty"`
	Source              string    `json:"source,omitempty"`
	PID                 int32     `json:"pid,omitempty"`
	Started             time.Time `json:"started"`
	DurationS           float64   `json:"duration_s"` // per attack
	BystanderIntervalMs float64   `json:"bystander_interval_ms"`
	BystanderAuth       bool      `json:"bystander_auth"`
	AttackAuth          bool      `json:"attack_auth"`
	// Baseline is what the bystander saw alone, before the attacks.
	Baseline *Bystander `json:"baseline,omitempty"`
	Results  []Result   `json:"results"`
}

// Result is one attack's outcome.
type Result struct {
	Attack    string  `json:"attack"`
	DurationS float64 `json:"duration_s"`
	// Unit says what Attempts counts (wrong tokens, connections, bytes...).
	Unit       string  `json:"unit"`
	Attempts   uint64  `json:"attempts"`
	RatePerSec float64 `json:"rate_per_s"`
	// Successes counts what the attack got through: wrong tokens accepted
	// (token-bruteforce: must be 0) or replies (udp-flood).
	Successes   uint64 `json:"successes"`
	SuccessUnit string `json:"success_unit,omitempty"`
	// Conns is the attack's connection count (0: not connection-bound).
	Conns       int     `json:"conns"`
	Dials       uint64  `json:"dials"`
	DialsPerSec float64 `json:"dials_per_s"`
	DialErrors  uint64  `json:"dial_errors"`
	// ClosedByServer counts connections the server closed during the
	// attack.
	ClosedByServer uint64    `json:"closed_by_server"`
	PeakOpen       int64     `json:"peak_open"`
	BytesSent      uint64    `json:"bytes_sent"`
	Bystander      Bystander `json:"bystander"`
	RSS            *RSS      `json:"rss,omitempty"`
	// Server is what the server counted during the attack, when
	// Config.Metrics or Config.Stats says where to read it.
	Server *Server `json:"server,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// WriteTable writes the console table of rep.
func WriteTable(w io.Writer, rep *Report) {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.Style().Format.Header = text.FormatDefault
	t.AppendHeader(table.Row{"attack", "rate", "unit", "attempts", "conns/s", "peak open", "closed by server",
		"bystander p50", "p99", "max", "errors", "RSS before→peak MB", "server closes (rejected)"})
	right := []table.ColumnConfig{}
	for _, n := range []int{2, 4, 5, 6, 7, 8, 9, 10, 11} {
		right = append(right, table.ColumnConfig{Number: n, Align: text.AlignRight})
	}
	t.SetColumnConfigs(right)
	for _, r := range rep.Results {
		unit := r.Unit + "/s"
		if r.SuccessUnit != "" {
			unit += fmt.Sprintf(" (%d %s)", r.Successes, r.SuccessUnit)
		}
		rss := "–"
		if r.RSS != nil {
			rss = fmt.Sprintf("%.0f→%.0f", r.RSS.BeforeMB, r.RSS.PeakMB)
		}
		b := r.Bystander
		t.AppendRow(table.Row{r.Attack, report.FormatRate(r.RatePerSec), unit, r.Attempts, report.FormatRate(r.DialsPerSec), r.PeakOpen,
			r.ClosedByServer, formatMs(b.P50Ms), formatMs(b.P99Ms), formatMs(b.MaxMs), fmt.Sprintf("%d/%d", b.Errors, b.Requests), rss, r.Server.summary()})
	}
	t.Render()
	if b := rep.Baseline; b != nil {
		fmt.Fprintf(w, "bystander alone: p50 %s, p99 %s, max %s, %d/%d errors\n", formatMs(b.P50Ms), formatMs(b.P99Ms), formatMs(b.MaxMs), b.Errors, b.Requests)
	}
	for _, r := range rep.Results {
		if r.Bystander.LastError != "" {
			fmt.Fprintf(w, "%s: bystander's last error: %s\n", r.Attack, r.Bystander.LastError)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Attack, r.Error)
		}
		if r.Server != nil && r.Server.Error != "" {
			fmt.Fprintf(w, "%s: server counters: %s\n", r.Attack, r.Server.Error)
		}
		if r.RSS != nil && r.RSS.Error != "" {
			fmt.Fprintf(w, "%s: RSS: %s\n", r.Attack, r.RSS.Error)
		}
	}
}

// WriteJSON writes rep to the file path.
func WriteJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// summary renders the server's closes, most frequent first, and its
// refused connections: "protocol 812, peer 3 (rejected 0)"; "–" for none.
func (s *Server) summary() string {
	if s == nil || s.Error != "" {
		return "–"
	}
	reasons := slices.Collect(maps.Keys(s.Closes))
	slices.SortFunc(reasons, func(a, b string) int {
		if c := cmp.Compare(s.Closes[b], s.Closes[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s %d", r, s.Closes[r])
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	return fmt.Sprintf("%s (rejected %d)", strings.Join(parts, ", "), s.Rejected)
}

// formatMs renders milliseconds.
func formatMs(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
