package kafkabroker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/segmentio/kafka-go"
)

// BenchmarkProduce is what sync_writes costs: acknowledged produce
// requests of 100 messages of 1 KiB into a broker with a data folder, with
// and without an fsync per batch. Figures: see the package README.
//
//	go test ./internal/embedded/kafkabroker -run '^$' -bench Produce -benchtime 2000x -count 3
func BenchmarkProduce(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync_writes=%v", sync), func(b *testing.B) {
			cfg := kafkabroker.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), SyncWrites: sync}
			cfg.SetDefaults()
			br, err := kafkabroker.New(cfg, component.Settings{})
			if err != nil {
				b.Fatal(err)
			}
			if err := br.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer br.Shutdown(context.Background())
			cc := kafkawire.ClientConfig{Brokers: br.Addrs()}
			tr, err := cc.Transport()
			if err != nil {
				b.Fatal(err)
			}
			w := &kafka.Writer{Addr: kafka.TCP(br.Addrs()...), Topic: kafkawire.DefaultSpansTopic, Transport: tr,
				RequiredAcks: kafka.RequireAll, BatchSize: 100, BatchTimeout: time.Millisecond}
			defer w.Close()
			msgs := make([]kafka.Message, 100)
			for i := range msgs {
				msgs[i].Value = make([]byte, 1024)
			}
			ctx := context.Background()
			b.SetBytes(100 * 1024)
			b.ResetTimer()
			for range b.N {
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
	}
}
