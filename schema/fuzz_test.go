package schema

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/binproto/binproto/wire"
)

// fuzzStructures are the structures the fuzz targets decode with: a few
// written here and every distinct structure of the golden vectors.
var fuzzStructures = sync.OnceValue(func() []*Structure {
	list := []*Structure{
		MustStructure(Float32("s1"), Float32("s2"), Float32("s3"), Float32("s4")),
		MustStructure(Uint32("code"), Str("message")),
		MustStructure(Int8("a"), Num("b", "<h"), Int32("c"), Num("d", "<q"), Uint8("e"), Uint16("f"), Num("g", "<I"), Uint64("h")),
		MustStructure(Str("user"), Bytes("blob"), Uint16("n"), Str("tail")),
		MustStructure(FixedStr("name", 8), Uint32("value")),
		MustStructure(FixedStr("name", 3), FixedBytes("key", 2), Bytes("blob")),
		MustStructure(Float16("e"), Num("f", "<f"), Float64("d"), Bool("b")),
		MustStructure(),
		MustStructure(Float64("x"), Num("y", "<d")),
		MustStructure(FixedBytes("key", 4), Bool("ok"), Num("l", "@l")),
	}
	seen := make(map[string]bool)
	for _, s := range list {
		seen[fmt.Sprint(s.Fields())] = true
	}
	for _, g := range goldenPayloads() {
		if key := fmt.Sprint(g.s.Fields()); !seen[key] {
			seen[key] = true
			list = append(list, g.s)
		}
	}
	return list
})

type goldenPayload struct {
	s       *Structure
	payload []byte
}

// goldenPayloads returns the payload of every golden vector whose frame
// parses, with its structure.
var goldenPayloads = sync.OnceValue(func() []goldenPayload {
	var out []goldenPayload
	t := &testing.T{}
	for _, v := range loadVectors(t) {
		g := newGolden(t, v)
		if g.raw == nil {
			continue
		}
		if fr, err := g.framing.ParseExact(g.raw); err == nil && fr.Type != g.framing.NotFound {
			out = append(out, goldenPayload{g.s, fr.Payload})
		}
	}
	return out
})

// seedFuzz adds the golden payloads, and a few malformed variants, as
// seeds of a fuzz target taking (structure index, payload).
func seedFuzz(f *testing.F) {
	structures := fuzzStructures()
	for _, g := range goldenPayloads() {
		if len(g.payload) > 256 {
			continue // large seeds make minimization slow; small ones cover the same paths
		}
		for i, s := range structures {
			if reflect.DeepEqual(s.Fields(), g.s.Fields()) {
				f.Add(uint8(i), g.payload)
				if len(g.payload) > 0 {
					f.Add(uint8(i), g.payload[:len(g.payload)-1])
				}
				f.Add(uint8(i), append(bytes.Clone(g.payload), 0))
			}
		}
	}
	f.Add(uint8(1), []byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
}

// roundTrips reports whether decoding then encoding any valid payload of s
// gives back the same bytes. It does not for "?" (any non-zero byte is
// true), float16 and float32 (NaN payloads change through float64) and
// fixed-length strings of fixed structures (cut at the first 0x00).
func roundTrips(s *Structure) bool {
	for _, f := range s.Fields() {
		switch {
		case f.Kind == KindNumber:
			format := wire.MustParseFormat(f.Format)
			if format.Class() == wire.ClassBool || (format.Class() == wire.ClassFloat && format.Size() < 8) {
				return false
			}
		case f.Kind == KindString && f.FixedLength > 0 && !s.Variable():
			return false
		}
	}
	return true
}

func FuzzDecodePayload(f *testing.F) {
	seedFuzz(f)
	structures := fuzzStructures()
	f.Fuzz(func(t *testing.T, sel uint8, p []byte) {
		s := structures[int(sel)%len(structures)]
		m, err := s.DecodePayload(p)
		if err != nil {
			var fe *FieldError
			if m != nil || !errorsAs(err, &fe) || sentinelOf(err) == err {
				t.Fatalf("decode error %v (%T) with values %v", err, err, m)
			}
			return
		}
		again, err := s.AppendPayload(nil, m)
		if err != nil {
			t.Fatalf("re-encoding decoded %v: %v", m, err)
		}
		if roundTrips(s) && !bytes.Equal(again, p) {
			t.Fatalf("round trip:\n got %x\nwant %x", again, p)
		}
		m2, err := s.DecodePayload(again)
		if err != nil {
			t.Fatalf("decoding re-encoded %x: %v", again, err)
		}
		if err := sameMap(m2, m); err != nil {
			t.Fatalf("decode(encode(decode(p))) != decode(p): %v", err)
		}
		if !s.Variable() && len(p) != s.Size() {
			t.Fatalf("decoded %d bytes with a fixed structure of %d", len(p), s.Size())
		}
	})
}

// typedPlans caches the typed plans of each fuzz structure, in the Go type
// variants of structFor.
var typedPlans = sync.OnceValue(func() [][]typedPlan {
	var out [][]typedPlan
	for _, s := range fuzzStructures() {
		var plans []typedPlan
		for _, v := range []struct{ wide, array bool }{{false, false}, {true, false}, {false, true}} {
			pl, typ, err := structFor(s, v.wide, v.array)
			if err != nil {
				panic(err)
			}
			plans = append(plans, typedPlan{pl, typ})
		}
		out = append(out, plans)
	}
	return out
})

type typedPlan struct {
	pl  *plan
	typ reflect.Type
}

func FuzzTypedDecode(f *testing.F) {
	seedFuzz(f)
	structures := fuzzStructures()
	plans := typedPlans()
	f.Fuzz(func(t *testing.T, sel uint8, p []byte) {
		i := int(sel) % len(structures)
		s := structures[i]
		want, wantErr := s.DecodePayload(p)
		for _, tp := range plans[i] {
			for _, alias := range []bool{false, true} {
				tv := newTyped(tp.pl, tp.typ)
				err := tp.pl.decode(p, tv.ptr(), alias)
				if !sameError(err, wantErr) {
					t.Fatalf("%v alias=%v: typed err %v, dynamic %v", tp.typ, alias, err, wantErr)
				}
				if err != nil {
					continue
				}
				if err := sameMap(tv.toMap(false), want); err != nil {
					t.Fatalf("%v alias=%v: %v", tp.typ, alias, err)
				}
				// Encoding agrees too.
				got, err := tp.pl.appendPayload(nil, tv.ptr())
				dyn, derr := s.AppendPayload(nil, tv.toMap(true))
				if !sameError(err, derr) || !bytes.Equal(got, dyn) {
					t.Fatalf("%v: typed encode %x, %v; dynamic %x, %v", tp.typ, got, err, dyn, derr)
				}
			}
		}
	})
}
