package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto"
)

// DeviceReport is what a fleet of devices saw.
type DeviceReport struct {
	Readings int64 // readings sent and flushed
	Logs     int64 // log lines acknowledged
	Configs  int64 // configuration pushes received
	Closed   int64 // devices that saw the gateway go away
}

// Devices runs n devices against the gateway at addr until ctx ends or the
// gateway goes away: each sends a reading every interval and a log line
// every tenth reading, and counts the configurations pushed to it.
func Devices(ctx context.Context, p *binproto.Protocol, addr, token string, n int, interval time.Duration) (DeviceReport, error) {
	var rep DeviceReport
	var configs, readings, logs, closed atomic.Int64
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for d := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- device(ctx, p, addr, token, uint32(d), interval, &readings, &logs, &configs, &closed)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	rep.Readings, rep.Logs, rep.Configs, rep.Closed = readings.Load(), logs.Load(), configs.Load(), closed.Load()
	return rep, errors.Join(all...)
}

func device(ctx context.Context, p *binproto.Protocol, addr, token string, id uint32, interval time.Duration, readings, logs, configs, closed *atomic.Int64) error {
	onConfig := binproto.NewTypedHandler(ConfigCodec, func(_ context.Context, _ *binproto.Conn, c *ConfigMsg) (binproto.Outgoing, error) {
		configs.Add(1)
		return binproto.NoReply, nil
	})
	cl, err := binproto.Dial(ctx, p, addr, &binproto.ClientOptions{
		Auth:     binproto.TokenCredentials{Types: authTypes, Token: []byte(token)},
		Handlers: map[binproto.MessageType]binproto.Handler{Config: onConfig},
	})
	if err != nil {
		return fmt.Errorf("device %d: %w", id, err)
	}
	defer cl.Close()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	// ctx says when to stop; a message begun is finished (within 5 s), so
	// that what the gateway counts and what the device counts agree.
	op := context.WithoutCancel(ctx)
	var sent int64
	for seq := uint32(0); ; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case <-cl.Conn().Done():
			closed.Add(1)
			return nil
		case <-tick.C:
		}
		opCtx, cancel := context.WithTimeout(op, 5*time.Second)
		err := sendReading(opCtx, cl, id, seq)
		cancel()
		if err != nil {
			return gone(err, closed)
		}
		sent++
		readings.Add(1)
		if seq%10 == 9 {
			var ack AckMsg
			l := LogMsg{Device: id, Line: fmt.Sprintf("device %d: %d readings", id, sent)}
			opCtx, cancel := context.WithTimeout(op, 5*time.Second)
			_, err := binproto.RequestTyped(opCtx, cl, binproto.Typed(LogLine, LogCodec, &l), AckCodec, &ack)
			cancel()
			if err != nil {
				return gone(err, closed)
			}
			logs.Add(1)
		}
	}
}

// sendReading sends one reading and waits until it is written: Send only
// queues it.
func sendReading(ctx context.Context, cl *binproto.Client, id, seq uint32) error {
	r := ReadingMsg{Device: id, Seq: seq, Temp: 20 + float32(seq%10), Humidity: 0.5}
	if err := cl.Send(ctx, binproto.Typed(Reading, ReadingCodec, &r)); err != nil {
		return err
	}
	return cl.Flush(ctx)
}

// gone tells the error of a gateway that went away (counted) from others.
func gone(err error, closed *atomic.Int64) error {
	if errors.Is(err, binproto.ErrConnClosed) {
		closed.Add(1)
		return nil
	}
	return err
}
