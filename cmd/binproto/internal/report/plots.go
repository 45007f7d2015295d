package report

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot file names written by WritePlots (when they have data).
const (
	PlotThroughput = "throughput.png"
	PlotLatency    = "latency.png"
	PlotScalingMsg = "scaling_msgs.png"
	PlotScalingMB  = "scaling_mbps.png"
	PlotClients    = "realistic_clients.png"
	PlotCPU        = "cpu.png"
	PlotRSS        = "rss.png"
)

const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 4.5 * vg.Inch
)

// WritePlots draws every plot that has data into dir and returns the file
// names written, in report order.
func WritePlots(dir string, r *Results) ([]string, error) {
	makers := []struct {
		name string
		make func(*Results) (*plot.Plot, error)
	}{
		{PlotThroughput, throughputPlot},
		{PlotLatency, latencyPlot},
		{PlotScalingMsg, func(r *Results) (*plot.Plot, error) { return scalingPlot(r, false) }},
		{PlotScalingMB, func(r *Results) (*plot.Plot, error) { return scalingPlot(r, true) }},
		{PlotClients, clientsPlot},
		{PlotCapacity, capacityPlot},
		{PlotCPU, func(r *Results) (*plot.Plot, error) { return resourcePlot(r, false) }},
		{PlotRSS, func(r *Results) (*plot.Plot, error) { return resourcePlot(r, true) }},
	}
	var files []string
	for _, m := range makers {
		p, err := m.make(r)
		if err != nil {
			return files, fmt.Errorf("plot %s: %w", m.name, err)
		}
		if p == nil {
			continue
		}
		if err := p.Save(plotWidth, plotHeight, filepath.Join(dir, m.name)); err != nil {
			return files, fmt.Errorf("save %s: %w", m.name, err)
		}
		files = append(files, m.name)
	}
	return files, nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// targetColor gives each target a stable colour.
func targetColor(r *Results, target string) color.Color {
	return plotutil.Color(max(0, slices.Index(r.TargetNames(), target)))
}

func useLogY(p *plot.Plot) {
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
}

// legendRoom raises the top of the Y axis so that a legend of n entries
// in the top corner does not cover the data. Call it after adding data.
func legendRoom(p *plot.Plot, n int, logScale bool) {
	f := min(0.5, 0.07*float64(n)+0.04)
	lo, hi := p.Y.Min, p.Y.Max
	if logScale {
		if lo <= 0 || hi <= lo {
			return
		}
		p.Y.Max = math.Exp(math.Log(lo) + (math.Log(hi)-math.Log(lo))/(1-f))
		return
	}
	if hi > lo {
		p.Y.Max = lo + (hi-lo)/(1-f)
	}
}

// positive keeps values on a log axis.
func positive(v float64) float64 { return max(v, 1e-3) }

// headline returns the benchmarks shown in the bar and latency charts: the
// fixed and realistic ones, or every benchmark when only variable or
// shared-connection ones ran (those have tables of their own).
func headline(r *Results) []Benchmark {
	var bs []Benchmark
	for _, b := range r.Benchmarks {
		if b.Kind != KindVariable && !IsShared(b.Kind) {
			bs = append(bs, b)
		}
	}
	if len(bs) == 0 {
		return r.Benchmarks
	}
	return bs
}

// throughputPlot is a grouped bar chart of median msgs/s per benchmark, one
// bar per target.
func throughputPlot(r *Results) (*plot.Plot, error) {
	bs := headline(r)
	if len(bs) == 0 {
		return nil, nil
	}
	// Streams run orders of magnitude faster than request/response, so the
	// bars show log10(msgs/s) over decade ticks: every bar stays readable.
	p := newPlot("Throughput per benchmark (median over rounds, log scale)", "", "messages / s")
	names := r.TargetNames()
	width := vg.Points(min(40, 360/float64(len(bs)*len(names))))
	for i, name := range names {
		vals := make(plotter.Values, len(bs))
		for j, b := range bs {
			if tr := b.Result(name); tr != nil {
				vals[j] = math.Log10(max(tr.Summary.MsgsPerSec.Median, 1))
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.Color = targetColor(r, name)
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(float64(i)-float64(len(names)-1)/2)
		p.Add(bars)
		p.Legend.Add(name, bars)
	}
	ids := make([]string, len(bs))
	for j, b := range bs {
		ids[j] = b.ID
	}
	p.NominalX(ids...)
	p.X.Min, p.X.Max = -0.5, float64(len(bs))-0.5
	p.Y.Min = 0
	p.Y.Max = math.Ceil(p.Y.Max)
	p.Y.Tick.Marker = decadeTicks{}
	legendRoom(p, len(names), false)
	return p, nil
}

// decadeTicks labels a log10 axis with the powers of ten it spans.
type decadeTicks struct{}

// Ticks implements plot.Ticker.
func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for k := math.Ceil(lo); k <= hi; k++ {
		ts = append(ts, plot.Tick{Value: k, Label: humanCount(math.Pow(10, k))})
	}
	return ts
}

// humanCount writes 1, 10, 100, 1k, 10k, 100k, 1M...
func humanCount(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

var percentileNames = []string{"p50", "p90", "p99", "p99.9", "max"}

// latencyPlot draws the latency percentiles of every timed headline
// benchmark and target, on a log scale.
func latencyPlot(r *Results) (*plot.Plot, error) {
	p := newPlot("Latency percentiles (median over rounds)", "percentile", "latency (µs, log scale)")
	useLogY(p)
	lines := 0
	for bi, b := range headline(r) {
		for _, tr := range b.Results {
			if !hasLatency(&tr) {
				continue
			}
			s := tr.Summary
			vals := []float64{s.P50Us.Median, s.P90Us.Median, s.P99Us.Median, s.P999Us.Median, s.MaxUs.Median}
			pts := make(plotter.XYs, len(vals))
			for i, v := range vals {
				pts[i] = plotter.XY{X: float64(i), Y: positive(v)}
			}
			if err := addSeries(p, r, pts, tr.Target, bi, b.ID+" "+tr.Target); err != nil {
				return nil, err
			}
			lines++
		}
	}
	if lines == 0 {
		return nil, nil
	}
	p.NominalX(percentileNames...)
	legendRoom(p, lines, true)
	return p, nil
}

// addSeries adds pts to p as a line with points in target's colour, with
// the dash pattern and point shape number style, under label.
func addSeries(p *plot.Plot, r *Results, pts plotter.XYs, target string, style int, label string) error {
	l, sc, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	l.Color, sc.Color = targetColor(r, target), targetColor(r, target)
	l.Dashes = plotutil.Dashes(style)
	sc.Shape = plotutil.Shape(style)
	p.Add(l, sc)
	p.Legend.Add(label, l, sc)
	return nil
}

// scalingPlot draws msgs/s (or MB/s) against payload size for every target
// and mode of the variable benchmark, both axes logarithmic.
func scalingPlot(r *Results, mb bool) (*plot.Plot, error) {
	type key struct{ target, mode string }
	series := map[key]plotter.XYs{}
	var keys []key
	for _, b := range r.Benchmarks {
		if b.Kind != KindVariable {
			continue
		}
		for _, tr := range b.Results {
			k := key{tr.Target, b.Mode}
			if _, ok := series[k]; !ok {
				keys = append(keys, k)
			}
			v := tr.Summary.MsgsPerSec.Median
			if mb {
				v = tr.Summary.MBPerSec.Median
			}
			series[k] = append(series[k], plotter.XY{X: float64(b.PayloadBytes), Y: positive(v)})
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	title, ylabel := "Variable payload: messages per second", "messages / s (log scale)"
	if mb {
		title, ylabel = "Variable payload: payload throughput", "MB/s (log scale)"
	}
	p := newPlot(title, "payload size (bytes, log scale)", ylabel)
	useLogY(p)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	for _, k := range keys {
		pts := series[k]
		slices.SortFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color, sc.Color = targetColor(r, k.target), targetColor(r, k.target)
		if k.mode == ModeStream {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			sc.Shape = draw.TriangleGlyph{}
		}
		p.Add(l, sc)
		p.Legend.Add(k.target+" "+k.mode, l, sc)
	}
	legendRoom(p, len(keys), true)
	return p, nil
}

// clientsPlot draws, per target, every realistic client's throughput
// (pooled over rounds) sorted from slowest to fastest.
func clientsPlot(r *Results) (*plot.Plot, error) {
	p := newPlot("Realistic load: per-client throughput, sorted", "clients (percent, slowest to fastest)", "messages / s per client")
	lines := 0
	for _, b := range r.Benchmarks {
		if b.Kind != KindRealistic {
			continue
		}
		for _, tr := range b.Results {
			var vs []float64
			for _, rr := range tr.Rounds {
				vs = append(vs, rr.ClientMsgsPerSec...)
			}
			if len(vs) == 0 {
				continue
			}
			slices.Sort(vs)
			pts := make(plotter.XYs, len(vs))
			for i, v := range vs {
				pts[i] = plotter.XY{X: 100 * float64(i) / float64(max(1, len(vs)-1)), Y: v}
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, err
			}
			l.Color = targetColor(r, tr.Target)
			l.Width = vg.Points(2)
			p.Add(l)
			p.Legend.Add(tr.Target, l)
			lines++
		}
	}
	if lines == 0 {
		return nil, nil
	}
	p.Y.Min = 0
	legendRoom(p, lines, false)
	return p, nil
}

// resourcePlot draws the process's CPU % (or RSS) over the run: a grey line
// through every sample, with each sample taken during a phase marked in its
// target's colour.
func resourcePlot(r *Results, rss bool) (*plot.Plot, error) {
	if len(r.Resources) < 2 {
		return nil, nil
	}
	title, ylabel := "CPU use of the benchmark process", "CPU % (100 = one core)"
	if rss {
		title, ylabel = "Resident memory of the benchmark process", "RSS (MB)"
	}
	p := newPlot(title, "time since start (s)", ylabel)
	value := func(s Sample) float64 {
		if rss {
			return float64(s.RSSBytes) / 1e6
		}
		return s.CPUPercent
	}
	all := make(plotter.XYs, len(r.Resources))
	byTarget := map[string]plotter.XYs{}
	for i, s := range r.Resources {
		all[i] = plotter.XY{X: s.T, Y: value(s)}
		if s.Target != "" {
			byTarget[s.Target] = append(byTarget[s.Target], all[i])
		}
	}
	l, err := plotter.NewLine(all)
	if err != nil {
		return nil, err
	}
	l.Color = color.Gray{Y: 160}
	p.Add(l)
	for _, name := range r.TargetNames() {
		pts := byTarget[name]
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.Color = targetColor(r, name)
		sc.Shape = draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(name, sc)
	}
	p.Y.Min = 0
	legendRoom(p, len(byTarget), false)
	return p, nil
}
