package storeload

import (
	"context"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/storetest"
)

func TestSyntheticDatasets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := storetest.Migrated(t)
	end := time.Now().UTC().Truncate(time.Minute)
	if err := SyntheticEdges(ctx, st, 450, end, 3*time.Hour); err != nil {
		t.Fatal(err)
	}
	aggs, err := st.QueryEdges(ctx, end.Add(-3*time.Hour), end, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]string]bool{}
	for _, a := range aggs {
		if a.Requests != 180*100 || a.ServerLatency.Count() == 0 || a.Client == a.Server {
			t.Fatalf("edge %s->%s: %d requests, %d latencies", a.Client, a.Server, a.Requests, a.ServerLatency.Count())
		}
		seen[[2]string{a.Client, a.Server}] = true
	}
	if len(aggs) != 450 || len(seen) != 450 {
		t.Fatalf("%d edges (%d distinct), want 450", len(aggs), len(seen))
	}
	ids, err := SyntheticSpans(ctx, st, 5000, end, 24*time.Hour)
	if err != nil || len(ids) != 500 {
		t.Fatalf("%d trace IDs, %v", len(ids), err)
	}
	tr, err := st.GetTrace(ctx, ids[0])
	if err != nil || len(tr.Spans) != 10 {
		t.Fatalf("trace %s: %d spans, %v", ids[0], len(tr.Spans), err)
	}
}
