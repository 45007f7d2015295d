package report

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes, starting from valid results
// files with and without a capacity section (results.json is read back
// from earlier runs by --compare). It must never panic, and what it
// accepts must survive a Marshal/Decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, r := range []*Results{sampleResults(1), withCapacity(sampleResults(1))} {
		data, err := r.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"schema_version": 1, "capacity": {"results": [{"steps": []}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		once, err := r.Marshal()
		if err != nil {
			t.Fatalf("accepted results do not marshal: %v", err)
		}
		r2, err := Decode(once)
		if err != nil {
			t.Fatalf("marshalled results do not decode: %v", err)
		}
		twice, err := r2.Marshal()
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the results: %v", err)
		}
	})
}
