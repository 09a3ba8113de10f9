package catalog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowlens/flowlens/catalog"
	"github.com/flowlens/flowlens/internal/benchtest"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/loadtest/storeload"
)

// BenchmarkCatalog builds the catalog of an hour of spans generated in the
// engine (storeload.SyntheticSpans: 24 services, traces of 10 spans in a
// chain, server and client spans in turn; default 1M spans, about the
// demo shop's hour at 20 requests/s; FLOWLENS_BENCH_SPANS changes it), the
// whole catalog and one service's entry.
//
//	go test ./catalog -run '^$' -bench Catalog -benchtime 3x
func BenchmarkCatalog(b *testing.B) {
	n := benchtest.Int("FLOWLENS_BENCH_SPANS", 1_000_000)
	ctx := context.Background()
	st := storetest.Migrated(b)
	end := time.Now().UTC().Truncate(time.Minute)
	if _, err := storeload.SyntheticSpans(ctx, st, n, end, time.Hour); err != nil {
		b.Fatal(err)
	}
	if err := storeload.SyntheticEdgesAmong(ctx, st, 24, 120, end, time.Hour); err != nil {
		b.Fatal(err)
	}
	for _, svc := range []string{"", "svc-3"} {
		name := "all"
		if svc != "" {
			name = "one"
		}
		b.Run(fmt.Sprintf("spans=%d/window=1h/services=%s", n, name), func(b *testing.B) {
			for b.Loop() {
				if _, err := catalog.Read(ctx, st, catalog.Request{From: end.Add(-time.Hour), To: end, Service: svc}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
