package collector_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/internal/kafkawire"
)

// After a graceful Shutdown every partition is committed up to its end,
// with no pending-batch marker left, and the member has left the group.
func TestGracefulShutdownStoresCommitsAndLeaves(t *testing.T) {
	b := startBroker(t, 3)
	st := openStore(t, "", "")
	cfg := collectorConfig(b.Addrs())
	cfg.Batch.MaxAge = time.Hour // only Shutdown can store the open batches
	cfg.Batch.MaxRows = 1 << 30
	c := startCollector(t, cfg, st)
	const n = 3000
	produceSpans(t, b.Addrs(), 0, n, 500)
	produceLogs(t, b.Addrs(), 0, 600, 100)
	time.Sleep(2 * time.Second) // fetched, not stored
	if got := spanCounts(t, st); got.rows != 0 {
		t.Fatalf("stored %v before Shutdown with hour-long batches", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// With nothing arriving, each partition reader has a fetch waiting out
	// its 5 s MaxWait; Shutdown used to wait for them (here about 2 s).
	if d := time.Since(t0); d > 1500*time.Millisecond {
		t.Errorf("Shutdown took %v: it waited for idle fetches", d.Round(time.Millisecond))
	}
	if got := spanCounts(t, st); got.rows != n || got.distinct != n {
		t.Fatalf("after Shutdown: %v, want %d", got, n)
	}
	if got := logCounts(t, st); got.rows != 600 {
		t.Fatalf("after Shutdown: %v logs, want 600", got)
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
