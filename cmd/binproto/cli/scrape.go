package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
	binprom "github.com/binproto/binproto/observe/prometheus"
)

// addScrapeFlags adds bench's observability flags to cmd.
func addScrapeFlags(cmd *cobra.Command, bf *benchFlags) {
	f := cmd.Flags()
	f.BoolVar(&bf.metricsAdapter, "metrics-adapter", false, "observe the binproto clients (and embedded server) with the Prometheus adapter, to measure its cost (compare with a run without, e.g. via --compare)")
	f.StringVar(&bf.scrape, "scrape", "", "scrape the server's Prometheus `URL` (`binproto serve --metrics`) before and after the run and report the server-side figures beside the client's")
}

// scrapeTimeout bounds each scrape.
const scrapeTimeout = 10 * time.Second

// serverScrape is the server's /metrics scraped before a run; a nil
// *serverScrape does nothing.
type serverScrape struct {
	url    string
	before binprom.Samples
}

// startScrape scrapes url before the run; nil for an empty url.
func startScrape(ctx context.Context, url string) (*serverScrape, error) {
	if url == "" {
		return nil, nil
	}
	s, err := scrapeOnce(ctx, url)
	if err != nil {
		return nil, usagef("--scrape: %v", err)
	}
	return &serverScrape{url: url, before: s}, nil
}

func scrapeOnce(ctx context.Context, url string) (binprom.Samples, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	return binprom.Scrape(ctx, nil, url)
}

// finish scrapes again after the run, prints the server-side figures of
// the run (the increase of every counter) and adds them to res's notes.
func (s *serverScrape) finish(ctx context.Context, w io.Writer, res *report.Results) error {
	if s == nil {
		return nil
	}
	after, err := scrapeOnce(ctx, s.url)
	if err != nil {
		return fmt.Errorf("--scrape after the run: %w", err)
	}
	lines := serverFigures(after.Sub(s.before))
	fmt.Fprintf(w, "\nServer-side figures of the run, from %s:\n", s.url)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(l, "\t")+"\t")
	}
	tw.Flush()
	for _, l := range lines[1:] {
		res.Notes = append(res.Notes, "server "+strings.Join(l, " "))
	}
	return nil
}

// serverFigures returns a table (header first) of the server's messages by
// type and outcome, with bytes and handler latency per type, and a last
// row of its connections, from the increase d of its metrics.
func serverFigures(d binprom.Samples) [][]string {
	const msgs, dur = "binproto_messages_total", "binproto_message_duration_seconds"
	rows := [][]string{{"type", "outcome", "messages", "bytes in", "bytes out", "mean", "p50", "p99"}}
	for _, t := range positiveKeys(d.By("type", msgs, "side", "server")) {
		outcomes := d.By("outcome", msgs, "side", "server", "type", t)
		for i, o := range positiveKeys(outcomes) {
			row := []string{t, o, fmt.Sprintf("%.0f", outcomes[o]), "", "", "", "", ""}
			if i == 0 {
				m := []string{"side", "server", "type", t}
				count := d.Sum(dur+"_count", m...)
				row[3] = report.FormatBytes(int(d.Sum("binproto_received_bytes_total", m...)))
				row[4] = report.FormatBytes(int(d.Sum("binproto_sent_bytes_total", m...)))
				if count > 0 {
					row[5] = seconds(d.Sum(dur+"_sum", m...) / count)
					row[6] = seconds(d.Quantile(0.5, dur, m...))
					row[7] = seconds(d.Quantile(0.99, dur, m...))
				}
			}
			rows = append(rows, row)
		}
	}
	conns := fmt.Sprintf("opened %.0f, closed %.0f, rejected %.0f, rate-limited messages %.0f",
		d.Sum("binproto_connections_opened_total", "side", "server"), d.Sum("binproto_connections_closed_total", "side", "server"),
		d.Sum("binproto_connections_rejected_total", "side", "server"), d.Sum("binproto_rate_limited_total", "side", "server"))
	return append(rows, []string{"connections", conns, "", "", "", "", "", ""})
}

// seconds formats a latency in seconds ("–" when unknown).
func seconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return "–"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond / 10).String()
}

// positiveKeys returns the keys of m whose values are above zero, sorted.
func positiveKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k, n := range m {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
