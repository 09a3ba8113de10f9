package storage

import (
	"fmt"

	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

func countRows(t *testing.T, s *Store, table string) uint64 {
	t.Helper()
	var n uint64
	if err := s.conn.QueryRow(testCtx(t), "SELECT count() FROM "+s.l.Name(table)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDedupTokenStoresResentBatchOnce(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	var sr SpanRows
	sr.AppendTraces(genTraces(1, 50, 4, baseTime, time.Second), nil)
	var lr LogRows
	lr.AppendLogs(genLogs(1, 50, baseTime, time.Second), nil)
	for i := 0; i < 3; i++ { // the collector re-sends after a timeout it could not interpret
		if err := s.InsertSpans(ctx, &sr, "orders-3:1000-1199"); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertLogs(ctx, &lr, "logs-3:1000-1199"); err != nil {
			t.Fatal(err)
		}
	}
	if n := countRows(t, s, TracesTable); n != 200 {
		t.Errorf("spans stored %d times 200 rows... got %d rows, want 200", 3, n)
	}
	if n := countRows(t, s, LogsTable); n != 50 {
		t.Errorf("logs: got %d rows, want 50", n)
	}
	// Another token is another batch.
	if err := s.InsertSpans(ctx, &sr, "orders-3:1200-1399"); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, TracesTable); n != 400 {
		t.Errorf("after a new token: got %d rows, want 400", n)
	}
	// Metrics count rows sent (deduplicated ones included: the engine drops them).
	reg := prometheus.NewRegistry()
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.m.insertRows.WithLabelValues(TracesTable)); got != 800 {
		t.Errorf("insert rows metric %v, want 800", got)
	}
	if n, err := testutil.GatherAndCount(reg, "flowlens_storage_insert_duration_seconds"); err != nil || n != 2 {
		t.Errorf("insert duration series: %d, %v", n, err)
	}
}

func TestEdgeRollupsSumAcrossWriters(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	b0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	mk := func(bucket time.Time, client, server string, req uint64, lat time.Duration) flowmodel.EdgeRollup {
		r := flowmodel.EdgeRollup{Bucket: bucket, Client: client, Server: server, Requests: req, Failed: req / 10,
			ServerLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), ClientLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds),
			MessagesSent: req, Retries: 1, Breaker: flowmodel.BreakerCounts{Closed: req - 1, Open: 1, Transitions: 2}}
		for i := uint64(0); i < req; i++ {
			r.ServerLatency.Observe(lat)
			r.ClientLatency.Observe(lat + time.Millisecond)
		}
		return r
	}
	// Four analyzer instances write partial aggregates of the same buckets at once.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for inst := 0; inst < 4; inst++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := []flowmodel.EdgeRollup{
				mk(b0, "frontend", "checkout", 10, 5*time.Millisecond),
				mk(b0.Add(time.Minute), "frontend", "checkout", 10, 300*time.Millisecond),
				mk(b0, "checkout", "payment", 4, 20*time.Millisecond),
			}
			// Identical rows from different instances must all count.
			errs <- s.InsertEdgeRollups(ctx, rows, "")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A re-sent flush with its token counts once.
	resend := []flowmodel.EdgeRollup{mk(b0, "kafka", "worker", 2, time.Millisecond)}
	resend[0].ConnectionType = flowmodel.ConnectionMessaging
	resend[0].Delay = flowmodel.NewHistogram(flowmodel.DelayBounds)
	resend[0].Delay.Observe(3 * time.Second)
	for i := 0; i < 2; i++ {
		if err := s.InsertEdgeRollups(ctx, resend, "analyzer-1:flush-77"); err != nil {
			t.Fatal(err)
		}
	}

	edges, err := s.QueryEdges(ctx, b0, b0.Add(2*time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]flowmodel.EdgeAggregate{}
	for _, e := range edges {
		got[e.Client+">"+e.Server] = e
	}
	fc := got["frontend>checkout"]
	if fc.Requests != 80 || fc.Failed != 8 || fc.MessagesSent != 80 || fc.Retries != 8 {
		t.Errorf("frontend>checkout = %+v", fc)
	}
	if fc.Breaker != (flowmodel.BreakerCounts{Closed: 72, Open: 8, Transitions: 16}) {
		t.Errorf("breaker counts %+v", fc.Breaker)
	}
	if fc.ServerLatency.Count() != 80 {
		t.Errorf("server latency count %d, want 80", fc.ServerLatency.Count())
	}
	if p50, p99 := fc.ServerLatency.Quantile(0.5), fc.ServerLatency.Quantile(0.99); p50 > 6*time.Millisecond || p99 < 200*time.Millisecond || p99 > 400*time.Millisecond {
		t.Errorf("p50 %s, p99 %s", p50, p99)
	}
	if m := fc.ServerLatency.Mean(); m < 150*time.Millisecond || m > 155*time.Millisecond {
		t.Errorf("mean %s, want ~152.5ms", m)
	}
	if cp := got["checkout>payment"]; cp.Requests != 16 {
		t.Errorf("checkout>payment requests %d, want 16", cp.Requests)
	}
	kw := got["kafka>worker"]
	if kw.Requests != 2 || kw.ConnectionType != flowmodel.ConnectionMessaging || kw.Delay.Count() != 1 {
		t.Errorf("kafka>worker = %+v (re-sent flush must count once)", kw)
	}
	// One bucket only.
	edges, err = s.QueryEdges(ctx, b0.Add(time.Minute), b0.Add(2*time.Minute), "")
	if err != nil || len(edges) != 1 || edges[0].Requests != 40 {
		t.Errorf("second bucket: %+v, %v", edges, err)
	}
	// Service filter: either side.
	edges, err = s.QueryEdges(ctx, b0, b0.Add(time.Hour), "checkout")
	if err != nil || len(edges) != 2 {
		t.Errorf("edges of checkout: %d, %v", len(edges), err)
	}
	// Hostile service: no rows, no error.
	edges, err = s.QueryEdges(ctx, b0, b0.Add(time.Hour), "' OR 1=1 --")
	if err != nil || len(edges) != 0 {
		t.Errorf("hostile service: %d edges, %v", len(edges), err)
	}
	// A histogram of the wrong shape is refused before sending.
	bad := []flowmodel.EdgeRollup{{Bucket: b0, Client: "a", Server: "b", ServerLatency: flowmodel.Histogram{Counts: []uint64{1, 2}}}}
	if err := s.InsertEdgeRollups(ctx, bad, ""); err == nil {
		t.Error("wrong histogram shape accepted")
	}
	_ = fmt.Sprint()
}

// Large batches append map columns concurrently; every row still lands once,
// with its own attributes.
func TestInsertLargeBatch(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	var sr SpanRows
	sr.AppendTraces(genTraces(1, parallelAppendRows, 3, baseTime, time.Millisecond), nil)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, TracesTable); n != uint64(sr.Len()) {
		t.Fatalf("%d rows stored, want %d", n, sr.Len())
	}
	var bad uint64
	if err := s.conn.QueryRow(ctx, "SELECT countIf(SpanAttributes['url.path'] != concat('/api/', ServiceName) OR ResourceAttributes['service.name'] != ServiceName) FROM "+
		s.l.Name(TracesTable)).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d rows with another row's attributes", bad)
	}
}
