package query

import (
	"context"
	"sort"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Destination is one messaging destination (queue, topic) over a range:
// what its producers sent and what each consumer service received.
type Destination struct {
	Name string `json:"name"`
	// Sent is what every producer sent to it (producer spans), lost
	// messages included; Producers are those services, sorted.
	Sent      uint64   `json:"messages_sent"`
	Producers []string `json:"producers"`
	// Consumers are the services that received from it, sorted; one
	// received message is one consumer span (one per link).
	Consumers []DestinationConsumer `json:"consumers"`
}

// DestinationConsumer is what one service received from a destination.
type DestinationConsumer struct {
	Service  string `json:"service"`
	Received uint64 `json:"messages_received"`
	// DeliveryRatio is Received / the destination's Sent: the share of
	// the messages this consumer saw (absent when nothing was sent in the
	// range). Every consumer group has its own.
	DeliveryRatio *float64 `json:"delivery_ratio,omitempty"`
}

// Destinations answers, for [from, to), each messaging destination's
// messages sent and received per consumer: the per-queue delivery ratios
// over any stored range (one edge query without histograms). Messages
// stored before destinations were recorded (schema migration 9) are in no
// destination.
func (r Reader) Destinations(ctx context.Context, from, to time.Time) ([]Destination, error) {
	if err := CheckRange(from, to); err != nil {
		return nil, err
	}
	aggs, err := r.Store.QueryEdgeSums(ctx, from, to, "", 0)
	if err != nil {
		return nil, err
	}
	return destinationsOf(aggs), nil
}

// destinationsOf sums the edges' messages per destination.
func destinationsOf(aggs []flowmodel.EdgeAggregate) []Destination {
	type dest struct {
		sent      uint64
		producers map[string]bool
		received  map[string]uint64
	}
	byName := map[string]*dest{}
	for _, a := range aggs {
		for _, d := range a.Destinations {
			x := byName[d.Destination]
			if x == nil {
				x = &dest{producers: map[string]bool{}, received: map[string]uint64{}}
				byName[d.Destination] = x
			}
			// a consumer whose producer was never seen is on the virtual
			// edge destination -> consumer, whose client is the queue
			if d.MessagesSent > 0 {
				x.sent += d.MessagesSent
				x.producers[a.Client] = true
			}
			if d.MessagesReceived > 0 {
				x.received[a.Server] += d.MessagesReceived
			}
		}
	}
	out := make([]Destination, 0, len(byName))
	for name, x := range byName {
		d := Destination{Name: name, Sent: x.sent, Producers: make([]string, 0, len(x.producers)), Consumers: []DestinationConsumer{}}
		for p := range x.producers {
			d.Producers = append(d.Producers, p)
		}
		sort.Strings(d.Producers)
		for svc, n := range x.received {
			c := DestinationConsumer{Service: svc, Received: n}
			if x.sent > 0 {
				ratio := float64(n) / float64(x.sent)
				c.DeliveryRatio = &ratio
			}
			d.Consumers = append(d.Consumers, c)
		}
		sort.Slice(d.Consumers, func(i, j int) bool { return d.Consumers[i].Service < d.Consumers[j].Service })
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
