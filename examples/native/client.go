package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

// fastCalls is how many calls the concurrency step makes while a job is
// held: fewer than maxStreams, which bounds them all.
const fastCalls = 10

// requestDeadline is the deadline of the deadline step's call.
const requestDeadline = 300 * time.Millisecond

// local is the server, when it runs in this process: the shutdown step
// shuts it down.
type local struct {
	srv     *binproto.Server
	release func() int
}

// demo is the client side of the example: one native connection, and the
// steps run on it one after the other.
type demo struct {
	proto *binproto.Protocol
	addr  string
	cl    *binproto.Client
	local *local // nil: the server is another process
}

// runClient connects to addr with the native profile and runs every step,
// printing one line per step to out; it stops at the first that fails.
func runClient(ctx context.Context, proto *binproto.Protocol, addr string, loc *local, out io.Writer) error {
	cl, err := binproto.Dial(ctx, proto, addr, &binproto.ClientOptions{
		Profile:   binproto.ProfileNative, // fails with ErrNotNative, or a *ConfigMismatchError naming the differences
		Keepalive: clientKeepalive,        // pings a silent server; a dead one closes the connection
	})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer cl.Close()
	fmt.Fprintf(out, "client connected to %s: native profile, keepalive %v\n", addr, clientKeepalive)
	d := &demo{proto: proto, addr: addr, cl: cl, local: loc}
	steps := []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{"concurrency", d.concurrency},
		{"handler error", d.handlerError},
		{"validator", d.validator},
		{"deadline", d.deadline},
		{"cancellation", d.cancellation},
		{"max streams", d.maxStreams},
		{"keepalive", d.keepalive},
		{"compatible", d.compatible},
		{"shutdown", d.shutdown},
	}
	for _, s := range steps {
		what, err := s.run(ctx)
		if err != nil {
			fmt.Fprintf(out, "%-13s FAIL  %v\n", s.name, err)
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(out, "%-13s ok    %s\n", s.name, what)
	}
	return nil
}

// concurrency holds one job on the server and makes fastCalls calls on the
// same connection meanwhile: they are all answered while the held one
// waits, which it does until they are (no timing involved).
func (d *demo) concurrency(ctx context.Context) (string, error) {
	held := d.goHold(ctx, 1)
	if _, err := d.expectNotes(ctx, "held", 1); err != nil {
		return "", err
	}
	var wg sync.WaitGroup
	errs := make([]error, fastCalls)
	for i := range fastCalls {
		wg.Go(func() { errs[i] = d.work(ctx, uint32(100+i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	select {
	case err := <-held:
		return "", fmt.Errorf("the held job ended before its release: %v", err)
	default:
	}
	if n, err := release(ctx, d.cl); err != nil || n != 1 {
		return "", fmt.Errorf("release: %d jobs released, %v; want 1", n, err)
	}
	if err := <-held; err != nil {
		return "", fmt.Errorf("the held job: %w", err)
	}
	return fmt.Sprintf("job 1 held on the server while %d calls on the same connection were answered; released, it completed", fastCalls), nil
}

// handlerError sends a job its handler refuses with a code: the caller
// gets the code and the message; the connection stays.
func (d *demo) handlerError(ctx context.Context) (string, error) {
	var r Job
	_, err := binproto.RequestTyped(ctx, d.cl, binproto.Typed(Parse, JobCodec, &Job{ID: 2, Text: "twelve"}), JobCodec, &r)
	var e *binproto.Error
	if !errors.As(err, &e) || e.Code != binproto.CodeInvalid || e.NotProcessed || e.Retryable() || !errors.Is(err, binproto.ErrInvalidMessage) {
		return "", fmt.Errorf("got %v, want a *binproto.Error with CodeInvalid, processed, not retryable", err)
	}
	if _, err := binproto.RequestTyped(ctx, d.cl, binproto.Typed(Parse, JobCodec, &Job{ID: 3, Text: "21"}), JobCodec, &r); err != nil || r.Text != "42" {
		return "", fmt.Errorf("the next call on the connection: %q, %v; want 42", r.Text, err)
	}
	return fmt.Sprintf("code %q, retryable %v: %q; the next call on the connection: 21 doubled is %s", e.Code, e.Retryable(), e.Message, r.Text), nil
}

// validator sends a job its validator refuses: CodeInvalid, not processed
// (the handler did not run).
func (d *demo) validator(ctx context.Context) (string, error) {
	err := d.work(ctx, 0)
	var e *binproto.Error
	if !errors.As(err, &e) || e.Code != binproto.CodeInvalid || !e.NotProcessed {
		return "", fmt.Errorf("got %v, want CodeInvalid, not processed", err)
	}
	return fmt.Sprintf("code %q, not processed %v: %q", e.Code, e.NotProcessed, e.Message), nil
}

// deadline holds a job with a deadline: the handler sees it, its context
// ends when it passes, and so does the call.
func (d *demo) deadline(ctx context.Context) (string, error) {
	dctx, cancel := context.WithTimeout(ctx, requestDeadline)
	defer cancel()
	held := d.goHold(dctx, 4)
	seen, err := d.expectNotes(ctx, "held, deadline in", 4)
	if err != nil {
		return "", err
	}
	if err := <-held; !errors.Is(err, context.DeadlineExceeded) {
		return "", fmt.Errorf("the call: %v, want context.DeadlineExceeded", err)
	}
	if _, err := d.expectNotes(ctx, "ended", 4); err != nil {
		return "", err
	}
	return fmt.Sprintf("a call with a %v deadline: the handler noted %q; when it passed, the call failed with %q and the handler's context ended", requestDeadline, seen, context.DeadlineExceeded), nil
}

// cancellation holds a job and cancels the call: the server cancels the
// handler's context.
func (d *demo) cancellation(ctx context.Context) (string, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	held := d.goHold(cctx, 5)
	if _, err := d.expectNotes(ctx, "held", 5); err != nil {
		return "", err
	}
	cancel()
	if err := <-held; !errors.Is(err, context.Canceled) {
		return "", fmt.Errorf("the call: %v, want context.Canceled", err)
	}
	if _, err := d.expectNotes(ctx, "ended: context canceled", 5); err != nil {
		return "", err
	}
	return "the call was cancelled; the server cancelled its handler's context", nil
}

// maxStreams holds maxStreams jobs: one more call on the connection is
// refused, retryable; the limit is the connection's, so another connection
// releases them; retried, the call succeeds.
func (d *demo) maxStreams(ctx context.Context) (string, error) {
	helds := make([]<-chan error, maxStreams)
	ids := make([]uint32, maxStreams)
	for i := range helds {
		ids[i] = uint32(1000 + i)
		helds[i] = d.goHold(ctx, ids[i])
	}
	if _, err := d.expectNotes(ctx, "held", ids...); err != nil {
		return "", err
	}
	err := d.work(ctx, 7)
	var e *binproto.Error
	if !errors.As(err, &e) || e.Code != binproto.CodeUnavailable || !e.Retryable() {
		return "", fmt.Errorf("call %d: %v, want a retryable CodeUnavailable", maxStreams+1, err)
	}
	other, err := binproto.Dial(ctx, d.proto, d.addr, &binproto.ClientOptions{Profile: binproto.ProfileNative})
	if err != nil {
		return "", err
	}
	defer other.Close()
	if n, err := release(ctx, other); err != nil || n != maxStreams {
		return "", fmt.Errorf("release: %d jobs released, %v; want %d", n, err, maxStreams)
	}
	for _, h := range helds {
		if err := <-h; err != nil {
			return "", err
		}
	}
	// The released jobs' streams may not all have ended yet: retry.
	if err := retry(ctx, func() error { return d.work(ctx, 7) }); err != nil {
		return "", fmt.Errorf("the retried call: %w", err)
	}
	return fmt.Sprintf("%d calls held; one more refused: code %q, retryable %v; another connection released them; retried, the call succeeded", maxStreams, e.Code, e.Retryable()), nil
}

// keepalive leaves the connection idle for longer than the server's idle
// timeout, which closes a native connection without keepalive meanwhile:
// this one's pings keep it open.
func (d *demo) keepalive(ctx context.Context) (string, error) {
	before := d.cl.Stats().MessagesIn
	// AlwaysRead: a client reads an idle connection only to notice its end.
	quiet, err := binproto.Dial(ctx, d.proto, d.addr, &binproto.ClientOptions{Profile: binproto.ProfileNative, AlwaysRead: true})
	if err != nil {
		return "", err
	}
	defer quiet.Close()
	select {
	case <-quiet.Conn().Done(): // the server closed it: it was idle for idleTimeout
	case <-ctx.Done():
		return "", fmt.Errorf("the server did not close an idle connection: %w", ctx.Err())
	}
	pongs := d.cl.Stats().MessagesIn - before
	select {
	case <-d.cl.Conn().Done():
		return "", errors.New("the server closed the connection with keepalive too")
	default:
	}
	if err := d.work(ctx, 8); err != nil {
		return "", err
	}
	if pongs == 0 {
		return "", errors.New("no pings answered while idle")
	}
	return fmt.Sprintf("idle past the %v idle timeout, which closed a connection without keepalive, this one sent pings (%d answered) and still serves", idleTimeout, pongs), nil
}

// compatible talks to the same port with the compatible profile, the
// framing of the Python package: a quick-start STATUS echo.
func (d *demo) compatible(ctx context.Context) (string, error) {
	cl, err := binproto.Dial(ctx, d.proto, d.addr, nil)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	in := quickstart.StatusMsg{Code: 200, Message: "from a compatible client"}
	var back quickstart.StatusMsg
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.Status, quickstart.StatusCodec, &in), quickstart.StatusCodec, &back); err != nil {
		return "", err
	}
	if back != in {
		return "", fmt.Errorf("echo %+v, want %+v", back, in)
	}
	return "a compatible client on the same port got its STATUS echo", nil
}

// shutdown holds a job and shuts the server down: its goaway makes new
// calls fail, retryable and not processed, while the held job completes.
func (d *demo) shutdown(ctx context.Context) (string, error) {
	if d.local == nil {
		return "skipped: the server is another process (interrupt it to see its goaway)", nil
	}
	held := d.goHold(ctx, 9)
	if _, err := d.expectNotes(ctx, "held", 9); err != nil {
		return "", err
	}
	shut := make(chan error, 1)
	go func() { shut <- d.local.srv.Shutdown(ctx) }()
	// Calls go on until the goaway: then they fail, for a caller to retry
	// elsewhere.
	var err error
	calls := 0
	for err == nil {
		calls++
		err = d.work(ctx, uint32(2000+calls))
	}
	var e *binproto.Error
	if !errors.As(err, &e) || !e.NotProcessed || !e.Retryable() {
		return "", fmt.Errorf("a call after Shutdown: %v, want a retryable error, not processed", err)
	}
	d.local.release()
	if err := <-held; err != nil {
		return "", fmt.Errorf("the job held during Shutdown: %w", err)
	}
	if err := <-shut; err != nil {
		return "", fmt.Errorf("Shutdown: %w", err)
	}
	return fmt.Sprintf("after the goaway a call failed: code %q, not processed, retryable; the job held meanwhile completed, and Shutdown returned", e.Code), nil
}

// work makes a Work call, answered at once.
func (d *demo) work(ctx context.Context, id uint32) error {
	var r Job
	_, err := binproto.RequestTyped(ctx, d.cl, binproto.Typed(Work, JobCodec, &Job{ID: id, Text: "work"}), JobCodec, &r)
	if err == nil && r.ID != id {
		err = fmt.Errorf("job %d answered with job %d", id, r.ID)
	}
	return err
}

// goHold makes a Hold call on a goroutine of its own; the channel gets its
// result.
func (d *demo) goHold(ctx context.Context, id uint32) <-chan error {
	done := make(chan error, 1)
	go func() {
		var r Job
		err := retry(ctx, func() error { // a stream of an earlier call may not have ended yet
			_, err := binproto.RequestTyped(ctx, d.cl, binproto.Typed(Hold, JobCodec, &Job{ID: id, Text: "hold"}), JobCodec, &r)
			return err
		})
		if err == nil && (r.ID != id || r.Text != "released") {
			err = fmt.Errorf("job %d answered with %+v", id, r)
		}
		done <- err
	}()
	return done
}

// retry calls call until it succeeds or fails with an error the server
// says is safe and useful to retry (binproto.Error.Retryable), with a
// growing back-off, within ctx.
func retry(ctx context.Context, call func() error) error {
	var e *binproto.Error
	for wait := time.Millisecond; ; wait *= 2 {
		err := call()
		if !errors.As(err, &e) || !e.Retryable() {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

// release makes a Release call on cl and returns how many held jobs it
// released.
func release(ctx context.Context, cl *binproto.Client) (int, error) {
	var r Job
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Release, JobCodec, &Job{ID: 1, Text: "release"}), JobCodec, &r); err != nil {
		return 0, err
	}
	return strconv.Atoi(r.Text)
}

// expectNotes receives the server's next len(ids) notes: one for each job
// of ids, in any order, each beginning with prefix. It returns the last.
func (d *demo) expectNotes(ctx context.Context, prefix string, ids ...uint32) (string, error) {
	want := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var last string
	for range ids {
		m, err := d.cl.Receive(ctx)
		if err != nil {
			return "", fmt.Errorf("waiting for the server's notes: %w", err)
		}
		var n Job
		if err := binproto.Decode(m, JobCodec, &n); err != nil || m.Type != Note {
			return "", fmt.Errorf("a push of type %d (%v), want a note", m.Type, err)
		}
		if !want[n.ID] || len(n.Text) < len(prefix) || n.Text[:len(prefix)] != prefix {
			return "", fmt.Errorf("note %q about job %d, want %q about one of %v", n.Text, n.ID, prefix, ids)
		}
		delete(want, n.ID)
		last = n.Text
	}
	return last, nil
}
