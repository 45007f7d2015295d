package wire_test

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"

	"github.com/binproto/binproto/wire"
)

func TestParseFormat(t *testing.T) {
	longSize := 8
	if runtime.GOOS == "windows" || math.MaxUint == math.MaxUint32 {
		longSize = 4
	}
	tests := []struct {
		s     string
		size  int
		class wire.Class
		big   bool
	}{
		{">b", 1, wire.ClassInt, true}, {"<B", 1, wire.ClassUint, false}, {"?", 1, wire.ClassBool, false},
		{"!h", 2, wire.ClassInt, true}, {"<H", 2, wire.ClassUint, false}, {">i", 4, wire.ClassInt, true},
		{">I", 4, wire.ClassUint, true}, {">l", 4, wire.ClassInt, true}, {"<L", 4, wire.ClassUint, false},
		{"=l", 4, wire.ClassInt, false}, {"@l", longSize, wire.ClassInt, false}, {"L", longSize, wire.ClassUint, false},
		{">q", 8, wire.ClassInt, true}, {"<Q", 8, wire.ClassUint, false}, {">e", 2, wire.ClassFloat, true},
		{"<f", 4, wire.ClassFloat, false}, {"!d", 8, wire.ClassFloat, true}, {">?", 1, wire.ClassBool, true},
	}
	for _, tt := range tests {
		f, err := wire.ParseFormat(tt.s)
		if err != nil {
			t.Errorf("ParseFormat(%q): %v", tt.s, err)
			continue
		}
		big := tt.big
		if tt.s[0] != '>' && tt.s[0] != '!' && tt.s[0] != '<' {
			big = binary.NativeEndian.Uint16([]byte{0, 1}) == 1 // native order
		}
		if f.Size() != tt.size || f.Class() != tt.class || f.BigEndian() != big || f.String() != tt.s || !f.Valid() || f.Code() != tt.s[len(tt.s)-1] {
			t.Errorf("ParseFormat(%q) = size %d class %d big %v %q", tt.s, f.Size(), f.Class(), f.BigEndian(), f)
		}
	}
	for _, s := range []string{"", ">", "<", "x", "s", "p", "P", "n", "N", "c", "3f", ">>f", ">fx", "^f", ">x", "ff", " f", ">F"} {
		if _, err := wire.ParseFormat(s); !errors.Is(err, wire.ErrFormat) {
			t.Errorf("ParseFormat(%q) = %v, want ErrFormat", s, err)
		}
	}
	if (wire.Format{}).Valid() {
		t.Error("the zero Format is valid")
	}
}

func TestMustParseFormatPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	wire.MustParseFormat("bad")
}

func TestIntegerRanges(t *testing.T) {
	tests := []struct {
		s        string
		min      int64
		max      uint64
		overflow bool // max+1 is representable as uint64
	}{
		{">b", -128, 127, true}, {">B", 0, 255, true}, {">h", -32768, 32767, true}, {">H", 0, 65535, true},
		{">i", math.MinInt32, math.MaxInt32, true}, {">I", 0, math.MaxUint32, true},
		{">q", math.MinInt64, math.MaxInt64, true}, {">Q", 0, math.MaxUint64, false},
	}
	for _, tt := range tests {
		f := wire.MustParseFormat(tt.s)
		if f.MinInt() != tt.min || f.MaxUint() != tt.max {
			t.Errorf("%q: MinInt %d MaxUint %d", tt.s, f.MinInt(), f.MaxUint())
		}
		if err := f.CheckInt(tt.min); err != nil {
			t.Errorf("%q: CheckInt(min): %v", tt.s, err)
		}
		if err := f.CheckUint(tt.max); err != nil {
			t.Errorf("%q: CheckUint(max): %v", tt.s, err)
		}
		if tt.min > math.MinInt64 {
			if err := f.CheckInt(tt.min - 1); !errors.Is(err, wire.ErrRange) {
				t.Errorf("%q: CheckInt(min-1) = %v", tt.s, err)
			}
		}
		if tt.overflow {
			if err := f.CheckUint(tt.max + 1); !errors.Is(err, wire.ErrRange) {
				t.Errorf("%q: CheckUint(max+1) = %v", tt.s, err)
			}
		}
		if tt.max <= math.MaxInt64 {
			if err := f.CheckInt(int64(tt.max)); err != nil {
				t.Errorf("%q: CheckInt(max): %v", tt.s, err)
			}
		}
		// Bits and Int are the inverse of PutBits, with sign extension.
		b := make([]byte, 8)
		f.PutBits(b, uint64(tt.min))
		if got := f.Int(b); got != tt.min {
			t.Errorf("%q: Int(PutBits(min)) = %d", tt.s, got)
		}
		f.PutBits(b, tt.max)
		if got := f.Bits(b); got != tt.max {
			t.Errorf("%q: Bits(PutBits(max)) = %d", tt.s, got)
		}
	}
}

func TestAppendErrorsLeaveDst(t *testing.T) {
	dst := []byte("ab")
	for _, tc := range []struct {
		name string
		run  func() ([]byte, error)
	}{
		{"int", func() ([]byte, error) { return wire.MustParseFormat(">b").AppendInt(dst, 200) }},
		{"uint", func() ([]byte, error) { return wire.MustParseFormat(">H").AppendUint(dst, 1<<16) }},
		{"float", func() ([]byte, error) { return wire.MustParseFormat(">f").AppendFloat(dst, 1e300) }},
		{"int into half", func() ([]byte, error) { return wire.MustParseFormat(">e").AppendInt(dst, 70000) }},
		{"uint into half", func() ([]byte, error) { return wire.MustParseFormat(">e").AppendUint(dst, 65520) }},
		{"non-integral", func() ([]byte, error) { return wire.MustParseFormat(">i").AppendFloat(dst, 0.5) }},
		{"NaN int", func() ([]byte, error) { return wire.MustParseFormat(">q").AppendFloat(dst, math.NaN()) }},
		{"2^63", func() ([]byte, error) { return wire.MustParseFormat(">q").AppendFloat(dst, 1<<63) }},
		{"-2^63-", func() ([]byte, error) { return wire.MustParseFormat(">q").AppendFloat(dst, -1<<63-2048) }},
		{"2^64", func() ([]byte, error) { return wire.MustParseFormat(">Q").AppendFloat(dst, 1<<64) }},
		{"-1 uint", func() ([]byte, error) { return wire.MustParseFormat(">Q").AppendFloat(dst, -1) }},
	} {
		got, err := tc.run()
		if !errors.Is(err, wire.ErrRange) || string(got) != "ab" {
			t.Errorf("%s: %q, %v; want ErrRange and dst unchanged", tc.name, got, err)
		}
	}
}

func TestAppendNumbers(t *testing.T) {
	// Expected bytes from CPython 3.11 struct.pack.
	tests := []struct {
		hex string
		run func(dst []byte) ([]byte, error)
	}{
		{"ff", func(d []byte) ([]byte, error) { return wire.MustParseFormat(">b").AppendInt(d, -1) }},
		{"3412", func(d []byte) ([]byte, error) { return wire.MustParseFormat("<H").AppendUint(d, 0x1234) }},
		{"4200", func(d []byte) ([]byte, error) { return wire.MustParseFormat(">e").AppendInt(d, 3) }},
		{"fbff", func(d []byte) ([]byte, error) { return wire.MustParseFormat(">e").AppendInt(d, -65504) }},
		{"4b800000", func(d []byte) ([]byte, error) { return wire.MustParseFormat(">f").AppendInt(d, 16777217) }},
		{"4340000000000000", func(d []byte) ([]byte, error) { return wire.MustParseFormat(">d").AppendUint(d, 1<<53+1) }},
		{"01", func(d []byte) ([]byte, error) { return wire.MustParseFormat("?").AppendInt(d, 5) }},
		{"01", func(d []byte) ([]byte, error) { return wire.MustParseFormat("?").AppendUint(d, 5) }},
		{"01", func(d []byte) ([]byte, error) { return wire.MustParseFormat("?").AppendFloat(d, 2) }},
		{"00000000fffffffe", func(d []byte) ([]byte, error) { return wire.MustParseFormat(">q").AppendFloat(d, 4294967294) }},
		{"fffffffffffffffe", func(d []byte) ([]byte, error) { return wire.MustParseFormat(">q").AppendFloat(d, -2) }},
	}
	for _, tt := range tests {
		got, err := tt.run([]byte{0xAA})
		if err != nil || hex.EncodeToString(got) != "aa"+tt.hex {
			t.Errorf("got %x, %v; want aa%s", got, err, tt.hex)
		}
	}
}

// halfTable lists the values of the non-negative half-precision numbers
// 0x0000..0x7c00 (0x7c00 standing for the first value past the largest
// finite one, 65536, so that rounding to it means overflow).
var halfTable = func() []float64 {
	vals := make([]float64, 0x7c01)
	for h := range 0x7c00 {
		e, m := h>>10, float64(h&0x3ff)
		if e == 0 {
			vals[h] = math.Ldexp(m, -24)
		} else {
			vals[h] = math.Ldexp(1+m/1024, e-15)
		}
	}
	vals[0x7c00] = 65536
	return vals
}()

// halfOracle rounds x to half precision by searching the table of all
// values: to nearest, ties to even. ok is false on overflow.
func halfOracle(x float64) (h uint16, ok bool) {
	var sign uint16
	if math.Signbit(x) {
		sign = 0x8000
	}
	switch {
	case math.IsNaN(x):
		return sign | 0x7e00, true
	case math.IsInf(x, 0):
		return sign | 0x7c00, true
	}
	a := math.Abs(x)
	if a > 65536 {
		return 0, false
	}
	i := sort.SearchFloat64s(halfTable, a) // first value >= a
	if halfTable[i] != a {
		lo, hi := halfTable[i-1], halfTable[i]
		if a-lo < hi-a || (a-lo == hi-a && (i-1)%2 == 0) {
			i--
		}
	}
	if i == 0x7c00 {
		return 0, false
	}
	return sign | uint16(i), true
}

func checkHalf(t *testing.T, x float64) {
	t.Helper()
	f := wire.MustParseFormat(">e")
	want, ok := halfOracle(x)
	got, err := f.FloatBits(x)
	if !ok {
		if !errors.Is(err, wire.ErrRange) {
			t.Fatalf("FloatBits(%v) = %#04x, %v; want ErrRange", x, got, err)
		}
		return
	}
	if err != nil || uint16(got) != want {
		t.Fatalf("FloatBits(%v) = %#04x, %v; want %#04x", x, got, err, want)
	}
}

func TestFloat16Rounding(t *testing.T) {
	// Every value, and every midpoint and its neighbours, between adjacent
	// half-precision numbers.
	for i := 0; i < len(halfTable)-1; i++ {
		lo, hi := halfTable[i], halfTable[i+1]
		mid := lo + (hi-lo)/2
		for _, x := range []float64{lo, mid, math.Nextafter(mid, 0), math.Nextafter(mid, hi), -lo, -mid} {
			checkHalf(t, x)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		checkHalf(t, math.Ldexp(r.Float64(), r.IntN(50)-30))
	}
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1e-300, 65519.99, 65520, 1e300} {
		checkHalf(t, x)
	}
}

func TestFloat16Decode(t *testing.T) {
	f := wire.MustParseFormat(">e")
	b := make([]byte, 2)
	for h := range 1 << 16 {
		f.PutBits(b, uint64(h))
		x := f.Float(b)
		again, err := f.FloatBits(x)
		if err != nil {
			t.Fatalf("%#04x: %v", h, err)
		}
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		switch {
		case isNaN:
			if !math.IsNaN(x) || math.Signbit(x) != (h&0x8000 != 0) || again != uint64(h&0x8000|0x7e00) {
				t.Fatalf("NaN %#04x decoded as %v, re-encoded as %#04x", h, x, again)
			}
		case again != uint64(h):
			t.Fatalf("%#04x decoded as %v, re-encoded as %#04x", h, x, again)
		}
	}
}

func TestFloatFormats(t *testing.T) {
	f32 := wire.MustParseFormat(">f")
	if _, err := f32.FloatBits(math.MaxFloat32); err != nil {
		t.Error(err)
	}
	if _, err := f32.FloatBits(3.4028235677973366e+38); !errors.Is(err, wire.ErrRange) {
		t.Errorf("float32 overflow: %v", err)
	}
	if bits, err := f32.FloatBits(math.Inf(-1)); err != nil || bits != 0xff800000 {
		t.Errorf("-Inf: %#x, %v", bits, err)
	}
	d := wire.MustParseFormat("<d")
	b, _ := d.AppendFloat(nil, math.Pi)
	if d.Float(b) != math.Pi {
		t.Error("float64 round trip")
	}
	i := wire.MustParseFormat(">h")
	b, _ = i.AppendInt(nil, -300)
	if i.Float(b) != -300 {
		t.Errorf("Float of an int format: %v", i.Float(b))
	}
}

func TestChecksums(t *testing.T) {
	for _, tc := range []struct {
		c    wire.Checksum
		want string
	}{{wire.CRC32, "cbf43926"}, {wire.CRC32C, "e3069283"}} {
		if got := hex.EncodeToString(tc.c.Append(nil, []byte("123456789"))); got != tc.want || tc.c.Size() != 4 {
			t.Errorf("checksum = %s, want %s", got, tc.want)
		}
	}
}
