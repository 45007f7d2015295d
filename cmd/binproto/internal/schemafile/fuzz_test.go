package schemafile

import (
	"os"
	"testing"
)

// FuzzParse checks that no schema file makes Parse panic, and that every
// schema it accepts builds a protocol whose samples encode and decode.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(gatewayFile); err == nil {
		f.Add(b)
	}
	f.Add([]byte("types:\n  - {name: a, code: 1, fields: [{name: x, format: \"<q\"}, {name: y, type: bytes, length: 3}]}\n"))
	f.Add([]byte("header: \">B\"\nchecksum: crc32c\nnot_found: 7\ntypes: [{name: a, code: 6}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		p, err := s.Protocol()
		if err != nil {
			t.Fatalf("accepted schema, protocol error: %v", err)
		}
		for _, ty := range s.Types {
			v := ty.Sample(1, 3)
			b, err := p.AppendMessage(nil, ty.MessageType(), v)
			if err != nil {
				if ty.Structure().Variable() {
					continue // a variable sample may exceed a tiny max_payload
				}
				t.Fatalf("type %s: encode sample: %v", ty.Name, err)
			}
			m, err := p.ParseFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Fields()
			if err != nil || !ty.Equal(v, got) {
				t.Fatalf("type %s: decoded %v (%v), sent %v", ty.Name, got, err, v)
			}
		}
	})
}

// FuzzFromJSON checks that no JSON makes FromJSON panic, and that what it
// accepts converts back to JSON that it accepts again with the same values.
func FuzzFromJSON(f *testing.F) {
	s, err := Load(gatewayFile)
	if err != nil {
		f.Fatal(err)
	}
	log := s.Type("log")
	f.Add([]byte(`{"device_id": 7, "level": 3, "message": "m", "context": "AAEC"}`))
	f.Add([]byte(`{"device_id": 1e3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := log.FromJSON(data)
		if err != nil {
			return
		}
		back, err := log.FromJSON(log.AppendJSON(nil, v))
		if err != nil || !log.Equal(v, back) {
			t.Fatalf("%s: back %v (%v), want %v", data, back, err, v)
		}
	})
}
