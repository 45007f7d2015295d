//go:build !race

package schema

import (
	"testing"
)

// The race detector allocates; these tests run without it.

func TestZeroAllocs(t *testing.T) {
	sensorCodec := MustCodec[sensor]()
	statusCodec := MustCodec[status]()
	sensorPayload, _ := sensorCodec.AppendPayload(nil, &benchSensor)
	statusPayload, _ := statusCodec.AppendPayload(nil, &benchStatus100)
	buf := make([]byte, 0, 256)
	var sv sensor
	var st status
	dyn := statusCodec.Structure()
	dynValues := map[string]any{"status_code": benchStatus100.Code, "message": benchStatus100.Message}
	tests := []struct {
		name string
		max  float64
		run  func() error
	}{
		{"typed sensor encode", 0, func() (err error) {
			buf, err = sensorCodec.AppendPayload(buf[:0], &benchSensor)
			return err
		}},
		{"typed sensor decode", 0, func() error { return sensorCodec.DecodePayload(sensorPayload, &sv) }},
		{"typed sensor decode no copy", 0, func() error { return sensorCodec.DecodePayloadNoCopy(sensorPayload, &sv) }},
		{"typed status100 encode", 0, func() (err error) {
			buf, err = statusCodec.AppendPayload(buf[:0], &benchStatus100)
			return err
		}},
		{"typed status100 decode no copy", 0, func() error { return statusCodec.DecodePayloadNoCopy(statusPayload, &st) }},
		{"typed status100 decode", 1, func() error { return statusCodec.DecodePayload(statusPayload, &st) }},
		{"dynamic status100 encode", 0, func() (err error) {
			buf, err = dyn.AppendPayload(buf[:0], dynValues)
			return err
		}},
	}
	// A 64 KiB []byte field decoded into a reused value, or into one reset
	// for a pool, allocates nothing; a fresh value takes one allocation,
	// the dynamic decoder a map and a copy.
	blobCodec := MustCodec[blob]()
	blobPayload := blobPayload(t, 64<<10, 1)
	var reused, pooled blob
	blobTests := []struct {
		name string
		max  float64
		run  func() error
	}{
		{"typed 64 KiB blob decode, reused value", 0, func() error { return blobCodec.DecodePayload(blobPayload, &reused) }},
		{"typed 64 KiB blob decode, reset value", 0, func() error {
			blobCodec.Reset(&pooled, 1<<20)
			return blobCodec.DecodePayload(blobPayload, &pooled)
		}},
		{"typed 64 KiB blob decode, fresh value", 1, func() error {
			var v blob
			return blobCodec.DecodePayload(blobPayload, &v)
		}},
		{"typed 64 KiB blob decode no copy", 0, func() error { return blobCodec.DecodePayloadNoCopy(blobPayload, &reused) }},
		{"dynamic 64 KiB blob decode", 4, func() error {
			_, err := blobCodec.Structure().DecodePayload(blobPayload)
			return err
		}},
	}
	tests = append(tests, blobTests...)
	for _, tt := range tests {
		var err error
		got := testing.AllocsPerRun(200, func() {
			if e := tt.run(); e != nil {
				err = e
			}
		})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if got > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, got, tt.max)
		}
	}
	if sv != benchSensor || st != benchStatus100 {
		t.Errorf("decoded %v %v", sv, st.Code)
	}
}
