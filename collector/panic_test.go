package collector_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/component/componenttest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// A message whose reading panics (here an injected reader bug that strikes
// after the message's spans were appended to the batch) goes to the
// dead-letter topic with the panic as its reason; none of its spans are
// stored, and every message before and after it is.
func TestMessageThatPanicsTheReaderIsDeadLettered(t *testing.T) {
	b := startBroker(t, 1)
	st := openStore(t, "", "")
	const n = 2000
	produceSpans(t, b.Addrs(), 0, n/2, 100)
	boom, err := kafkawire.MarshalTraces(kafkawire.EncodingProto, wiretest.Traces(n, 5, 5))
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, b.Addrs(), kafkawire.DefaultSpansTopic)
	if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte("boom"), Value: boom}); err != nil {
		t.Fatal(err)
	}
	produceSpans(t, b.Addrs(), n/2, n/2, 100)

	c, err := collector.New(collectorConfig(b.Addrs()), collector.Settings{Settings: component.Settings{Logger: testLogger(t)}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	collector.SetReadHook(c, func(m kafka.Message) {
		if string(m.Key) == "boom" {
			panic("decoder bug")
		}
	})
	componenttest.Start(t, c)

	waitExactly(t, st, spanCounts, n, time.Minute)
	dl := readDeadLetters(t, b.Addrs(), 1)[0]
	reason := string(kafkawire.HeaderValue(dl.Headers, kafkawire.HeaderDeadLetterReason))
	detail := string(kafkawire.HeaderValue(dl.Headers, kafkawire.HeaderDeadLetterError))
	if string(dl.Key) != "boom" || reason != kafkawire.ReasonReaderPanic || !strings.Contains(detail, "decoder bug") {
		t.Errorf("dead letter %q: reason %q, error %q; want boom, %s, the panic", dl.Key, reason, detail, kafkawire.ReasonReaderPanic)
	}
	if string(dl.Value) != string(boom) {
		t.Error("the dead letter does not hold the original message")
	}
}
