package kafkatest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
)

// A broker closed by the test starts again on the same address and data
// folder, and what was written before is still there.
func TestStartAgainOnTheSameAddressKeepsTheData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	b := kafkatest.Start(t, kafkabroker.Config{DataDir: dir})
	addr := b.Addrs()[0]
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("broker on %s, want a loopback port", addr)
	}
	w := kafkatest.Writer(t, b.Addrs(), kafkawire.DefaultSpansTopic)
	for i := 0; i < 10; i++ {
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint("v", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	b = kafkatest.Start(t, kafkabroker.Config{Addr: addr, DataDir: dir})
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), Topic: kafkawire.DefaultSpansTopic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for i := 0; i < 10; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("message %d after the restart: %v", i, err)
		}
		if want := fmt.Sprint("v", i); string(m.Value) != want {
			t.Fatalf("message %d is %q, want %q", i, m.Value, want)
		}
	}
}
