package kafkain

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap/zaptest"
)

// panickyProc is an analyzer with a bug that one message triggers.
type panickyProc struct{ countingProc }

func (p *panickyProc) ConsumeProtobuf(key int, b []byte, now time.Time) (int, error) {
	if string(b) == "boom" {
		panic("analyzer bug")
	}
	return p.countingProc.ConsumeProtobuf(key, b, now)
}

func (p *panickyProc) ConsumeTraces(key int, td ptrace.Traces, now time.Time) int {
	return p.countingProc.ConsumeTraces(key, td, now)
}

func (p *panickyProc) ConsumeLogs(key int, ld plog.Logs, now time.Time) int {
	return p.countingProc.ConsumeLogs(key, ld, now)
}

// A message that panics the analyzer goes to the dead-letter topic with
// the panic as its reason; it counts as processed (its offset is
// committed) and the next messages are processed.
func TestMessageThatPanicsTheAnalyzerIsDeadLettered(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})

	p := &panickyProc{}
	client := kafkawire.ClientConfig{Brokers: b.Addrs()}
	c, err := New(Config{Client: client, SpansTopic: "otlp_spans", GroupID: "g",
		DeadLetterTopic: kafkawire.DefaultDeadLetterTopic}, p, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	msg := func(off int64, v string) kafka.Message {
		return kafka.Message{Topic: "otlp_spans", Partition: 0, Offset: off, Key: []byte(v), Value: []byte(v),
			Headers: []kafka.Header{{Key: kafkawire.HeaderContentType, Value: []byte(kafkawire.EncodingProto)}}}
	}
	c.process(msg(1, "a"))
	c.process(msg(2, "boom"))
	c.process(msg(3, "b"))
	if p.calls != 2 {
		t.Fatalf("processed %d messages around the panicking one, want 2", p.calls)
	}
	if cp := c.processed[tp{"otlp_spans", 0}]; cp == nil || cp.marks[len(cp.marks)-1].offset != 3 {
		t.Fatalf("offsets after the panic are not marked for commit: %+v", cp)
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), Topic: kafkawire.DefaultDeadLetterTopic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dl, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read the dead letter: %v", err)
	}
	reason := string(kafkawire.HeaderValue(dl.Headers, kafkawire.HeaderDeadLetterReason))
	detail := string(kafkawire.HeaderValue(dl.Headers, kafkawire.HeaderDeadLetterError))
	if string(dl.Value) != "boom" || reason != kafkawire.ReasonReaderPanic || !strings.Contains(detail, "analyzer bug") {
		t.Errorf("dead letter %q: reason %q, error %q", dl.Value, reason, detail)
	}
}
