//go:build race

package binproto_test

// raceEnabled reports whether the tests run under the race detector, which
// makes them several times slower; load tests scale down (never skip).
const raceEnabled = true
