package report

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// round builds a plausible round result scaled by f.
func round(n int, f float64, timed bool) RoundResult {
	rr := RoundResult{
		Round: n, DurationSeconds: 1, Sent: uint64(1000 * f), Messages: uint64(1000 * f),
		MsgsPerSec: 1000 * f, MBPerSec: 0.016 * f, WireBytesPerMsg: 300 / f, AllocsPerMsg: 50 / f,
		CPUPercent: 90, RSSMaxBytes: 30e6, GC: GCStats{Count: 3, PauseTotalMs: 1, PauseMaxMs: 0.5},
	}
	if timed {
		rr.Latency = Latency{Count: int64(rr.Messages), MeanUs: 120 / f, P50Us: 100 / f, P90Us: 150 / f, P99Us: 300 / f, P999Us: 900 / f, MaxUs: 2000 / f}
	}
	return rr
}

func targetResult(name string, f float64, timed bool, realistic bool) TargetResult {
	rounds := []RoundResult{round(1, f, timed), round(2, f*1.05, timed)}
	if realistic {
		for i := range rounds {
			rounds[i].ClientMsgsPerSec = []float64{8 * f, 10 * f, 12 * f}
			rounds[i].Fairness = Fairness{MinMsgsPerSec: 8 * f, MedianMsgsPerSec: 10 * f, MaxMsgsPerSec: 12 * f, Jain: 0.97}
			rounds[i].OfferedPerSec = 40 * f
		}
	}
	s := func(a, b float64) Stat {
		return Stat{N: 2, Median: (a + b) / 2, Min: min(a, b), Max: max(a, b), Mean: (a + b) / 2}
	}
	r0, r1 := rounds[0], rounds[1]
	return TargetResult{Target: name, Rounds: rounds, Summary: Summary{
		MsgsPerSec: s(r0.MsgsPerSec, r1.MsgsPerSec), MBPerSec: s(r0.MBPerSec, r1.MBPerSec),
		P50Us: s(r0.Latency.P50Us, r1.Latency.P50Us), P90Us: s(r0.Latency.P90Us, r1.Latency.P90Us),
		P99Us: s(r0.Latency.P99Us, r1.Latency.P99Us), P999Us: s(r0.Latency.P999Us, r1.Latency.P999Us),
		MaxUs: s(r0.Latency.MaxUs, r1.Latency.MaxUs), Errors: s(0, 0),
		WireBytesPerMsg: s(r0.WireBytesPerMsg, r1.WireBytesPerMsg), AllocsPerMsg: s(r0.AllocsPerMsg, r1.AllocsPerMsg),
		CPUPercent: s(90, 90), RSSMaxMB: s(30, 30), GCPauseTotalMs: s(1, 1), Jain: s(r0.Fairness.Jain, r1.Fairness.Jain),
	}}
}

// sampleResults is a complete run of two targets, "fast" being 4× the
// baseline "http"; scale multiplies every throughput.
func sampleResults(scale float64) *Results {
	r := &Results{
		SchemaVersion: SchemaVersion, Tool: "test", StartedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), WallSeconds: 30,
		Environment: Environment{GoVersion: "go1.26", GOOS: "linux", GOARCH: "amd64", NumCPU: 2, GOMAXPROCS: 2},
		Config: Config{Kinds: []string{KindFixed, KindVariable, KindRealistic}, DurationSeconds: 1, Rounds: 2, Clients: 3,
			Sizes: []int{16, 4096}, RampSeconds: 0.1, ThinkSeconds: 0.02, OneWayFraction: 0.3, RealisticMinSize: 16,
			RealisticMaxSize: 4096, BatchSize: 64, Seed: 1, Baseline: "http"},
		Targets: []TargetInfo{{Name: "fast", Addr: "127.0.0.1:1", Embedded: true}, {Name: "http", Baseline: true, Addr: "127.0.0.1:2", Embedded: true}},
		Notes:   []string{"a note"},
	}
	add := func(id, kind, mode string, size, clients int) {
		timed, real := mode != ModeStream, kind == KindRealistic
		r.Benchmarks = append(r.Benchmarks, Benchmark{ID: id, Kind: kind, Mode: mode, PayloadBytes: size, Clients: clients,
			Results: []TargetResult{targetResult("fast", 4*scale, timed, real), targetResult("http", scale, timed, real)}})
	}
	add("fixed/sensor-rr", KindFixed, ModeRequestResponse, 16, 1)
	add("fixed/sensor-stream", KindFixed, ModeStream, 16, 1)
	for _, size := range []int{16, 4096} {
		add("variable/echo-rr/"+itoa(size), KindVariable, ModeRequestResponse, size, 1)
		add("variable/stream/"+itoa(size), KindVariable, ModeStream, size, 1)
	}
	add("realistic/mixed", KindRealistic, ModeMixed, 0, 3)
	for i := range 20 {
		target := []string{"fast", "http", ""}[i%3]
		r.Resources = append(r.Resources, Sample{T: float64(i) * 0.2, CPUPercent: float64(50 + i), RSSBytes: uint64(20e6 + i*1e5), Label: "x", Target: target})
	}
	ComputeRatios(r)
	return r
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// roundTrip marshals r, decodes it back, checks that nothing changed and
// returns the JSON.
func roundTrip(t *testing.T, r *Results) []byte {
	t.Helper()
	data, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatal("results changed in a JSON round trip")
	}
	return data
}

func TestSampleValidatesAndRoundTrips(t *testing.T) {
	data := roundTrip(t, sampleResults(1))
	if !bytes.Contains(data, []byte(`"schema_version": 1`)) {
		t.Fatal("schema_version missing from the JSON")
	}
}

func TestValidateRejectsBrokenResults(t *testing.T) {
	cases := map[string]func(r *Results){
		"version":          func(r *Results) { r.SchemaVersion = 2 },
		"no tool":          func(r *Results) { r.Tool = "" },
		"no targets":       func(r *Results) { r.Targets = nil },
		"two baselines":    func(r *Results) { r.Targets[0].Baseline = true },
		"baseline name":    func(r *Results) { r.Config.Baseline = "other" },
		"unknown kind":     func(r *Results) { r.Benchmarks[0].Kind = "weird" },
		"unknown mode":     func(r *Results) { r.Benchmarks[0].Mode = "weird" },
		"duplicate id":     func(r *Results) { r.Benchmarks[1].ID = r.Benchmarks[0].ID },
		"unknown target":   func(r *Results) { r.Benchmarks[0].Results[0].Target = "ghost" },
		"missing round":    func(r *Results) { r.Benchmarks[0].Results[0].Rounds = r.Benchmarks[0].Results[0].Rounds[:1] },
		"round numbering":  func(r *Results) { r.Benchmarks[0].Results[0].Rounds[1].Round = 5 },
		"negative rate":    func(r *Results) { r.Benchmarks[0].Results[0].Rounds[0].MsgsPerSec = -1 },
		"unordered p99":    func(r *Results) { r.Benchmarks[0].Results[0].Rounds[0].Latency.P99Us = 1e9 },
		"more than sent":   func(r *Results) { r.Benchmarks[0].Results[0].Rounds[0].Messages = 1e9 },
		"jain above 1":     func(r *Results) { r.Benchmarks[6].Results[0].Rounds[0].Fairness.Jain = 1.5 },
		"ratio reference":  func(r *Results) { r.Ratios[0].Benchmark = "nope" },
		"samples order":    func(r *Results) { r.Resources[3].T = 0 },
		"zero rounds":      func(r *Results) { r.Config.Rounds = 0 },
		"summary rounds":   func(r *Results) { r.Benchmarks[0].Results[0].Summary.MsgsPerSec.N = 1 },
		"zero duration":    func(r *Results) { r.Benchmarks[0].Results[0].Rounds[0].DurationSeconds = 0 },
		"no results":       func(r *Results) { r.Benchmarks[0].Results = nil },
		"zero clients":     func(r *Results) { r.Benchmarks[0].Clients = 0 },
		"unknown cfg kind": func(r *Results) { r.Config.Kinds = []string{"x"} },
	}
	for name, mutate := range cases {
		r := sampleResults(1)
		mutate(r)
		if err := Validate(r); err == nil {
			t.Errorf("%s: Validate accepted broken results", name)
		}
		if _, err := r.Marshal(); err == nil {
			t.Errorf("%s: Marshal wrote broken results", name)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := sampleResults(1).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	unknown := bytes.Replace(good, []byte(`"tool":`), []byte(`"surprise": 1, "tool":`), 1)
	v2 := bytes.Replace(good, []byte(`"schema_version": 1`), []byte(`"schema_version": 2`), 1)
	cases := map[string][]byte{
		"not JSON":       []byte("nope"),
		"no version":     []byte(`{"tool": "x"}`),
		"unknown field":  unknown,
		"future version": v2,
	}
	for name, data := range cases {
		if _, err := Decode(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Decode(v2); err == nil || !strings.Contains(err.Error(), "schema_version 2") {
		t.Errorf("version error does not say so: %v", err)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path + ".missing"); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestComputeRatios(t *testing.T) {
	r := sampleResults(1)
	if len(r.Ratios) != len(r.Benchmarks) {
		t.Fatalf("%d ratios for %d benchmarks", len(r.Ratios), len(r.Benchmarks))
	}
	for _, q := range r.Ratios {
		if q.Target != "fast" || q.Baseline != "http" {
			t.Fatalf("ratio %+v", q)
		}
		if q.Throughput < 3.99 || q.Throughput > 4.01 || q.WireBytes < 0.249 || q.WireBytes > 0.251 {
			t.Errorf("%s: ratio %+v, want throughput 4 and wire 0.25", q.Benchmark, q)
		}
		stream := strings.Contains(q.Benchmark, "stream")
		if stream != (q.P99 == 0) || (!stream && (q.P99 < 0.249 || q.P99 > 0.251)) {
			t.Errorf("%s: p99 ratio %v", q.Benchmark, q.P99)
		}
	}
	r.Config.Baseline, r.Targets[1].Baseline = "", false
	if ComputeRatios(r); len(r.Ratios) != 0 {
		t.Fatal("ratios without a baseline")
	}
}

func TestCompareFlagsPlantedRegression(t *testing.T) {
	cur := sampleResults(1)
	prev := sampleResults(2) // twice the throughput, half the latency
	prev.Benchmarks = append(prev.Benchmarks, Benchmark{ID: "fixed/gone", Kind: KindFixed, Mode: ModeStream, Clients: 1,
		Results: prev.Benchmarks[1].Results})
	c := Compare(prev, cur, "prev.json", DefaultThresholdPct)
	if c.Regressions == 0 {
		t.Fatal("no regression flagged")
	}
	var tput, p99 int
	for _, ch := range c.Changes {
		if !ch.Regression {
			t.Errorf("change %+v not flagged", ch)
		}
		switch ch.Metric {
		case MetricThroughput:
			tput++
			if ch.ChangePct > -45 || ch.ChangePct < -55 {
				t.Errorf("throughput change %v%%, want about -50%%", ch.ChangePct)
			}
		case MetricP99:
			p99++
			if ch.ChangePct < 95 || ch.ChangePct > 105 {
				t.Errorf("p99 change %v%%, want about +100%%", ch.ChangePct)
			}
		}
	}
	if tput != 2*len(cur.Benchmarks) || p99 != 2*4 { // 4 timed benchmarks, 2 targets
		t.Errorf("%d throughput and %d p99 changes", tput, p99)
	}
	if c.Regressions != tput+p99 {
		t.Errorf("regressions %d, flagged %d", c.Regressions, tput+p99)
	}
	if len(c.Unmatched) != 2 || !strings.Contains(strings.Join(c.Unmatched, ","), "fixed/gone") {
		t.Errorf("unmatched %v", c.Unmatched)
	}

	better := Compare(cur, prev, "x", DefaultThresholdPct)
	same := Compare(cur, sampleResults(1), "x", DefaultThresholdPct)
	slight := Compare(sampleResults(1.05), cur, "x", DefaultThresholdPct) // 5% slower: within threshold
	for name, c := range map[string]*Comparison{"better": better, "same": same, "slightly slower": slight} {
		if c.Regressions != 0 {
			t.Errorf("%s: %d regressions flagged", name, c.Regressions)
		}
	}
}

func TestWriteFilesWithoutPlots(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteFiles(dir, sampleResults(1), false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(files, []string{ResultsFile, ReportFile}) {
		t.Fatalf("files %v", files)
	}
	md, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if strings.Contains(string(md), "![") {
		t.Fatal("report.md links plots that were not written")
	}
}

func TestWriteFilesPlotsAndReport(t *testing.T) {
	dir := t.TempDir()
	r := sampleResults(1)
	r.Comparison = Compare(sampleResults(2), r, "prev.json", DefaultThresholdPct)
	files, err := WriteFiles(dir, r, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ResultsFile, PlotThroughput, PlotLatency, PlotScalingMsg, PlotScalingMB, PlotClients, PlotCPU, PlotRSS, ReportFile}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".png") {
			checkPNG(t, filepath.Join(dir, f))
		}
	}
	if _, err := Load(filepath.Join(dir, ResultsFile)); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(string(md), -1)
	if len(links) != 7 {
		t.Fatalf("report embeds %d images, want 7", len(links))
	}
	for _, l := range links {
		if filepath.IsAbs(l[1]) {
			t.Errorf("image link %s is not relative", l[1])
		}
		if _, err := os.Stat(filepath.Join(dir, l[1])); err != nil {
			t.Errorf("image link %s: %v", l[1], err)
		}
	}
	for _, s := range []string{"4.00×", "**REGRESSION**", "regression(s) flagged", "fast / http", "## Notes", "a note"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
}

func TestWritePlotsSkipsEmptyPlots(t *testing.T) {
	r := sampleResults(1)
	r.Benchmarks = r.Benchmarks[:2] // fixed only
	r.Resources = nil
	ComputeRatios(r)
	files, err := WritePlots(t.TempDir(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(files, []string{PlotThroughput, PlotLatency}) {
		t.Fatalf("plots %v", files)
	}
}

// checkPNG decodes a PNG and checks it shows something: several colours
// and a reasonable share of non-white pixels.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	colours, ink := inkAndColours(img)
	total := img.Bounds().Dx() * img.Bounds().Dy()
	if colours < 3 || ink < total/200 {
		t.Fatalf("%s looks blank: %d colours, %d of %d pixels not white", path, colours, ink, total)
	}
}

func inkAndColours(img image.Image) (colours, ink int) {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	count := func(r, g, bl, a uint32) {
		seen[[4]uint32{r, g, bl, a}] = true
		if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
			ink++
		}
	}
	if rgba, ok := img.(*image.RGBA); ok { // the usual case: scan the pixels directly
		for i := 0; i+3 < len(rgba.Pix); i += 4 {
			p := rgba.Pix[i : i+4]
			count(uint32(p[0])*0x101, uint32(p[1])*0x101, uint32(p[2])*0x101, uint32(p[3])*0x101)
		}
		return len(seen), ink
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			count(img.At(x, y).RGBA())
		}
	}
	return len(seen), ink
}

func TestWriteConsole(t *testing.T) {
	r := sampleResults(1)
	r.Comparison = Compare(sampleResults(2), r, "prev.json", DefaultThresholdPct)
	var b strings.Builder
	WriteConsole(&b, r)
	out := b.String()
	for _, s := range []string{"fixed/sensor-rr", "realistic/mixed", "4.00×", "REGRESSION", "Resources", "JAIN", "Change since prev.json"} {
		if !strings.Contains(out, s) {
			t.Errorf("console output lacks %q", s)
		}
	}
}

func TestFormatters(t *testing.T) {
	cases := []struct{ got, want string }{
		{FormatMicros(12.34), "12.3µs"},
		{FormatMicros(1500), "1.50ms"},
		{FormatMicros(2.5e6), "2.50s"},
		{FormatRate(950), "950"},
		{FormatRate(12345), "12.3k"},
		{FormatRate(2.5e6), "2.50M"},
		{FormatBytes(16), "16B"},
		{FormatBytes(4096), "4KiB"},
		{FormatBytes(1 << 20), "1MiB"},
		{FormatBytes(1000), "1000B"},
		{FormatRatio(2.345), "2.35×"},
		{FormatRatio(0), "–"},
		{FormatSpread(Stat{N: 1, Median: 5}, FormatRate), "5"},
		{FormatSpread(Stat{N: 3, Median: 5, Min: 4, Max: 6}, FormatRate), "5 (4–6)"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q, want %q", i, c.got, c.want)
		}
	}
}

func TestBlankImageDetected(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 50, 50))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	if colours, ink := inkAndColours(img); colours != 1 || ink != 0 {
		t.Fatalf("white image: %d colours, %d ink", colours, ink)
	}
}
