package binproto

import "context"

// SendSingle dials addr, sends one message and closes the connection once
// the message is written: Python's send_single. It fails if the message
// could not be written (see Client.Flush).
func SendSingle(ctx context.Context, p *Protocol, addr string, out Outgoing, opts *ClientOptions) error {
	cl, err := Dial(ctx, p, addr, opts)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Send(ctx, out); err != nil {
		return err
	}
	return cl.Flush(ctx)
}

// RequestSingle dials addr, sends one request, waits for its reply and
// closes the connection: Python's send_and_receive_single.
func RequestSingle(ctx context.Context, p *Protocol, addr string, out Outgoing, opts *ClientOptions) (*Message, error) {
	cl, err := Dial(ctx, p, addr, opts)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return cl.Request(ctx, out)
}
