//go:build !race

package binprom_test

import (
	"context"
	"testing"

	"github.com/binproto/binproto"
)

// TestNoAllocations: a request/response round trip allocates no more with
// the adapter observing both sides than without (the children of every
// metric are resolved once, then cached).
func TestNoAllocations(t *testing.T) {
	allocs := map[bool]float64{}
	for _, on := range []bool{false, true} {
		cl, in := benchClient(t, on)
		var out reading
		ctx := context.Background()
		allocs[on] = testing.AllocsPerRun(500, func() {
			if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Reading, readingCodec, in), readingCodec, &out); err != nil {
				t.Fatal(err)
			}
		})
	}
	if allocs[true] > allocs[false] {
		t.Errorf("%.2f allocations per round trip with the adapter, %.2f without", allocs[true], allocs[false])
	}
	t.Logf("allocations per round trip: %.2f without the adapter, %.2f with", allocs[false], allocs[true])
}
