package flowgraph

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/polltest"
	"github.com/flowlens/flowlens/internal/storetest"
)

// agentMessages are the topology's requests as the agents of its hosts put
// them on Kafka: each service exports its own spans of a request to its
// host's agent, whose encoder splits them into one message per key. So a
// producer span (checkout's agent) and its consumer span (fulfilment's, in
// a trace of its own linked to the producer) are two messages, both keyed
// by the producer's trace.
func agentMessages(t testing.TB, tp topology, base time.Time) ([][]kafka.Message, int) {
	t.Helper()
	enc := kafkawire.Encoder{Encoding: kafkawire.EncodingProto, PartitionByTraceID: true}
	var requests [][]kafka.Message
	n := 0
	for i := 0; i < tp.Traces; i++ {
		spans := tp.traceSpans(base, i, nil)
		n += len(spans)
		byService := map[string][]genSpan{}
		var services []string
		for _, s := range spans {
			if byService[s.service] == nil {
				services = append(services, s.service)
			}
			byService[s.service] = append(byService[s.service], s)
		}
		var msgs []kafka.Message
		for _, svc := range services {
			var err error
			if msgs, err = enc.AppendTraceMessages(msgs, toTraces(byService[svc])); err != nil {
				t.Fatal(err)
			}
		}
		requests = append(requests, msgs)
	}
	return requests, n
}

// Three analyzers in one group on a 6-partition topic; a fourth joins in
// the middle of the stream and one of the first leaves (two rebalances).
// Consumer spans are in traces of their own, linked to their producers, and
// sent by another agent than their producers': keyed by their own trace
// they would land on other partitions, read by other analyzers, and
// neither half would pair (the producer would end on the virtual edge
// checkout -> orders). The stored graph is exact, and so is the delivery
// ratio of the "orders" queue read back from it.
func TestThreeAnalyzersPairLinkedConsumersAcrossRebalances(t *testing.T) {
	brokers := startBroker(t)
	st := storetest.Migrated(t)
	ctx := context.Background()
	tp := topology{Traces: 600, DropEvery: 20, Retries: 7}
	base := time.Now().UTC().Truncate(time.Minute)
	requests, total := agentMessages(t, tp, base)

	w := kafkatest.Writer(t, brokers, kafkawire.DefaultSpansTopic)
	// A few requests per write, never one split over two: the halves of a
	// pair arrive together (the drain at a handoff reads to the end of
	// the partition, so a rebalance does not cut between them).
	produce := func(reqs [][]kafka.Message) {
		for len(reqs) > 0 {
			n := min(8, len(reqs))
			var ms []kafka.Message
			for _, r := range reqs[:n] {
				ms = append(ms, r...)
			}
			if err := w.WriteMessages(ctx, ms...); err != nil {
				t.Errorf("produce: %v", err) // also from the producing goroutine
				return
			}
			reqs = reqs[n:]
			time.Sleep(5 * time.Millisecond) // a stream, not one burst
		}
	}
	third := len(requests) / 3

	a := newKafkaService(t, "a", brokers, st)
	b := newKafkaService(t, "b", brokers, st)
	c := newKafkaService(t, "c", brokers, st)
	services := []*Service{a, b, c}
	polltest.Until(t, "three analyzers to hold partitions", 30*time.Second, func() bool {
		return a.Assigned() > 0 && b.Assigned() > 0 && c.Assigned() > 0
	})
	produce(requests[:third])

	d := newKafkaService(t, "d", brokers, st)
	services = append(services, d)
	polltest.Until(t, "d to hold partitions", 30*time.Second, func() bool { return d.Assigned() > 0 })
	produce(requests[third : 2*third])

	// a leaves in the middle of the last third: its partitions move
	done := make(chan struct{})
	go func() { defer close(done); produce(requests[2*third:]) }()
	time.Sleep(100 * time.Millisecond)
	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown a: %v", err)
	}
	<-done
	spans := func() uint64 {
		var n uint64
		for _, s := range services {
			n += s.Analyzer().Stats().Spans
		}
		return n
	}
	polltest.Until(t, "every span consumed", 60*time.Second, func() bool { return spans() >= uint64(total) })
	for _, s := range services[1:] {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	}
	if got := spans(); got != uint64(total) {
		t.Errorf("spans processed %d, produced %d: messages were read twice across the rebalances", got, total)
	}

	g := checkStoredGraph(ctx, t, st, base, tp)
	// the queue's delivery ratio over the stored history: what fulfilment
	// received from "orders" / everything checkout sent to it
	n, dropped := uint64(tp.Traces), uint64(tp.Traces/tp.DropEvery)
	for _, e := range g.Edges {
		var want string
		switch e.ID {
		case "checkout->fulfilment|messaging_system":
			want = fmt.Sprintf("orders sent %d received %d of %d: %.3f", n-dropped, n-dropped, n, float64(n-dropped)/float64(n))
		case "checkout->orders|virtual_node":
			want = fmt.Sprintf("orders sent %d received 0 of 0: -", dropped)
		default:
			if len(e.Destinations) > 0 {
				t.Errorf("edge %s has destinations %+v", e.ID, e.Destinations)
			}
			continue
		}
		var have []string
		for _, d := range e.Destinations {
			ratio := "-"
			if d.DeliveryRatio != nil {
				ratio = fmt.Sprintf("%.3f", *d.DeliveryRatio)
			}
			have = append(have, fmt.Sprintf("%s sent %d received %d of %d: %s", d.Name, d.MessagesSent, d.MessagesReceived, d.ProducerSent, ratio))
		}
		if len(have) != 1 || have[0] != want {
			t.Errorf("edge %s destinations %q, want [%q]", e.ID, have, want)
		}
	}
}
