package binprom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one series of an exposition: histograms are flattened into
// their _bucket (with an "le" label), _sum and _count series, as the text
// format shows them.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples are the series of one scrape.
type Samples []Sample

// MaxScrapeBytes bounds the exposition Scrape reads.
const MaxScrapeBytes = 32 << 20

// ErrScrape reports a scrape that did not return an exposition.
var ErrScrape = errors.New("binprom: scrape failed")

// Scrape fetches url (a /metrics endpoint) with c (nil:
// http.DefaultClient) in the text format and parses it. A response that
// is not 200 OK is an error wrapping ErrScrape.
func Scrape(ctx context.Context, c *http.Client, url string) (Samples, error) {
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: %s", ErrScrape, url, resp.Status)
	}
	return ParseText(io.LimitReader(resp.Body, MaxScrapeBytes))
}

// ParseText parses an exposition in the Prometheus text format.
func ParseText(r io.Reader) (Samples, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	var out Samples
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out = appendMetric(out, name, labels, m)
		}
	}
	slices.SortFunc(out, func(a, b Sample) int { return strings.Compare(a.key(), b.key()) })
	return out, nil
}

// appendMetric appends the series of metric m of family name.
func appendMetric(out Samples, name string, labels map[string]string, m *dto.Metric) Samples {
	switch {
	case m.Counter != nil:
		return append(out, Sample{name, labels, m.Counter.GetValue()})
	case m.Gauge != nil:
		return append(out, Sample{name, labels, m.Gauge.GetValue()})
	case m.Untyped != nil:
		return append(out, Sample{name, labels, m.Untyped.GetValue()})
	case m.Histogram != nil:
		h := m.Histogram
		for _, b := range h.GetBucket() {
			bl := withLabel(labels, "le", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
			out = append(out, Sample{name + "_bucket", bl, float64(b.GetCumulativeCount())})
		}
		inf := withLabel(labels, "le", "+Inf")
		out = append(out, Sample{name + "_bucket", inf, float64(h.GetSampleCount())})
		out = append(out, Sample{name + "_sum", labels, h.GetSampleSum()})
		return append(out, Sample{name + "_count", labels, float64(h.GetSampleCount())})
	case m.Summary != nil:
		out = append(out, Sample{name + "_sum", labels, m.Summary.GetSampleSum()})
		return append(out, Sample{name + "_count", labels, float64(m.Summary.GetSampleCount())})
	}
	return out
}

func withLabel(labels map[string]string, k, v string) map[string]string {
	m := make(map[string]string, len(labels)+1)
	for a, b := range labels {
		m[a] = b
	}
	m[k] = v
	return m
}

// key identifies a series: its name and sorted labels.
func (s Sample) key() string {
	ks := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	var b strings.Builder
	b.WriteString(s.Name)
	for _, k := range ks {
		fmt.Fprintf(&b, ",%s=%q", k, s.Labels[k])
	}
	return b.String()
}

// matches reports whether s is a series of name with every label of match
// (given as name, value pairs).
func (s Sample) matches(name string, match []string) bool {
	if s.Name != name {
		return false
	}
	for i := 0; i+1 < len(match); i += 2 {
		if s.Labels[match[i]] != match[i+1] {
			return false
		}
	}
	return true
}

// Sum returns the sum of the series of name that have every label of match,
// given as name, value pairs: Sum("binproto_messages_total", "outcome", "ok").
func (ss Samples) Sum(name string, match ...string) float64 {
	var v float64
	for _, s := range ss {
		if s.matches(name, match) {
			v += s.Value
		}
	}
	return v
}

// By returns the sums of the series of name that have every label of match,
// grouped by the value of label.
func (ss Samples) By(label, name string, match ...string) map[string]float64 {
	m := make(map[string]float64)
	for _, s := range ss {
		if s.matches(name, match) {
			m[s.Labels[label]] += s.Value
		}
	}
	return m
}

// Sub returns ss less before, series by series: the increase between two
// scrapes of counters and histograms (a series missing from before counts
// from zero).
func (ss Samples) Sub(before Samples) Samples {
	prev := make(map[string]float64, len(before))
	for _, s := range before {
		prev[s.key()] = s.Value
	}
	out := make(Samples, len(ss))
	for i, s := range ss {
		s.Value -= prev[s.key()]
		out[i] = s
	}
	return out
}

// Quantile estimates the q-quantile (0 < q < 1) of the histogram name (its
// _bucket series, summed over the series with every label of match) as
// Prometheus's histogram_quantile does: by linear interpolation within the
// bucket it falls in. NaN when the histogram has no observations.
func (ss Samples) Quantile(q float64, name string, match ...string) float64 {
	byLe := ss.By("le", name+"_bucket", match...)
	type bucket struct{ le, n float64 }
	var bs []bucket
	for le, n := range byLe {
		v, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{v, n})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return math.NaN()
	}
	rank := q * bs[len(bs)-1].n
	lo, below := 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			if math.IsInf(b.le, 1) {
				return lo // over the highest bound: its bound, as Prometheus does
			}
			if b.n == below {
				return b.le
			}
			return lo + (b.le-lo)*(rank-below)/(b.n-below)
		}
		lo, below = b.le, b.n
	}
	return lo
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
