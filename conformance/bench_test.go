package conformance_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowlens/flowlens/conformance"
	"github.com/flowlens/flowlens/internal/benchtest"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/loadtest/storeload"
)

// BenchmarkConformance reports the logging policy over an hour of log
// records generated in the engine (storeload.SyntheticLogs: 24 services;
// default 1M records, about the demo shop's hour at 20 requests/s;
// FLOWLENS_BENCH_LOGS changes it) and the hour's flow edges.
//
//	go test ./conformance -run '^$' -bench Conformance -benchtime 3x
func BenchmarkConformance(b *testing.B) {
	n := benchtest.Int("FLOWLENS_BENCH_LOGS", 1_000_000)
	ctx := context.Background()
	st := storetest.Migrated(b)
	end := time.Now().UTC().Truncate(time.Minute)
	if err := storeload.SyntheticLogs(ctx, st, n, end, time.Hour); err != nil {
		b.Fatal(err)
	}
	if err := storeload.SyntheticEdgesAmong(ctx, st, 24, 120, end, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("logs=%d/window=1h", n), func(b *testing.B) {
		for b.Loop() {
			rep, err := conformance.Read(ctx, st, conformance.Request{From: end.Add(-time.Hour), To: end})
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Services) < 24 {
				b.Fatalf("%d services", len(rep.Services))
			}
		}
	})
}
