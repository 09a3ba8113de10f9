package collector_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/polltest"
)

// After a graceful Shutdown every partition is committed up to its end,
// with no pending-batch marker left, and the member has left the group.
// Shutdown does not wait for the fetches that idle partitions hold open.
func TestGracefulShutdownStoresCommitsAndLeaves(t *testing.T) {
	b := startBroker(t, 3)
	st := openStore(t, "", "")
	cfg := collectorConfig(b.Addrs())
	cfg.Batch.MaxAge = time.Hour // only Shutdown can store the open batches
	cfg.Batch.MaxRows = 1 << 30
	// Once a partition has nothing new, its reader holds a fetch open for
	// up to FetchMaxWait. Shutdown used to wait for those fetches: with a
	// wait far longer than any shutdown, that shows on any machine.
	cfg.FetchMaxWait = time.Minute
	reg := prometheus.NewRegistry()
	c := startCollectorWithRegistry(t, cfg, st, reg)
	const spans, logs = 3000, 600
	produceSpans(t, b.Addrs(), 0, spans, 500)
	produceLogs(t, b.Addrs(), 0, logs, 100)
	consumed := func(kind string) float64 {
		return testutil.ToFloat64(mustCounter(t, reg, "flowlens_collector_rows_consumed_total", kind))
	}
	polltest.Until(t, "every record fetched into the open batches", time.Minute, func() bool {
		return consumed("spans") == spans && consumed("logs") == logs
	})
	if got := spanCounts(t, st); got.rows != 0 {
		t.Fatalf("stored %v before Shutdown with hour-long batches", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*cfg.FetchMaxWait)
	defer cancel()
	t0 := time.Now()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > cfg.FetchMaxWait/4 {
		t.Errorf("Shutdown took %v with fetches held open for up to %v: it waited for idle fetches", d.Round(time.Millisecond), cfg.FetchMaxWait)
	}
	if got := spanCounts(t, st); got.rows != spans || got.distinct != spans {
		t.Fatalf("after Shutdown: %v, want %d", got, spans)
	}
	if got := logCounts(t, st); got.rows != logs {
		t.Fatalf("after Shutdown: %v logs, want %d", got, logs)
	}

	cc := kafkawire.ClientConfig{Brokers: b.Addrs()}
	client, _ := cc.Client()
	topics := map[string][]int{kafkawire.DefaultSpansTopic: {0, 1, 2}, kafkawire.DefaultLogsTopic: {0, 1, 2}}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.GroupID, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			end := b.Cluster().PartitionInfo(topic, int32(p.Partition)).HighWatermark
			if p.CommittedOffset != end || p.Metadata != "" {
				t.Errorf("%s/%d committed %d (%q), end %d", topic, p.Partition, p.CommittedOffset, p.Metadata, end)
			}
		}
	}
	if g := b.Cluster().GroupInfo(cfg.GroupID); g != nil && len(g.Members) != 0 {
		t.Errorf("group still has %d members after Shutdown", len(g.Members))
	}
}
