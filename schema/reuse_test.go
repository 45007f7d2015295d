package schema

import (
	"bytes"
	"testing"
)

// blob is the quick-start BENCHMARK message: one variable []byte field.
type blob struct {
	Data []byte `binproto:"data"`
}

// twoBlobs mixes a string, two []byte fields and numbers.
type twoBlobs struct {
	Name  string `binproto:"name"`
	Key   []byte `binproto:"key,len=4"` // at most 4 bytes
	Data  []byte `binproto:"data"`
	Count uint32 `binproto:"count,>I"`
	Other int    // untagged
}

func blobPayload(t testing.TB, n int, fill byte) []byte {
	t.Helper()
	p, err := MustCodec[blob]().AppendPayload(nil, &blob{Data: bytes.Repeat([]byte{fill}, n)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// DecodePayload copies a []byte field into the field's own array when it
// has the capacity, grows it when not, and gives a nil field a fresh copy.
func TestDecodeReusesBytes(t *testing.T) {
	c := MustCodec[blob]()
	var v blob
	tests := []struct {
		name  string
		n     int
		fill  byte
		reuse bool // the field's array before decoding is the one after
	}{
		{"nil field: fresh copy", 1000, 1, false},
		{"smaller: same array", 10, 2, true},
		{"same capacity: same array", 1000, 3, true},
		{"larger: grown", 64 << 10, 4, false},
		{"64 KiB again: same array", 64 << 10, 5, true},
		{"empty: same array", 0, 6, true},
		{"small after large: same array", 100, 7, true},
	}
	for _, tt := range tests {
		p := blobPayload(t, tt.n, tt.fill)
		before := v.Data[:cap(v.Data)]
		if err := c.DecodePayload(p, &v); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(v.Data) != tt.n || (tt.n > 0 && (v.Data[0] != tt.fill || v.Data[tt.n-1] != tt.fill)) {
			t.Fatalf("%s: decoded %d bytes, want %d of %d", tt.name, len(v.Data), tt.n, tt.fill)
		}
		if v.Data == nil {
			t.Fatalf("%s: nil field, want an empty one", tt.name)
		}
		same := cap(before) > 0 && cap(v.Data) > 0 && &before[0] == &v.Data[:1][0]
		if same != tt.reuse {
			t.Errorf("%s: array reused = %v, want %v", tt.name, same, tt.reuse)
		}
		if &p[len(p)-1] == &v.Data[:cap(v.Data)][cap(v.Data)-1] {
			t.Errorf("%s: the field aliases the payload", tt.name)
		}
	}
	// A nil field decoded from an empty value is empty, not nil, as before.
	var fresh blob
	if err := c.DecodePayload(blobPayload(t, 0, 0), &fresh); err != nil || fresh.Data == nil {
		t.Errorf("empty into a nil field: %v, nil = %v", err, fresh.Data == nil)
	}
	// NoCopy still aliases the payload, capped at its length.
	p := blobPayload(t, 50, 9)
	if err := c.DecodePayloadNoCopy(p, &v); err != nil || &v.Data[0] != &p[4] || cap(v.Data) != 50 {
		t.Errorf("DecodePayloadNoCopy: %v, aliases %v, cap %d", err, &v.Data[0] == &p[4], cap(v.Data))
	}
}

func TestReset(t *testing.T) {
	c := MustCodec[twoBlobs]()
	key, data := make([]byte, 4, 8), make([]byte, 100, 200)
	v := twoBlobs{Name: "n", Key: key, Data: data, Count: 7, Other: 3}
	c.Reset(&v, 100)
	if v.Name != "" || v.Count != 0 || v.Other != 0 {
		t.Errorf("Reset left %+v", v)
	}
	if v.Key == nil || len(v.Key) != 0 || &v.Key[:1][0] != &key[0] {
		t.Errorf("Reset did not keep the 8-byte key array")
	}
	if v.Data != nil {
		t.Errorf("Reset kept a %d-byte array over keep=100", cap(v.Data))
	}
	c.Reset(nil, 0) // no panic
	var z twoBlobs
	c.Reset(&z, 1<<20)
	if z.Key != nil || z.Data != nil {
		t.Error("Reset of a zero value made slices")
	}
	// A reset value decodes into the kept arrays.
	v.Data = data[:0]
	in := twoBlobs{Name: "x", Key: []byte{1, 2}, Data: []byte{3, 4, 5}, Count: 9}
	p, err := c.AppendPayload(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DecodePayload(p, &v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Key, in.Key) || !bytes.Equal(v.Data, in.Data) || v.Name != "x" || v.Count != 9 {
		t.Errorf("decoded %+v", v)
	}
	if &v.Key[0] != &key[0] || &v.Data[0] != &data[0] {
		t.Error("decoding after Reset did not reuse the arrays")
	}
}

// BenchmarkDecodeBlob decodes a 64 KiB []byte field into a fresh value
// each time and into a reused one.
func BenchmarkDecodeBlob(b *testing.B) {
	c := MustCodec[blob]()
	p := blobPayload(b, 64<<10, 1)
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		b.ReportAllocs()
		for range b.N {
			var v blob
			if err := c.DecodePayload(p, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		b.ReportAllocs()
		var v blob
		for range b.N {
			if err := c.DecodePayload(p, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dynamic", func(b *testing.B) {
		s := c.Structure()
		b.SetBytes(int64(len(p)))
		b.ReportAllocs()
		for range b.N {
			if _, err := s.DecodePayload(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
