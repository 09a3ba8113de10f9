package flowgraph

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
)

// BenchmarkKafkaToGraph: messages already in the embedded broker (one trace
// each, ~9 spans, the test topology's 4 services and 7 edges) consumed by
// one analyzer instance into its aggregates (no storage). One op = one span; the broker runs in the same process, so
// spans/cpu-s includes its share.
func BenchmarkKafkaToGraph(b *testing.B) {
	brokers := startBroker(b)
	tp := topology{Traces: 20000, DropEvery: 20, Retries: 100}
	base := time.Now().UTC()
	msgs, total := traceMessages(b, tp, base)
	w := kafkatest.Writer(b, brokers, kafkawire.DefaultSpansTopic)
	w.BatchSize, w.BatchTimeout, w.Compression = 500, 10*time.Millisecond, kafka.Lz4
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	consumed := 0
	for consumed < b.N {
		b.StopTimer()
		cfg := testConfig()
		cfg.Kafka.Brokers = brokers
		cfg.HTTP.Listen = "127.0.0.1:0"
		cfg.Shards = 2
		cfg.GroupID = "bench-" + time.Now().Format("150405.000000000")
		cfg.LogsTopic = "-"
		s, err := New(cfg, Settings{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Minute)
		for s.Analyzer().Stats().Spans < uint64(total) {
			if time.Now().After(deadline) {
				b.Fatalf("consumed %d of %d spans", s.Analyzer().Stats().Spans, total)
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		_ = s.Shutdown(context.Background())
		b.StartTimer()
		consumed += total
	}
	b.StopTimer()
	reportRates(b, consumed, cpu0)
}
