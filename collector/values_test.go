package collector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/storage"
)

// Every stored span must carry its own values, across many batches,
// partitions and reused segments and buffers: a buffer reused or freed
// too early would give spans strings of other messages (run with -race
// too).
func TestStoredSpansKeepTheirOwnStringsAcrossManyBatches(t *testing.T) {
	const partitions, n, spansPerTrace = 6, 30000, 5
	b := startBroker(t, partitions)
	st := openStore(t, "", "")
	cfg := collectorConfig(b.Addrs())
	cfg.Batch.MaxRows = 1000 // dozens of batches, each segment reused many times
	startCollector(t, cfg, st)
	produceShapedSpansTo(t, b.Addrs(), kafkawire.DefaultSpansTopic, 0, n, 250, wiretest.ManyUnique)
	waitExactly(t, st, spanCounts, n, 2*time.Minute)

	// each value below is what wiretest.ShapedTraces derives from the
	// span's seq attribute (or from its other values); a string of another
	// message differs
	checks := []struct{ name, cond string }{
		{"SpanId", "SpanId = leftPad(lower(hex(seq + 1)), 16, '0')"},
		{"enduser.id", fmt.Sprintf("SpanAttributes['enduser.id'] = concat('user-', toString(intDiv(seq, %d)))", spansPerTrace)},
		{"client.address", "SpanAttributes['client.address'] = concat('10.0.', toString(seq % 256), '.', toString(intDiv(seq, 256) % 256))"},
		{"user_agent.original", "SpanAttributes['user_agent.original'] = concat('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/', " +
			"toString(100 + seq % 40), '.0.', toString(intDiv(seq, 40)), '.', toString(seq % 199), ' Safari/537.36')"},
		{"url.full", fmt.Sprintf("endsWith(SpanAttributes['url.full'], concat(SpanAttributes['url.path'], '?ref=', toString(intDiv(seq, %d))))", spansPerTrace)},
		{"host.name", "ResourceAttributes['host.name'] = concat('node-', toString(seq % 200))"},
		{"ServiceName", "ServiceName = ResourceAttributes['service.name']"},
		{"server.address", "SpanAttributes['server.address'] = concat(SpanAttributes['peer.service'], '.svc.cluster.local')"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range checks {
		q := fmt.Sprintf("SELECT countIf(NOT (%s)), anyIf(SpanAttributes, NOT (%s)) FROM (SELECT *, toUInt64(SpanAttributes['seq']) AS seq FROM %s.%s)",
			c.cond, c.cond, st.Database(), storage.TracesTable)
		var (
			wrong  uint64
			sample map[string]string
		)
		if err := st.Conn().QueryRow(ctx, q).Scan(&wrong, &sample); err != nil {
			t.Fatalf("check %s: %v", c.name, err)
		}
		if wrong != 0 {
			t.Errorf("%s: %d of %d spans hold a value that is not theirs (one: %v)", c.name, wrong, n, sample)
		}
	}
}
