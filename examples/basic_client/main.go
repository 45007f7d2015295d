// Command basic_client talks to a server of the Python binary_protocol
// quick-start types (basic_server, or the Python package's own server): it
// sends one message of each type, checks that each echo equals what it
// sent, prints them, and exits non-zero on any mismatch.
//
//	go run ./examples/basic_client -addr 127.0.0.1:9000 [-checksum] [-udp]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "basic_client:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("basic_client", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "server address")
	checksum := fs.Bool("checksum", false, "add the CRC-32 checksum trailer to every frame")
	udp := fs.Bool("udp", false, "talk UDP instead of TCP")
	timeout := fs.Duration("timeout", 10*time.Second, "overall time limit")
	bench := addBenchFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if bench.enabled() {
		if *checksum || *udp {
			return errors.New("-checksum and -udp do not apply to -benchmark (the benchmark speaks plain TCP)")
		}
		return bench.run(fs, *addr, out)
	}
	proto, err := quickstart.Protocol(quickstart.Options{Checksum: *checksum, UDP: *udp})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cl, err := binproto.Dial(ctx, proto, *addr, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	return checkEchoes(ctx, cl, out)
}

// checkEchoes sends one message of each quick-start type and compares each
// echo with what was sent.
func checkEchoes(ctx context.Context, cl *binproto.Client, out io.Writer) error {
	var errs []error
	sensor := quickstart.Sensor{Sensor1: 1.5, Sensor2: -2.25, Sensor3: 0.125, Sensor4: 3}
	var sensorBack quickstart.Sensor
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &sensor), quickstart.SensorCodec, &sensorBack); err != nil {
		errs = append(errs, fmt.Errorf("SENSOR_DATA: %w", err))
	} else {
		errs = append(errs, report(out, "SENSOR_DATA", sensor, sensorBack, sensor == sensorBack))
	}

	status := map[string]any{"status_code": uint64(200), "message": "héllo from Go ✓"}
	if m, err := cl.Request(ctx, binproto.Msg(quickstart.Status, status)); err != nil {
		errs = append(errs, fmt.Errorf("STATUS: %w", err))
	} else if back, err := m.Fields(); err != nil {
		errs = append(errs, fmt.Errorf("STATUS: %w", err))
	} else {
		same := back["status_code"] == status["status_code"] && back["message"] == status["message"]
		errs = append(errs, report(out, "STATUS", status, back, same))
	}

	blob := quickstart.Blob{Data: bytes.Repeat([]byte{0, 1, 2, 0xff}, 256)}
	var blobBack quickstart.Blob
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.Benchmark, quickstart.BlobCodec, &blob), quickstart.BlobCodec, &blobBack); err != nil {
		errs = append(errs, fmt.Errorf("BENCHMARK: %w", err))
	} else {
		errs = append(errs, report(out, "BENCHMARK", fmt.Sprintf("%d bytes", len(blob.Data)), fmt.Sprintf("%d bytes", len(blobBack.Data)), bytes.Equal(blob.Data, blobBack.Data)))
	}

	fixed := quickstart.Fixed{Value: 0xdeadbeef}
	var fixedBack quickstart.Fixed
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.FixedBenchmark, quickstart.FixedCodec, &fixed), quickstart.FixedCodec, &fixedBack); err != nil {
		errs = append(errs, fmt.Errorf("FIXED_BENCHMARK: %w", err))
	} else {
		errs = append(errs, report(out, "FIXED_BENCHMARK", fixed, fixedBack, fixed == fixedBack))
	}
	return errors.Join(errs...)
}

func report(out io.Writer, name string, sent, got any, same bool) error {
	verdict := "ok"
	if !same {
		verdict = "MISMATCH"
	}
	fmt.Fprintf(out, "%-16s %-8s sent %+v, got %+v\n", name, verdict, sent, got)
	if !same {
		return fmt.Errorf("%s: echo differs from what was sent", name)
	}
	return nil
}
