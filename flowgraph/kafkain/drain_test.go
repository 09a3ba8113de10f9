package kafkain

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/polltest"
)

// gatedProc is an analyzer that falls behind: after its first message it
// waits for the gate to open.
type gatedProc struct {
	countingProc
	n      atomic.Int64
	marked atomic.Bool // it read the marker message
	gate   chan struct{}
}

var marker = []byte{0x0a, 0x01}

func (p *gatedProc) ConsumeProtobuf(_ int, b []byte, _ time.Time) (int, error) {
	if p.n.Add(1) > 1 {
		<-p.gate
	}
	if string(b) == string(marker) {
		p.marked.Store(true)
	}
	return 1, nil
}

// runConsumer runs a consumer of group g on the spans topic until the
// returned stop is called; stop returns once its handoff has committed.
// ended, if not nil, runs when a generation has ended.
func runConsumer(t *testing.T, brokers []string, p Processor, ended func()) (*Consumer, func()) {
	t.Helper()
	c, err := New(Config{Client: kafkawire.ClientConfig{Brokers: brokers}, SpansTopic: kafkawire.DefaultSpansTopic, GroupID: "g"},
		p, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.generationEnded = ended
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return c, stop
}

// When a generation ends, the owner of a partition reads it to its end as
// it is then, and counts and commits all of it: the halves of a pair in two
// messages (a producer's and its consumer's, from two agents) that are both
// in the partition are counted by one analyzer, even one that has fallen
// behind, instead of the rebalance cutting between them. The next owner
// starts after them.
func TestGenerationEndReadsThePartitionToItsEnd(t *testing.T) {
	brokers := kafkatest.Start(t, kafkabroker.Config{}).Addrs()
	ctx := context.Background()
	w := kafkatest.Writer(t, brokers, kafkawire.DefaultSpansTopic)
	const backlog = 300
	msgs := make([]kafka.Message, backlog)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte{0x0a, 0x00}}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	slow := &gatedProc{gate: make(chan struct{})}
	// it catches up only once its generation has ended
	a, stopA := runConsumer(t, brokers, slow, func() { close(slow.gate) })
	polltest.Until(t, "the slow analyzer to take its first message", 30*time.Second, func() bool { return slow.n.Load() > 0 })
	if a.Assigned() == 0 {
		t.Fatal("no partition assigned")
	}
	stopA() // the generation ends with a backlog
	if got := slow.n.Load(); got != backlog {
		t.Fatalf("the analyzer that owned the partition counted %d of the %d messages it held when its generation ended", got, backlog)
	}

	// the next owner starts after them
	if err := w.WriteMessages(ctx, kafka.Message{Value: marker}); err != nil {
		t.Fatal(err)
	}
	next := &gatedProc{gate: make(chan struct{})}
	close(next.gate)
	runConsumer(t, brokers, next, nil)
	// in partition order: whatever it read before the marker was read again
	polltest.Until(t, "the next owner to read the new message", 30*time.Second, func() bool { return next.marked.Load() })
	if got := next.n.Load(); got != 1 {
		t.Errorf("the next owner read %d messages, want only the one written after the handoff", got)
	}
}
