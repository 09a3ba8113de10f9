package agent_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// TestLingerPacesProduceCallsWithoutDelayingALoneRecord: kafka.linger is
// the shortest time between produce calls. A span after a quiet spell is
// sent at once (kafka-go's own batch timeout held it for the whole linger
// after the forwarder read it), and spans written while the forwarder
// waits go together, one produce request per linger (one trace: one
// partition).
func TestLingerPacesProduceCallsWithoutDelayingALoneRecord(t *testing.T) {
	const linger = time.Second // the longest kafka.linger takes
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	var mu sync.Mutex
	var batches []int // records per produce request to the spans topic, in order
	var firstAt time.Time
	b.Cluster().ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		for _, tp := range r.(*kmsg.ProduceRequest).Topics {
			if tp.Topic != kafkawire.DefaultSpansTopic {
				continue
			}
			for _, p := range tp.Partitions {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(p.Records); err == nil {
					mu.Lock()
					if len(batches) == 0 {
						firstAt = time.Now()
					}
					batches = append(batches, int(rb.NumRecords))
					mu.Unlock()
				}
			}
		}
		return nil, nil, false
	})
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), "")
	cfg.Kafka.Linger = linger
	ra := startAgent(t, cfg)
	tc := ra.traceClient(t)
	send := func(seq int) {
		t.Helper()
		// one span of trace 0: every request is one message of one partition
		if _, err := tc.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(wiretest.Traces(seq, 1, 100))); err != nil {
			t.Fatalf("export span %d: %v", seq, err)
		}
	}

	start := time.Now()
	send(0)
	c := newConsumed()
	c.waitFor(t, b.Addrs()[0], kafkawire.DefaultSpansTopic, 10*time.Second, func(c *consumed) bool { return c.spanCount == 1 })
	mu.Lock()
	lone := firstAt.Sub(start)
	mu.Unlock()
	// the span cannot be read from the buffer before its request began
	if lone >= linger {
		t.Errorf("a lone span reached Kafka %v after it was sent, want less than the linger (%v)", lone, linger)
	}

	const more = 10
	start = time.Now()
	for seq := 1; seq <= more; seq++ {
		send(seq) // acknowledged: in the buffer
	}
	elapsed := time.Since(start)
	c.waitFor(t, b.Addrs()[0], kafkawire.DefaultSpansTopic, 10*time.Second, func(c *consumed) bool { return c.spanCount == 1+more })
	mu.Lock()
	defer mu.Unlock()
	t.Logf("produce requests: %v over %v", batches, elapsed)
	// one call per linger while they came in, and one for what came last
	if want := 1 + 2 + int(elapsed/linger); len(batches) > want || slices.Max(batches) < 2 {
		t.Errorf("%d spans sent over %v went in produce requests of %v records, want at most %d requests", 1+more, elapsed.Round(time.Millisecond), batches, want)
	}
}
