package binprom

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/binproto/binproto"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures New. The zero value is the defaults.
type Options struct {
	// Namespace prefixes every metric name. Default "binproto".
	Namespace string
	// TypeNames names message types in the "type" label; a configured type
	// missing from it is labelled with its number.
	TypeNames map[binproto.MessageType]string
	// Buckets are the classic buckets of the latency histograms, in
	// seconds. Default DefaultBuckets.
	Buckets []float64
	// NativeHistogramBucketFactor makes the latency histograms native
	// histograms as well (exposed to scrapers that negotiate the protobuf
	// format), with this growth factor between buckets. Default 1.1;
	// negative: classic buckets only.
	NativeHistogramBucketFactor float64
	// ConstLabels are added to every metric (an instance name, say).
	ConstLabels prometheus.Labels
}

// DefaultBuckets are the classic latency buckets: 25 µs to 2.5 s.
var DefaultBuckets = []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5}

// Observer is a binproto.Observer that counts into Prometheus metrics, and
// a prometheus.Collector of them. It is safe for concurrent use.
type Observer struct {
	messages  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	recvBytes *prometheus.CounterVec
	sentBytes *prometheus.CounterVec
	active    *prometheus.GaugeVec
	opened    *prometheus.CounterVec
	closed    *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	auths     *prometheus.CounterVec
	limited   *prometheus.CounterVec

	types     typeIndex
	typeNames []string // label of each type index; the last is "other"

	// The children, resolved on first use: indexed by side, direction,
	// type and outcome (see the index methods).
	msgC   []atomic.Pointer[prometheus.Counter]
	durH   []atomic.Pointer[prometheus.Observer]
	recv   byteCounters
	sent   byteCounters
	reasC  []atomic.Pointer[prometheus.Counter] // closed, then rejected: by side and reason
	sideC  []atomic.Pointer[prometheus.Counter] // opened, auth ok, auth failed, rate limited: by side
	activG [2]prometheus.Gauge
}

// Label values of the closed sets.
var (
	sides      = [...]binproto.Side{binproto.SideServer, binproto.SideClient}
	directions = [...]binproto.Direction{binproto.DirectionIn, binproto.DirectionOut}
	// reasons are the close reasons; one not listed is labelled "other".
	reasons = [...]binproto.CloseReason{
		binproto.ClosePeer, binproto.CloseLocal, binproto.CloseShutdown, binproto.CloseIdleTimeout,
		binproto.CloseReadTimeout, binproto.CloseReadError, binproto.CloseWriteError, binproto.CloseUnknownType,
		binproto.CloseTooLarge, binproto.CloseChecksum, binproto.CloseMalformed, binproto.CloseHandlerError,
		binproto.CloseHandlerPanic, binproto.CloseLimit, binproto.CloseAuthFailed, binproto.CloseAuthTimeout,
		binproto.CloseAuthLimit, binproto.CloseRateLimit, binproto.CloseInvalid, binproto.CloseProxyHeader,
		binproto.CloseKeepalive, binproto.CloseProtocol, binproto.CloseConfigMismatch, binproto.CloseMaxAge,
	}
)

// The per-side counters of sideC.
const (
	sideOpened = iota
	sideAuthOK
	sideAuthFailed
	sideRateLimited
	sideCounters
)

// New returns an Observer of the messages of p's types.
func New(p *binproto.Protocol, opts Options) *Observer {
	ns := opts.Namespace
	if ns == "" {
		ns = "binproto"
	}
	buckets := opts.Buckets
	if len(buckets) == 0 {
		buckets = DefaultBuckets
	}
	factor := opts.NativeHistogramBucketFactor
	switch {
	case factor == 0:
		factor = 1.1
	case factor < 0:
		factor = 0
	}
	cl := opts.ConstLabels
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help, ConstLabels: cl}, labels)
	}
	o := &Observer{
		messages:  counter("messages_total", "Messages dealt with, by side, direction (in: received and handled; out: sent or requested), type and outcome.", "side", "direction", "type", "outcome"),
		recvBytes: counter("received_bytes_total", "Frame bytes received in messages, by side and message type.", "side", "type"),
		sentBytes: counter("sent_bytes_total", "Frame bytes sent in messages, by side and message type.", "side", "type"),
		opened:    counter("connections_opened_total", "Connections opened (server: served; client: set up).", "side"),
		closed:    counter("connections_closed_total", "Connections closed, by reason.", "side", "reason"),
		rejected:  counter("connections_rejected_total", "Connections refused at accept, by reason (limit, auth_failed when throttled).", "side", "reason"),
		auths:     counter("authentications_total", "Authentications, by result (ok, failed).", "side", "result"),
		limited:   counter("rate_limited_total", "Messages refused over a rate limit.", "side"),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "connections_active",
			Help: "Connections open now.", ConstLabels: cl}, []string{"side"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "message_duration_seconds",
			Help:    "Server: time from a message's dispatch to its reply queued (the handler's). Client: a request's round trip.",
			Buckets: buckets, NativeHistogramBucketFactor: factor, NativeHistogramMaxBucketNumber: 160,
			ConstLabels: cl}, []string{"side", "direction", "type"}),
	}
	o.types, o.typeNames = newTypeIndex(p, opts.TypeNames)
	nt := len(o.typeNames)
	o.msgC = make([]atomic.Pointer[prometheus.Counter], len(sides)*len(directions)*nt*len(binproto.Outcomes))
	o.durH = make([]atomic.Pointer[prometheus.Observer], len(sides)*len(directions)*nt)
	o.recv = byteCounters{vec: o.recvBytes, slots: make([]atomic.Pointer[prometheus.Counter], len(sides)*nt)}
	o.sent = byteCounters{vec: o.sentBytes, slots: make([]atomic.Pointer[prometheus.Counter], len(sides)*nt)}
	o.reasC = make([]atomic.Pointer[prometheus.Counter], 2*len(sides)*(len(reasons)+1))
	o.sideC = make([]atomic.Pointer[prometheus.Counter], sideCounters*len(sides))
	for i, s := range sides {
		o.activG[i] = o.active.WithLabelValues(s.String())
	}
	return o
}

// Describe implements prometheus.Collector.
func (o *Observer) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range o.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (o *Observer) Collect(ch chan<- prometheus.Metric) {
	for _, c := range o.collectors() {
		c.Collect(ch)
	}
}

func (o *Observer) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.messages, o.duration, o.recvBytes, o.sentBytes, o.active, o.opened, o.closed, o.rejected, o.auths, o.limited}
}

// ObserveMessage implements binproto.Observer.
func (o *Observer) ObserveMessage(_ context.Context, ev binproto.MessageEvent) {
	si, di := sideIndex(ev.Side), dirIndex(ev.Direction)
	if si < 0 || di < 0 {
		return
	}
	ti := o.types.index(ev.Type)
	nt := len(o.typeNames)
	sd := (si*len(directions) + di) * nt
	if int(ev.Outcome) >= len(binproto.Outcomes) {
		return
	}
	resolve(o.msgC, (sd+ti)*len(binproto.Outcomes)+int(ev.Outcome), func(i int) prometheus.Counter {
		oc := binproto.Outcomes[i%len(binproto.Outcomes)]
		return o.messages.WithLabelValues(sides[si].String(), directions[di].String(), o.typeNames[ti], oc.String())
	}).Inc()
	if ev.Direction == binproto.DirectionIn || ev.RoundTrip {
		resolve(o.durH, sd+ti, func(int) prometheus.Observer {
			return o.duration.WithLabelValues(sides[si].String(), directions[di].String(), o.typeNames[ti])
		}).Observe(ev.Latency.Seconds())
	}
	msg, reply := &o.recv, &o.sent
	if ev.Direction == binproto.DirectionOut {
		msg, reply = reply, msg // the message went out, its reply came in
	}
	if ev.Bytes > 0 {
		msg.add(o, si, ti, ev.Bytes)
	}
	if ev.Replied && ev.ReplyBytes > 0 {
		reply.add(o, si, o.types.index(ev.ReplyType), ev.ReplyBytes)
	}
}

// byteCounters are the children of a byte counter, by side and type.
type byteCounters struct {
	vec   *prometheus.CounterVec
	slots []atomic.Pointer[prometheus.Counter]
}

// add adds n bytes to the counter of side si and type ti.
func (b *byteCounters) add(o *Observer, si, ti, n int) {
	resolve(b.slots, si*len(o.typeNames)+ti, func(int) prometheus.Counter {
		return b.vec.WithLabelValues(sides[si].String(), o.typeNames[ti])
	}).Add(float64(n))
}

// ObserveConn implements binproto.Observer.
func (o *Observer) ObserveConn(ev binproto.ConnEvent) {
	si := sideIndex(ev.Side)
	if si < 0 {
		return
	}
	switch ev.Kind {
	case binproto.ConnOpened:
		o.activG[si].Inc()
		o.sideCounter(si, sideOpened).Inc()
	case binproto.ConnClosed:
		o.activG[si].Dec()
		o.reasonCounter(si, 0, ev.Reason).Inc()
	case binproto.ConnRejected:
		o.reasonCounter(si, 1, ev.Reason).Inc()
	case binproto.ConnAuthenticated:
		o.sideCounter(si, sideAuthOK).Inc()
	case binproto.ConnAuthFailed:
		o.sideCounter(si, sideAuthFailed).Inc()
	case binproto.ConnRateLimited:
		o.sideCounter(si, sideRateLimited).Inc()
	}
}

// sideCounter returns the counter k (sideOpened...) of side si.
func (o *Observer) sideCounter(si, k int) prometheus.Counter {
	return resolve(o.sideC, k*len(sides)+si, func(int) prometheus.Counter {
		s := sides[si].String()
		switch k {
		case sideOpened:
			return o.opened.WithLabelValues(s)
		case sideAuthOK:
			return o.auths.WithLabelValues(s, "ok")
		case sideAuthFailed:
			return o.auths.WithLabelValues(s, "failed")
		}
		return o.limited.WithLabelValues(s)
	})
}

// reasonCounter returns the closed (vec 0) or rejected (vec 1) counter of
// side si and reason r.
func (o *Observer) reasonCounter(si, vec int, r binproto.CloseReason) prometheus.Counter {
	ri := slices.Index(reasons[:], r)
	if ri < 0 {
		ri = len(reasons)
	}
	return resolve(o.reasC, (vec*len(sides)+si)*(len(reasons)+1)+ri, func(int) prometheus.Counter {
		label := "other"
		if ri < len(reasons) {
			label = string(reasons[ri])
		}
		if vec == 0 {
			return o.closed.WithLabelValues(sides[si].String(), label)
		}
		return o.rejected.WithLabelValues(sides[si].String(), label)
	})
}

// resolve returns the child cached in slots[i], resolving it with mk on
// first use. Two goroutines may both resolve it: WithLabelValues returns
// the same child to both.
func resolve[M any](slots []atomic.Pointer[M], i int, mk func(i int) M) M {
	if p := slots[i].Load(); p != nil {
		return *p
	}
	m := mk(i)
	slots[i].Store(&m)
	return m
}

// sideIndex and dirIndex return the index of a side or direction in
// sides and directions, or -1 for a value outside them.
func sideIndex(s binproto.Side) int     { return enumIndex(s, len(sides)) }
func dirIndex(d binproto.Direction) int { return enumIndex(d, len(directions)) }
func enumIndex[E ~uint8](v E, n int) int {
	if v == 0 || int(v) > n {
		return -1
	}
	return int(v) - 1
}

// typeIndex maps message types to dense indexes: the configured types in
// order, then "other". Small type numbers (the common case) are looked up
// in a slice, others in a map.
type typeIndex struct {
	dense []int32 // type → index+1, for types below len(dense)
	m     map[binproto.MessageType]int
	other int
}

const maxDense = 4096

func newTypeIndex(p *binproto.Protocol, names map[binproto.MessageType]string) (typeIndex, []string) {
	var ts []binproto.MessageType
	for t := range p.Config().Types {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	ix := typeIndex{m: make(map[binproto.MessageType]int), other: len(ts)}
	labels := make([]string, 0, len(ts)+1)
	for i, t := range ts {
		ix.m[t] = i
		if t < maxDense {
			if int(t) >= len(ix.dense) {
				ix.dense = slices.Grow(ix.dense, int(t)+1-len(ix.dense))[:t+1]
			}
			ix.dense[t] = int32(i + 1)
		}
		name, ok := names[t]
		if !ok {
			name = strconv.FormatUint(uint64(t), 10)
		}
		labels = append(labels, name)
	}
	return ix, append(labels, "other")
}

func (ix *typeIndex) index(t binproto.MessageType) int {
	if t < binproto.MessageType(len(ix.dense)) {
		if i := ix.dense[t]; i > 0 {
			return int(i - 1)
		}
		return ix.other
	}
	if i, ok := ix.m[t]; ok {
		return i
	}
	return ix.other
}
