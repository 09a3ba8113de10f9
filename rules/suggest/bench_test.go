package suggest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/benchtest"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/query"
)

// BenchmarkSuggestRules drafts rules from a week of rollups of a system
// shaped as one (storeload.SyntheticEdgesAmong: services in 7 tiers, every
// edge in every minute): the read of the rollups per 5-minute window and
// the analysis. FLOWLENS_BENCH_SERVICES and FLOWLENS_BENCH_EDGES change
// the size (default 50 and 300).
//
//	go test ./rules/suggest -run '^$' -bench SuggestRules -benchtime 3x
func BenchmarkSuggestRules(b *testing.B) {
	services, edges := benchtest.Int("FLOWLENS_BENCH_SERVICES", 50), benchtest.Int("FLOWLENS_BENCH_EDGES", 300)
	ctx := context.Background()
	st := storetest.Migrated(b)
	end := time.Now().UTC().Truncate(time.Hour)
	if err := storeload.SyntheticEdgesAmong(ctx, st, services, edges, end, 7*24*time.Hour); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("services=%d/edges=%d/history=7d/window=5m", services, edges), func(b *testing.B) {
		var n int
		for b.Loop() {
			res, err := query.Reader{Store: st}.SuggestRules(ctx, query.SuggestRequest{From: end.Add(-7 * 24 * time.Hour), To: end})
			if err != nil {
				b.Fatal(err)
			}
			n = len(res.Ratios) + len(res.Latency) + len(res.Skipped)
		}
		b.ReportMetric(float64(n), "pairs")
	})
}
