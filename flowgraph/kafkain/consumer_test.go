package kafkain

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

type countingProc struct{ calls int }

func (p *countingProc) ConsumeTraces(int, ptrace.Traces, time.Time) int { p.calls++; return 1 }
func (p *countingProc) ConsumeProtobuf(int, []byte, time.Time) (int, error) {
	p.calls++
	return 1, nil
}
func (p *countingProc) ConsumeLogs(int, plog.Logs, time.Time) int { p.calls++; return 1 }
func (p *countingProc) ConsumeLogsProtobuf(int, []byte, time.Time) (int, error) {
	p.calls++
	return 1, nil
}

// A message read again after a commit that failed (its rollups were
// written) is skipped, but still marked for the next commit; after a handoff
// that could not store its rollups it is counted again.
func TestRereadAfterFailedCommitIsNotCountedTwice(t *testing.T) {
	p := &countingProc{}
	c, err := New(Config{Client: kafkawire.ClientConfig{Brokers: []string{"127.0.0.1:1"}}, SpansTopic: "otlp_spans", GroupID: "g"}, p, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(off int64) kafka.Message {
		return kafka.Message{Topic: "otlp_spans", Partition: 3, Offset: off, Value: []byte{0x0a, 0x00}}
	}
	for off := int64(10); off < 20; off++ {
		c.process(msg(off))
	}
	c.dropMarks() // the generation ended, its commit failed
	for off := int64(10); off < 25; off++ {
		c.process(msg(off))
	}
	if p.calls != 15 {
		t.Fatalf("processed %d messages, want 15 (10 first, 5 new after the re-read)", p.calls)
	}
	if cp := c.processed[tp{"otlp_spans", 3}]; cp == nil || cp.marks[len(cp.marks)-1].offset != 24 {
		t.Fatalf("skipped messages must still be committed: marks %+v", cp)
	}
	c.mu.Lock()
	clear(c.counted) // as a failed handoff does
	c.mu.Unlock()
	c.process(msg(12))
	if p.calls != 16 {
		t.Fatalf("after a failed handoff a re-read message must be counted again")
	}
}
