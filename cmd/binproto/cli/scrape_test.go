package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	binprom "github.com/binproto/binproto/observe/prometheus"
)

// TestServeMetricsAndBenchScrape: `serve --metrics` exposes /metrics, and
// `bench --scrape` reports the server's figures of the run beside its own,
// here with the Prometheus adapter on the bench clients too.
func TestServeMetricsAndBenchScrape(t *testing.T) {
	t.Parallel()
	addr, stop, serveOut := startServe(t, "--metrics", "127.0.0.1:0")
	m := regexp.MustCompile(`msg="serving metrics" url=(http://127\.0\.0\.1:[0-9]+/metrics)`).FindStringSubmatch(serveOut.String())
	if m == nil {
		t.Fatalf("serve --metrics logged no metrics URL:\n%s", serveOut)
	}
	url := m[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before, err := binprom.Scrape(ctx, nil, url)
	if err != nil {
		t.Fatal(err)
	}
	if before.Sum("go_goroutines") == 0 {
		t.Errorf("no Go runtime metrics on %s", url)
	}

	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBench(t, out, "--fixed", "--addr", addr, "--baseline", "none", "--plots=false", "--scrape", url, "--metrics-adapter")
	if !strings.Contains(stdout, "Server-side figures of the run, from "+url) {
		t.Fatalf("no server-side figures in the output:\n%s", stdout)
	}
	after, err := binprom.Scrape(ctx, nil, url)
	if err != nil {
		t.Fatal(err)
	}
	// The run's sensor round trips, as the server counted them, are what
	// bench reported (nothing else talked to this server).
	d := after.Sub(before)
	n := d.Sum("binproto_messages_total", "side", "server", "type", "sensor", "outcome", "ok")
	if n == 0 {
		t.Fatalf("the server counted no sensor messages:\n%s", stdout)
	}
	want := regexp.MustCompile(`(?m)^\s*sensor\s+ok\s+` + fmt.Sprintf("%.0f", n) + `\s`)
	if !want.MatchString(stdout) {
		t.Errorf("bench did not report the server's %v sensor messages:\n%s", n, stdout)
	}
	found := false
	for _, note := range res.Notes {
		found = found || strings.HasPrefix(note, "server sensor ok ")
	}
	if !found {
		t.Errorf("results.json notes carry no server figures: %q", res.Notes)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exit code %d\n%s", code, serveOut)
	}
}
