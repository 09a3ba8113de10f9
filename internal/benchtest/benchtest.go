// Package benchtest reads the knobs benchmarks take from the environment
// (FLOWLENS_BENCH_SPANS and the like), so that a run for figures can change
// a size without editing code.
package benchtest

import (
	"os"
	"strconv"
)

// Int is the positive integer in environment variable name, or def when
// the variable is unset or holds no positive integer.
func Int(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
