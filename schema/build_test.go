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
