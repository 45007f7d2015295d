package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

// The job types of the example, beside the four quick-start types.
const (
	Work    binproto.MessageType = 10 // a Job, answered at once with itself
	Hold    binproto.MessageType = 11 // a Job held until a Release, or until its context ends
	Release binproto.MessageType = 12 // releases every held Job; answered with how many
	Parse   binproto.MessageType = 13 // a Job whose text is a number: answered doubled, or CodeInvalid
	Note    binproto.MessageType = 14 // pushed by the server: a held Job began or ended
)

// Job is the message of every job type.
type Job struct {
	ID   uint32 `binproto:"id,>I"`
	Text string `binproto:"text"`
}

// JobCodec is Job's compiled codec.
var JobCodec = binproto.MustCodec[Job]()

// The settings the example's server and client share.
const (
	maxStreams      = 16                     // NativeOptions.MaxConcurrentStreams
	serverKeepalive = time.Second            // NativeOptions.Keepalive: pings to a client silent this long
	clientKeepalive = 200 * time.Millisecond // ClientOptions.Keepalive: pings to a server silent this long
	idleTimeout     = time.Second            // Config.IdleTimeout: a connection with no request this long closes
)

// newProtocol returns the example's protocol: the quick-start types (so
// that compatible clients, the Python package's among them, are served on
// the same port) and the job types. Both ends of a native connection must
// build the same one: the preface compares them.
func newProtocol() (*binproto.Protocol, error) {
	types := map[binproto.MessageType]*binproto.Structure{
		quickstart.SensorData:     quickstart.SensorCodec.Structure(),
		quickstart.Status:         quickstart.StatusCodec.Structure(),
		quickstart.Benchmark:      quickstart.BlobCodec.Structure(),
		quickstart.FixedBenchmark: quickstart.FixedCodec.Structure(),
	}
	replies := map[binproto.MessageType][]binproto.MessageType{}
	for t := range types {
		replies[t] = []binproto.MessageType{t}
	}
	for _, t := range []binproto.MessageType{Work, Hold, Release, Parse, Note} {
		types[t] = JobCodec.Structure()
		replies[t] = []binproto.MessageType{t}
	}
	delete(replies, Note)
	return binproto.NewProtocol(binproto.Config{
		Types:       types,
		Replies:     replies, // for compatible clients; native ones match replies by request id
		Pushes:      []binproto.MessageType{Note},
		IdleTimeout: idleTimeout,
	})
}

// jobs is the state of the held jobs of a server.
type jobs struct {
	mu   sync.Mutex
	gate chan struct{} // closed by release: every job held until then returns
	held int           // jobs waiting on gate
}

// newServer returns the example's server: the quick-start echo, the job
// handlers, a validator, and the native profile's options. release lets
// the jobs held on it go.
func newServer(p *binproto.Protocol, log *slog.Logger) (srv *binproto.Server, release func() int) {
	srv = quickstart.EchoServer(p)
	srv.Logger = log
	srv.Native = binproto.NativeOptions{
		MaxConcurrentStreams: maxStreams,
		Keepalive:            serverKeepalive,
	}
	j := &jobs{gate: make(chan struct{})}
	binproto.HandleTyped(srv, Work, JobCodec, func(_ context.Context, _ *binproto.Conn, job *Job) (binproto.Outgoing, error) {
		return binproto.Typed(Work, JobCodec, job), nil
	})
	binproto.HandleTyped(srv, Hold, JobCodec, j.hold)
	binproto.HandleTyped(srv, Release, JobCodec, func(_ context.Context, _ *binproto.Conn, job *Job) (binproto.Outgoing, error) {
		return binproto.Typed(Release, JobCodec, &Job{ID: job.ID, Text: strconv.Itoa(j.release())}), nil
	})
	binproto.HandleTyped(srv, Parse, JobCodec, func(_ context.Context, _ *binproto.Conn, job *Job) (binproto.Outgoing, error) {
		n, err := strconv.Atoi(job.Text)
		if err != nil {
			// The caller gets this code and message: errors.As(err, &e) with e *binproto.Error.
			return binproto.NoReply, binproto.Errorf(binproto.CodeInvalid, "%q is not a number", job.Text)
		}
		return binproto.Typed(Parse, JobCodec, &Job{ID: job.ID, Text: strconv.Itoa(2 * n)}), nil
	})
	// A validator runs before the handler: a refused request is answered
	// with CodeInvalid, marked not processed.
	binproto.ValidateTyped(srv, Work, JobCodec, func(job *Job) error {
		if job.ID == 0 {
			return errors.New("job id 0")
		}
		return nil
	})
	return srv, j.release
}

// hold tells its client the job is held (and its deadline), then waits
// until release or until its context ends: the client's deadline, carried
// on the wire, or its cancellation. It tells the client how it ended.
func (j *jobs) hold(ctx context.Context, c *binproto.Conn, job *Job) (binproto.Outgoing, error) {
	id := job.ID // job is the handler's to use until it returns
	deadline := "no deadline"
	if dl, ok := ctx.Deadline(); ok {
		deadline = "deadline in " + time.Until(dl).Round(10*time.Millisecond).String()
	}
	j.mu.Lock()
	gate := j.gate
	j.held++
	j.mu.Unlock()
	note(c, id, "held, "+deadline)
	select {
	case <-gate:
		return binproto.Typed(Hold, JobCodec, &Job{ID: id, Text: "released"}), nil
	case <-ctx.Done():
		j.mu.Lock()
		if j.gate == gate {
			j.held--
		}
		j.mu.Unlock()
		note(c, id, "ended: "+ctx.Err().Error())
		return binproto.NoReply, ctx.Err() // the error frame says deadline exceeded or cancelled
	}
}

// release lets every held job go and returns how many there were.
func (j *jobs) release() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := j.held
	close(j.gate)
	j.gate, j.held = make(chan struct{}), 0
	return n
}

// note pushes a Note about job id to the client on c, within the
// connection's context (the handler's may have ended). A note that cannot
// be queued is lost with its connection.
func note(c *binproto.Conn, id uint32, text string) {
	_ = c.Send(c.Context(), binproto.Typed(Note, JobCodec, &Job{ID: id, Text: text}))
}

// describe names the native options a server runs with.
func describe(srv *binproto.Server) string {
	return fmt.Sprintf("max %d concurrent requests per connection, keepalive %v, idle timeout %v",
		srv.Native.MaxConcurrentStreams, srv.Native.Keepalive, idleTimeout)
}
