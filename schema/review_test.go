package schema

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestSameLayout(t *testing.T) {
	base := MustStructure(Uint16("a"), Float32("b"), FixedStr("c", 4), Int8("d"))
	tests := []struct {
		name string
		o    *Structure
		want bool
	}{
		{"itself", base, true},
		{"other names", MustStructure(Uint16("x"), Float32("y"), FixedStr("z", 4), Int8("w")), true},
		{"same meaning, other spelling", MustStructure(Num("a", "!H"), Num("b", ">f"), FixedStr("c", 4), Num("d", "<b")), true},
		{"byte order", MustStructure(Num("a", "<H"), Float32("b"), FixedStr("c", 4), Int8("d")), false},
		{"signedness", MustStructure(Int16("a"), Float32("b"), FixedStr("c", 4), Int8("d")), false},
		{"int for float", MustStructure(Uint16("a"), Uint32("b"), FixedStr("c", 4), Int8("d")), false},
		{"bytes for str", MustStructure(Uint16("a"), Float32("b"), FixedBytes("c", 4), Int8("d")), false},
		{"bool for uint8", MustStructure(Uint16("a"), Float32("b"), FixedStr("c", 4), Bool("d")), false},
		{"swapped fields, same size", MustStructure(Float32("b"), Uint16("a"), FixedStr("c", 4), Int8("d")), false},
		{"fixed length", MustStructure(Uint16("a"), Float32("b"), FixedStr("c", 3), Uint8("d"), Uint8("e")), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := base.SameLayout(tt.o); got != tt.want {
			t.Errorf("%s: SameLayout = %v, want %v", tt.name, got, tt.want)
		}
		if tt.o != nil {
			if got := tt.o.SameLayout(base); got != tt.want {
				t.Errorf("%s (reversed): SameLayout = %v, want %v", tt.name, got, tt.want)
			}
		}
	}
	// Variable structures: the maximum length of a str counts.
	v := MustStructure(Str("s"), FixedBytes("k", 8))
	if !v.SameLayout(MustStructure(Str("t"), FixedBytes("l", 8))) {
		t.Error("variable structures with other names differ")
	}
	if v.SameLayout(MustStructure(Str("s"), FixedBytes("k", 9))) {
		t.Error("a variable structure's field limit is ignored")
	}
	var nilS *Structure
	if !nilS.SameLayout(nil) {
		t.Error("nil differs from nil")
	}
}

// The module (this package included) builds on 32-bit platforms, where a
// length past 32 bits overflows int.
func TestBuilds32Bit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		t.Skip("no go command:", err)
	}
	for _, arch := range []string{"386", "arm"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, gobin, "vet", ".")
		cmd.Env = append(os.Environ(), "GOARCH="+arch, "GOOS=linux", "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("GOARCH=%s go vet: %v\n%s", arch, err, out)
		}
	}
}
