package schemafile

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func gateway(t testing.TB) *Schema {
	t.Helper()
	s, err := Load(gatewayFile)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSampleRoundTrip encodes every type's samples with the dynamic
// structure and as JSON, and decodes them back.
func TestSampleRoundTrip(t *testing.T) {
	s := gateway(t)
	for _, ty := range s.Types {
		for i := range 50 {
			v := ty.Sample(i, 20)
			p, err := ty.Structure().AppendPayload(nil, v)
			if err != nil {
				t.Fatalf("%s sample %d: %v", ty.Name, i, err)
			}
			got, err := ty.Structure().DecodePayload(p)
			if err != nil {
				t.Fatal(err)
			}
			if !ty.Equal(v, got) {
				t.Fatalf("%s sample %d: decoded %v, sent %v", ty.Name, i, got, v)
			}
			j := ty.AppendJSON(nil, v)
			back, err := ty.FromJSON(j)
			if err != nil {
				t.Fatalf("%s: %s: %v", ty.Name, j, err)
			}
			if !ty.Equal(v, back) {
				t.Fatalf("%s JSON %s: back %v, sent %v", ty.Name, j, back, v)
			}
		}
	}
	if a, b := s.Types[0].Sample(1, 8), s.Types[0].Sample(2, 8); s.Types[0].Equal(a, b) {
		t.Error("consecutive samples are equal")
	}
	if a, b := s.Types[1].Sample(3, 8), s.Types[1].Sample(3, 8); !s.Types[1].Equal(a, b) {
		t.Error("samples are not deterministic")
	}
	if got := len(s.Types[1].Sample(0, 100)["message"].(string)); got != 100 {
		t.Errorf("variable string of %d bytes, want 100", got)
	}
	if got := len(s.Types[0].Sample(0, 100)["unit"].(string)); got != 4 {
		t.Errorf("fixed string of %d bytes, want 4", got)
	}
}

func TestJSON(t *testing.T) {
	s := gateway(t)
	log := s.Type("log")
	v, err := log.FromJSON([]byte(`{"device_id": 7, "level": 3, "message": "héllo", "context": "AAEC"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v["device_id"] != uint64(7) || v["message"] != "héllo" || !bytes.Equal(v["context"].([]byte), []byte{0, 1, 2}) {
		t.Errorf("values %v", v)
	}
	if got, want := string(log.AppendJSON(nil, v)), `{"device_id":7,"level":3,"message":"héllo","context":"AAEC"}`; got != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
	reading := s.Type("reading")
	r := reading.Sample(0, 0)
	r["temperature"], r["humidity"] = math.Inf(-1), math.NaN()
	j := string(reading.AppendJSON(nil, r))
	if !strings.Contains(j, `"temperature":"-Inf","humidity":"NaN"`) {
		t.Errorf("JSON %s", j)
	}
	r["temperature"] = float64(float32(0.1))
	if j := string(reading.AppendJSON(nil, r)); !strings.Contains(j, `"temperature":0.1,`) {
		t.Errorf("float32 not in its shortest form: %s", j)
	}
	if _, err := reading.FromJSON(reading.AppendJSON(nil, r)); err != nil {
		t.Error(err)
	}

	bad := []struct{ json, want string }{
		{`[1]`, "not a JSON object"},
		{`{} {}`, "more than one JSON value"},
		{`null`, "not a JSON object"},
		{`{"device_id": 7, "level": 3, "message": "m"}`, "field context: missing"},
		{`{"device_id": 7, "level": 3, "message": "m", "context": "", "x": 1}`, "field x: no such field (fields: device_id, level, message, context)"},
		{`{"device_id": -1, "level": 3, "message": "m", "context": ""}`, `field device_id: want a whole number >= 0 for format ">I", got "-1"`},
		{`{"device_id": 1.5, "level": 3, "message": "m", "context": ""}`, "field device_id: want a whole number"},
		{`{"device_id": 1, "level": 3, "message": 5, "context": ""}`, "field message: want a string, got a number"},
		{`{"device_id": 1, "level": 3, "message": "m", "context": "!!"}`, "field context: not base64"},
		{`{"device_id": true, "level": 3, "message": "m", "context": ""}`, `field device_id: want a number for format ">I", got a bool`},
	}
	for _, b := range bad {
		_, err := log.FromJSON([]byte(b.json))
		if err == nil || !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("FromJSON(%s) = %v, want %q", b.json, err, b.want)
		}
	}
	if _, err := reading.FromJSON([]byte(`{"device_id":1,"seq":2,"temperature":1,"humidity":1,"battery_mv":1,"door_open":1,"unit":"C"}`)); err == nil || !strings.Contains(err.Error(), "want true or false") {
		t.Errorf("bool from a number: %v", err)
	}
}

func TestFromPairs(t *testing.T) {
	log := gateway(t).Type("log")
	v, err := log.FromPairs([]string{"device_id=9", "level=1", "message=a=b", "context=raw"})
	if err != nil {
		t.Fatal(err)
	}
	if v["device_id"] != uint64(9) || v["message"] != "a=b" || string(v["context"].([]byte)) != "raw" {
		t.Errorf("values %v", v)
	}
	for _, tt := range []struct {
		pairs []string
		want  string
	}{
		{[]string{"device_id"}, "is not name=value"},
		{[]string{"nope=1"}, "field nope: no such field"},
		{[]string{"level=1", "level=2"}, "field level: given twice"},
		{[]string{"device_id=1", "level=1", "message=m"}, "field context: missing"},
		{[]string{"device_id=x"}, "field device_id: want a whole number"},
	} {
		if _, err := log.FromPairs(tt.pairs); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromPairs(%q) = %v, want %q", tt.pairs, err, tt.want)
		}
	}
	reading := gateway(t).Type("reading")
	if _, err := reading.FromPairs([]string{"device_id=1", "seq=2", "temperature=-Inf", "humidity=NaN", "battery_mv=3", "door_open=yes", "unit=C"}); err == nil || !strings.Contains(err.Error(), "want true or false") {
		t.Errorf("bool: %v", err)
	}
}
