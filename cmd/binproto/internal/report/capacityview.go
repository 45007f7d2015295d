package report

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"github.com/jedib0t/go-pretty/v6/table"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// PlotCapacity is the file name of the capacity plot: latency percentiles
// against offered load.
const PlotCapacity = "capacity.png"

// capacityPercentiles are the percentiles the capacity plot draws, each
// with its dash pattern.
var capacityPercentiles = []struct {
	name string
	get  func(*Latency) float64
}{
	{"p50", func(l *Latency) float64 { return l.P50Us }},
	{"p99", func(l *Latency) float64 { return l.P99Us }},
}

// capacityPlot draws, per target, the p50 and p99 latency of every step
// against its offered rate (both axes logarithmic) and the SLO as a
// horizontal line: the curve turns up where the target saturates.
func capacityPlot(r *Results) (*plot.Plot, error) {
	c := r.Capacity
	if c == nil {
		return nil, nil
	}
	p := newPlot(fmt.Sprintf("Capacity: latency against offered load (open loop, %d connections)", c.Conns),
		"offered load (calls / s, log scale)", "latency from intended start (µs, log scale)")
	useLogY(p)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = rateTicks{}
	lines := 0
	lo, hi := c.StartPerSec, c.StartPerSec
	for _, cr := range c.Results {
		for pi, pc := range capacityPercentiles {
			var pts plotter.XYs
			for _, s := range cr.Steps {
				if s.Latency.Count > 0 {
					pts = append(pts, plotter.XY{X: s.OfferedPerSec, Y: positive(pc.get(&s.Latency))})
					hi = max(hi, s.OfferedPerSec)
				}
			}
			if len(pts) == 0 {
				continue
			}
			if err := addSeries(p, r, pts, cr.Target, pi, cr.Target+" "+pc.name); err != nil {
				return nil, err
			}
			lines++
		}
	}
	if lines == 0 {
		return nil, nil
	}
	slo, err := plotter.NewLine(plotter.XYs{{X: lo, Y: c.SLOUs}, {X: hi, Y: c.SLOUs}})
	if err != nil {
		return nil, err
	}
	slo.Color = color.Gray{Y: 90}
	slo.Width *= 2
	p.Add(slo)
	p.Legend.Add("SLO p99 "+FormatMicros(c.SLOUs), slo)
	legendRoom(p, lines+1, true)
	return p, nil
}

// rateTicks marks 1, 2 and 5 times each power of ten on a log axis,
// labelled 1k, 2k, 5k, 10k...
type rateTicks struct{}

// Ticks implements plot.Ticker.
func (rateTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(max(lo, 1e-9))); e <= math.Ceil(math.Log10(max(hi, 1e-9))); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: humanCount(v)})
			}
		}
	}
	return ts
}

// capacityTable lists every target's capacity at the SLO.
func capacityTable(r *Results) table.Writer {
	t := newTable(table.Row{"target", "capacity (calls/s)", "stopped by", "steps", "× baseline"})
	for _, cr := range r.Capacity.Results {
		t.AppendRow(table.Row{cr.Target, FormatRate(cr.CapacityPerSec), cr.Stop, len(cr.Steps), ratioCell(r, CapacityID, cr.Target)})
	}
	return t
}

// capacityStepsTable lists every step of every ladder.
func capacityStepsTable(r *Results) table.Writer {
	t := newTable(table.Row{"target", "offered/s", "achieved/s", "p50", "p90", "p99", "p99.9", "errors", "met"})
	for _, cr := range r.Capacity.Results {
		for _, s := range cr.Steps {
			l := s.Latency
			row := table.Row{cr.Target, FormatRate(s.OfferedPerSec), FormatRate(s.AchievedPerSec)}
			if l.Count > 0 {
				row = append(row, FormatMicros(l.P50Us), FormatMicros(l.P90Us), FormatMicros(l.P99Us), FormatMicros(l.P999Us))
			} else {
				row = append(row, "–", "–", "–", "–")
			}
			met := "no"
			if s.Met {
				met = "yes"
			}
			if s.Attempts > 1 {
				met += fmt.Sprintf(" (attempt %d)", s.Attempts)
			}
			t.AppendRow(append(row, s.Errors, met))
		}
	}
	return t
}

// capacityHeading describes the ladder in one sentence.
func capacityHeading(c *Capacity) string {
	return fmt.Sprintf("%s calls, open loop over %d connections, latency from each call's intended start; offered load from %s/s ×%.2f per %.1fs step up to %s/s, "+
		"until p99 exceeds %s or more than %.2f%% of a step's calls fail (timeout %s).",
		c.Operation, c.Conns, FormatRate(c.StartPerSec), c.Factor, c.StepSeconds, FormatRate(c.MaxPerSec),
		FormatMicros(c.SLOUs), c.MaxErrorRate*100, FormatMicros(c.TimeoutSeconds*1e6))
}

// writeCapacityConsole prints the capacity tables.
func writeCapacityConsole(w io.Writer, r *Results) {
	if r.Capacity == nil {
		return
	}
	fmt.Fprintf(w, "\nCapacity at p99 <= %s: %s\n", FormatMicros(r.Capacity.SLOUs), capacityHeading(r.Capacity))
	fmt.Fprintln(w, capacityTable(r).Render())
	fmt.Fprintln(w, capacityStepsTable(r).Render())
}

// writeCapacityMarkdown writes the capacity section of the report.
// img embeds a plot when it was written.
func writeCapacityMarkdown(w io.Writer, r *Results, img func(name, alt string)) {
	if r.Capacity == nil {
		return
	}
	fmt.Fprintf(w, "## Capacity at p99 ≤ %s\n\n%s\n\n", FormatMicros(r.Capacity.SLOUs), capacityHeading(r.Capacity))
	img(PlotCapacity, "latency against offered load")
	fmt.Fprintf(w, "%s\n\n%s\n\n", capacityTable(r).RenderMarkdown(), capacityStepsTable(r).RenderMarkdown())
}
