package cli

import (
	"fmt"
	"maps"
	"slices"

	"github.com/binproto/binproto/cmd/binproto/internal/baseline/httpjson"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
)

// candidateTargets are the systems measured against the baseline, by
// name. Driver files add theirs from an init function with registerTarget;
// --addr is passed to each of them.
var candidateTargets = map[string]bench.TargetFactory{}

// defaultBaseline is the baseline used unless --baseline says otherwise.
const defaultBaseline = httpjson.DefaultName

// baselineTargets are the baselines selectable with --baseline; the
// baseline gets --baseline-addr.
var baselineTargets = map[string]bench.TargetFactory{
	httpjson.DefaultName: httpjson.Factory,
}

// registerTarget adds a candidate target. Registering a name twice is a
// programming error and panics.
func registerTarget(name string, f bench.TargetFactory) {
	if _, dup := candidateTargets[name]; dup || name == "" || f == nil {
		panic(fmt.Sprintf("registerTarget(%q): empty, nil or duplicate", name))
	}
	candidateTargets[name] = f
}

// sortedNames returns the keys of m in order.
func sortedNames(m map[string]bench.TargetFactory) []string {
	return slices.Sorted(maps.Keys(m))
}
