package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// byteSize is a flag of a number of bytes, written as a whole number with
// an optional suffix B, KiB, MiB or GiB ("64MiB"); negative values pass
// through (the library reads them as "none" where it says so).
type byteSize struct{ n *int }

func newByteSize(p *int, def int) byteSize {
	*p = def
	return byteSize{p}
}

func (b byteSize) String() string {
	if b.n == nil {
		return "0"
	}
	return formatByteSize(*b.n)
}

func (b byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b.n = n
	return nil
}

func (b byteSize) Type() string { return "bytes" }

// byteRate is a flag of bytes per second, written as a byteSize.
type byteRate struct{ r *float64 }

func (b byteRate) String() string {
	if b.r == nil {
		return "0"
	}
	return formatByteSize(int(*b.r))
}

func (b byteRate) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b.r = float64(n)
	return nil
}

func (b byteRate) Type() string { return "bytes/s" }

// parseByteSize parses "1048580", "64MiB", "4KiB", "-1".
func parseByteSize(orig string) (int, error) {
	s := strings.TrimSpace(orig)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt32/mult || n < math.MinInt32/mult {
		return 0, fmt.Errorf("bad size %q: want a whole number of bytes, optionally with KiB, MiB or GiB", orig)
	}
	return int(n * mult), nil
}

// formatByteSize writes n as parseByteSize reads it, with a unit when it
// is a whole number of them.
func formatByteSize(n int) string {
	if n > 0 {
		return strings.ReplaceAll(report.FormatBytes(n), " ", "")
	}
	return strconv.Itoa(n)
}
