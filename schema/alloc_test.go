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
