package storage

import (
	"os"
	"strconv"
	"testing"
)

// benchGranularities sets the granularities of otel_logs and of the
// trace-ID index that FLOWLENS_BENCH_LOGS_GRANULARITY and
// FLOWLENS_BENCH_TRACE_INDEX_GRANULARITY ask for (e.g. 8192 and 8192, the
// schema before they became 1024), for the benchmarks that compare them.
func benchGranularities(b testing.TB, c *Config) {
	for env, field := range map[string]*int{
		"FLOWLENS_BENCH_LOGS_GRANULARITY":        &c.LogsGranularity,
		"FLOWLENS_BENCH_TRACE_INDEX_GRANULARITY": &c.TraceIndexGranularity,
	} {
		if v := os.Getenv(env); v != "" {
			g, err := strconv.Atoi(v)
			if err != nil {
				b.Fatalf("%s: %v", env, err)
			}
			*field = g
		}
	}
}
