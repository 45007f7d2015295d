package binproto_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// BenchmarkTransport/<impl>/<pattern>/<message> compares binproto with the
// same framing hand-written over net.Conn and bufio (rawtcp, the floor), on
// loopback TCP in one process.
//
//	impl:    binproto (the compatible profile), native (the native profile), rawtcp
//	pattern: pingpong1  one client, sequential request/response (time/op = one round trip)
//	         pingpong64 64 clients, each on its own connection, round trips split among them
//	         shared64   64 goroutines sharing one binproto client (pipelined on one
//	                    connection); rawtcp, which cannot share a connection, runs
//	                    pingpong64 under this name, the floor the sharing client is held to
//	         stream     one-way messages as fast as possible until the server has counted b.N
//	message: sensor (16-byte fixed payload), status100 and status1k (">I" + str of 100 / 1024 bytes),
//	         blob64k (bytes of 64 KiB: a frame just over 64 KiB)
//
// SetBytes is the payload of one message (one direction), so MB/s is
// payload throughput for stream and one-way payload rate for pingpong.
// binproto is used through its typed API: RequestTyped against HandleTyped
// echo handlers (which decode and re-encode every field) for pingpong, Send
// of Typed messages for stream, whose server counts frames without decoding
// them, as rawtcp's does. Every binproto call gets a context with a
// deadline, as real callers pass one. rawtcp encodes by hand, echoes the frame bytes and
// decodes only the numbers of a reply. Loopback TCP, one process: on a
// machine with few cores client and server compete for them.
func BenchmarkTransport(b *testing.B) {
	impls := []struct {
		name string
		run  func(b *testing.B, pattern string, m benchMsg)
	}{{"binproto", benchCompatible}, {"native", benchNative}, {"rawtcp", benchRaw}}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			for _, pattern := range []string{"pingpong1", "pingpong64", "shared64", "stream"} {
				b.Run(pattern, func(b *testing.B) {
					for _, m := range benchMsgs {
						b.Run(m.name, func(b *testing.B) {
							b.ReportAllocs()
							b.SetBytes(int64(m.payload))
							impl.run(b, pattern, m)
							b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
						})
					}
				})
			}
		})
	}
}

type benchMsg struct {
	name    string
	typ     binproto.MessageType
	payload int    // payload bytes
	text    string // status message
}

var benchMsgs = []benchMsg{
	{name: "sensor", typ: SensorData, payload: 16},
	{name: "status100", typ: Status, payload: 8 + 100, text: strings.Repeat("s", 100)},
	{name: "status1k", typ: Status, payload: 8 + 1024, text: strings.Repeat("k", 1024)},
	{name: "blob64k", typ: Benchmark, payload: 4 + 64<<10, text: strings.Repeat("b", 64<<10)},
}

// listenBench returns a loopback listener closed when the benchmark ends.
func listenBench(b *testing.B) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// splitN runs fn on n goroutines until b.N calls have been made in all.
func splitN(b *testing.B, n int, fn func(g int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := fn(g); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// --- binproto ---

var benchBufSize = 0

func benchCompatible(b *testing.B, pattern string, m benchMsg) {
	benchBinproto(b, pattern, m, binproto.ProfileCompatible)
}

func benchNative(b *testing.B, pattern string, m benchMsg) {
	benchBinproto(b, pattern, m, binproto.ProfileNative)
}

func benchBinproto(b *testing.B, pattern string, m benchMsg, profile binproto.Profile) {
	p := quickProto(b, func(c *binproto.Config) { c.BufferSize = benchBufSize })
	srv := &binproto.Server{Protocol: p}
	if os.Getenv("BENCH_MCH") != "" {
		srv.MaxConcurrentHandlers = 64
	}
	var count atomic.Int64
	done := make(chan struct{})
	counted := func() (binproto.Outgoing, error) {
		if count.Add(1) == int64(b.N) {
			close(done)
		}
		return binproto.NoReply, nil
	}
	if pattern == "stream" {
		// The server counts frames, as rawtcp's does: no payload decoding.
		count := func(context.Context, *binproto.Message) (binproto.Outgoing, error) { return counted() }
		srv.HandleFunc(SensorData, count)
		srv.HandleFunc(Status, count)
		srv.HandleFunc(Benchmark, count)
	} else {
		binproto.HandleTyped(srv, SensorData, sensorCodec, func(_ context.Context, _ *binproto.Conn, s *sensor) (binproto.Outgoing, error) {
			return binproto.Typed(SensorData, sensorCodec, s), nil
		})
		binproto.HandleTyped(srv, Status, statusCodec, func(_ context.Context, _ *binproto.Conn, s *status) (binproto.Outgoing, error) {
			return binproto.Typed(Status, statusCodec, s), nil
		})
		binproto.HandleTyped(srv, Benchmark, benchCodec, func(_ context.Context, _ *binproto.Conn, d *benchData) (binproto.Outgoing, error) {
			return binproto.Typed(Benchmark, benchCodec, d), nil
		})
	}
	l := listenBench(b)
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	// A deadline, as real callers have: one for the whole benchmark.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	clients := 1
	if pattern == "pingpong64" {
		clients = 64
	}
	cls := make([]*binproto.Client, clients)
	for i := range cls {
		cl, err := binproto.Dial(ctx, p, l.Addr().String(), &binproto.ClientOptions{Profile: profile})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cl.Close() })
		cls[i] = cl
	}
	sIn, stIn := sensor{1, 2, 3, 4}, status{200, m.text}
	// roundTrip makes one request and checks its reply as cheaply as
	// checkRawReply does for rawtcp: the outputs are cleared first, so a
	// reply that was not decoded into them fails too.
	roundTrip := func(cl *binproto.Client, sOut *sensor, stOut *status) error {
		if m.typ == SensorData {
			*sOut = sensor{}
			if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &sIn), sensorCodec, sOut); err != nil {
				return err
			}
			if sOut.S1 != 1 || sOut.S4 != 4 {
				return errors.New("bad sensor reply")
			}
			return nil
		}
		*stOut = status{}
		if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Status, statusCodec, &stIn), statusCodec, stOut); err != nil {
			return err
		}
		if stOut.Code != 200 || len(stOut.Message) != len(m.text) {
			return errors.New("bad status reply")
		}
		return nil
	}
	blobIn := benchData{Data: []byte(m.text)}
	if m.typ == Benchmark {
		// Each client decodes its replies into a value of its own, reused
		// from call to call as a caller with a loop would.
		blobOuts := make(map[*binproto.Client]*benchData, len(cls))
		for _, cl := range cls {
			blobOuts[cl] = new(benchData)
		}
		roundTrip = func(cl *binproto.Client, _ *sensor, _ *status) error {
			out := blobOuts[cl]
			if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Benchmark, benchCodec, &blobIn), benchCodec, out); err != nil {
				return err
			}
			if len(out.Data) != len(blobIn.Data) {
				return fmt.Errorf("blob reply of %d bytes, want %d", len(out.Data), len(blobIn.Data))
			}
			return nil
		}
	}
	b.ResetTimer()
	switch pattern {
	case "pingpong1":
		var sOut sensor
		var stOut status
		for range b.N {
			if err := roundTrip(cls[0], &sOut, &stOut); err != nil {
				b.Fatal(err)
			}
		}
	case "pingpong64":
		outs := make([]struct {
			s  sensor
			st status
		}, clients)
		splitN(b, clients, func(g int) error { return roundTrip(cls[g], &outs[g].s, &outs[g].st) })
	case "shared64":
		outs := make([]struct {
			s    sensor
			st   status
			blob benchData
		}, 64)
		splitN(b, 64, func(g int) error {
			if m.typ != Benchmark {
				return roundTrip(cls[0], &outs[g].s, &outs[g].st)
			}
			out := &outs[g].blob
			if _, err := binproto.RequestTyped(ctx, cls[0], binproto.Typed(Benchmark, benchCodec, &blobIn), benchCodec, out); err != nil {
				return err
			}
			if len(out.Data) != len(blobIn.Data) {
				return fmt.Errorf("blob reply of %d bytes, want %d", len(out.Data), len(blobIn.Data))
			}
			return nil
		})
	case "stream":
		out := binproto.Typed(SensorData, sensorCodec, &sIn)
		if m.typ == Status {
			out = binproto.Typed(Status, statusCodec, &stIn)
		}
		if m.typ == Benchmark {
			out = binproto.Typed(Benchmark, benchCodec, &blobIn)
		}
		for range b.N {
			if err := cls[0].Send(ctx, out); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.Fatalf("server counted %d of %d", count.Load(), b.N)
		}
	}
	b.StopTimer()
}

// --- rawtcp: the same framing by hand ---

// rawFrame appends the frame of m (header ">H", no checksum).
func rawFrame(dst []byte, m benchMsg, code uint32) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(m.typ))
	if m.typ == SensorData {
		for _, f := range [4]float32{1, 2, 3, 4} {
			dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(f))
		}
		return dst
	}
	if m.typ == Benchmark {
		dst = binary.BigEndian.AppendUint32(dst, uint32(4+len(m.text)))
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.text)))
		return append(dst, m.text...)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(8+len(m.text)))
	dst = binary.BigEndian.AppendUint32(dst, code)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.text)))
	return append(dst, m.text...)
}

// readRawFrame reads one frame into buf and returns it whole (in buf's
// array when it fits; callers keep the result to reuse a grown buffer).
func readRawFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	buf = buf[:2]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n := 16
	if binary.BigEndian.Uint16(buf) != uint16(SensorData) {
		buf = buf[:6]
		if _, err := io.ReadFull(r, buf[2:]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint32(buf[2:]))
		if n > 1<<20 {
			return nil, errors.New("frame too large")
		}
	}
	start := len(buf)
	buf = append(buf, make([]byte, n)...)[:start+n]
	_, err := io.ReadFull(r, buf[start:])
	return buf, err
}

// checkRawReply decodes the numbers of a reply: the floats of a sensor or
// the code and message length of a status, the data length of a blob.
func checkRawReply(f []byte, m benchMsg) error {
	if m.typ == Benchmark {
		if int(binary.BigEndian.Uint32(f[6:])) != len(m.text) {
			return errors.New("bad blob reply")
		}
		return nil
	}
	if m.typ == SensorData {
		if math.Float32frombits(binary.BigEndian.Uint32(f[2:])) != 1 || math.Float32frombits(binary.BigEndian.Uint32(f[14:])) != 4 {
			return errors.New("bad sensor reply")
		}
		return nil
	}
	if binary.BigEndian.Uint32(f[6:]) != 200 || int(binary.BigEndian.Uint32(f[10:])) != len(m.text) {
		return errors.New("bad status reply")
	}
	return nil
}

// rawServe echoes every frame (flushing when no more input is buffered),
// or counts it when echo is false.
func rawServe(l net.Listener, echo bool, count func()) {
	for {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer nc.Close()
			r, w := bufio.NewReaderSize(nc, 64<<10), bufio.NewWriterSize(nc, 64<<10)
			buf := make([]byte, 0, 2048)
			for {
				f, err := readRawFrame(r, buf)
				if err != nil {
					return
				}
				buf = f[:0] // keeps a buffer grown for a large frame
				if !echo {
					count()
					continue
				}
				w.Write(f)
				if r.Buffered() == 0 && w.Flush() != nil {
					return
				}
			}
		}()
	}
}

func benchRaw(b *testing.B, pattern string, m benchMsg) {
	l := listenBench(b)
	var count atomic.Int64
	done := make(chan struct{})
	go rawServe(l, pattern != "stream", func() {
		if count.Add(1) == int64(b.N) {
			close(done)
		}
	})
	if pattern == "shared64" {
		pattern = "pingpong64" // a raw connection cannot be shared
	}
	clients := 1
	if pattern == "pingpong64" {
		clients = 64
	}
	type rawClient struct {
		nc  net.Conn
		r   *bufio.Reader
		w   *bufio.Writer
		buf []byte
	}
	cls := make([]*rawClient, clients)
	for i := range cls {
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nc.Close() })
		cls[i] = &rawClient{nc, bufio.NewReaderSize(nc, 64<<10), bufio.NewWriterSize(nc, 64<<10), make([]byte, 0, 2048)}
	}
	roundTrip := func(c *rawClient) error {
		c.buf = rawFrame(c.buf[:0], m, 200)
		c.w.Write(c.buf)
		if err := c.w.Flush(); err != nil {
			return err
		}
		f, err := readRawFrame(c.r, c.buf[:0])
		if err != nil {
			return err
		}
		c.buf = f[:0] // keeps a buffer grown for a large frame
		return checkRawReply(f, m)
	}
	b.ResetTimer()
	switch pattern {
	case "pingpong1":
		for range b.N {
			if err := roundTrip(cls[0]); err != nil {
				b.Fatal(err)
			}
		}
	case "pingpong64":
		splitN(b, clients, func(g int) error { return roundTrip(cls[g]) })
	case "stream":
		c := cls[0]
		for range b.N {
			c.buf = rawFrame(c.buf[:0], m, 200)
			if _, err := c.w.Write(c.buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.w.Flush(); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.Fatalf("server counted %d of %d", count.Load(), b.N)
		}
	}
	b.StopTimer()
}

// --- idle connections ---

// BenchmarkIdleConns opens up to 10,000 idle client connections to one
// server (as many as RLIMIT_NOFILE allows: it is raised to the hard limit,
// and each connection takes two descriptors in this process) and reports
// the resident memory they cost: VmRSS after minus before, after a GC,
// divided by the number of connections ("conns").
//
// Client and server run in this one process, so the RSS of a connection
// counts both sides. Two variants separate them:
//
//	binproto: binproto Clients. B/conn counts a binproto client connection
//	          and the server's side of it; server-B/conn estimates the
//	          server side as half of that.
//	raw:      plain net.Conn clients (each made one request first, as the
//	          binproto ones do). The client side is then just a socket
//	          (a few hundred bytes), so B/conn is close to the server side
//	          alone: server-B/conn reports it as measured.
//
// heap-B/conn and stack-B/conn split the total with runtime.MemStats
// (HeapInuse and StackInuse deltas). Kernel socket buffers are not in
// VmRSS.
func BenchmarkIdleConns(b *testing.B) {
	n := idleConnLimit(b, 10_000)
	p := quickProto(b, nil)
	for _, clients := range []string{"binproto", "raw"} {
		b.Run(clients, func(b *testing.B) {
			for range b.N {
				idleConns(b, p, n, clients == "raw")
			}
		})
	}
}

// idleConnLimit raises RLIMIT_NOFILE as far as allowed and returns how many
// connections (two descriptors each) fit, at most want.
func idleConnLimit(b *testing.B, want int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	need := uint64(2*want + 200)
	if lim.Cur < need {
		raised := syscall.Rlimit{Cur: need, Max: max(need, lim.Max)}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) != nil { // not privileged: up to the hard limit
			raised = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised)
		}
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return min(want, (int(lim.Cur)-200)/2)
}

func idleConns(b *testing.B, p *binproto.Protocol, n int, raw bool) {
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	l := listenBench(b)
	go srv.Serve(l)
	defer srv.Close()
	ctx := context.Background()
	// One warm connection, so that one-time costs are not counted.
	warm, err := binproto.Dial(ctx, p, l.Addr().String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer warm.Close()
	if err := checkStatusEcho(ctx, warm, 1); err != nil {
		b.Fatal(err)
	}
	req, _ := p.AppendFrame(nil, statusMsg(1, "idle"))
	rss0, ms0 := memNow()
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for len(closers) < n {
		var c io.Closer
		if raw {
			c, err = rawIdleConn(l.Addr().String(), req)
		} else {
			var cl *binproto.Client
			if cl, err = binproto.Dial(ctx, p, l.Addr().String(), nil); err == nil {
				c, err = cl, checkStatusEcho(ctx, cl, len(closers))
			}
		}
		if err != nil {
			b.Logf("stopped at %d connections: %v", len(closers), err)
			break
		}
		closers = append(closers, c)
	}
	for srv.Stats().ConnectionsActive < int64(len(closers))+1 {
		time.Sleep(time.Millisecond)
	}
	rss1, ms1 := memNow()
	c := float64(len(closers))
	b.ReportMetric(c, "conns")
	total := float64(rss1-rss0) / c
	b.ReportMetric(total, "B/conn")
	if raw {
		b.ReportMetric(total, "server-B/conn")
	} else {
		b.ReportMetric(total/2, "server-B/conn")
	}
	b.ReportMetric(float64(int64(ms1.HeapInuse)-int64(ms0.HeapInuse))/c, "heap-B/conn")
	b.ReportMetric(float64(int64(ms1.StackInuse)-int64(ms0.StackInuse))/c, "stack-B/conn")
}

// rawIdleConn dials addr, makes one request and returns the connection.
func rawIdleConn(addr string, req []byte) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(req); err == nil {
		_, err = io.ReadFull(nc, make([]byte, len(req)))
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

// memNow returns VmRSS in bytes and the runtime's memory stats, after a GC
// that also returns free memory to the OS.
func memNow() (int64, runtime.MemStats) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, ms
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, ms
		}
	}
	panic(fmt.Sprint("no VmRSS in /proc/self/status"))
}
