package query

import (
	"encoding/json"
	"testing"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Per queue: what its producers sent, and the share each consumer service
// received, whether the consumer was paired with its producer, seen alone
// (the virtual edge queue -> consumer) or is a second consumer group.
func TestDestinationsDeliveryRatioPerConsumer(t *testing.T) {
	dest := func(name string, sent, received uint64) []flowmodel.DestinationCounts {
		return []flowmodel.DestinationCounts{{Destination: name, MessagesSent: sent, MessagesReceived: received}}
	}
	aggs := []flowmodel.EdgeAggregate{
		{Client: "checkout", Server: "fulfilment", ConnectionType: flowmodel.ConnectionMessaging, Destinations: dest("orders", 90, 90)},
		{Client: "checkout", Server: "orders", ConnectionType: flowmodel.ConnectionVirtual, Destinations: dest("orders", 10, 0)},
		{Client: "orders", Server: "fulfilment", ConnectionType: flowmodel.ConnectionVirtual, Destinations: dest("orders", 0, 2)},
		// the analyzer counts a message sent once, on its first consumer's edge
		{Client: "checkout", Server: "audit", ConnectionType: flowmodel.ConnectionMessaging, Destinations: dest("orders", 0, 100)},
		{Client: "billing", Server: "fulfilment", ConnectionType: flowmodel.ConnectionMessaging, Destinations: append(dest("orders", 50, 25), dest("refunds", 4, 4)...)},
		{Client: "gateway", Server: "checkout"},
	}
	got, err := json.Marshal(destinationsOf(aggs))
	if err != nil {
		t.Fatal(err)
	}
	// orders: 90 + 10 + 50 sent; audit, another consumer group, saw 100 of
	// them, fulfilment 90 + 2 + 25
	want := `[{"name":"orders","messages_sent":150,"producers":["billing","checkout"],"consumers":[` +
		`{"service":"audit","messages_received":100,"delivery_ratio":0.6666666666666666},` +
		`{"service":"fulfilment","messages_received":117,"delivery_ratio":0.78}]},` +
		`{"name":"refunds","messages_sent":4,"producers":["billing"],"consumers":[{"service":"fulfilment","messages_received":4,"delivery_ratio":1}]}]`
	if string(got) != want {
		t.Errorf("destinations\n got %s\nwant %s", got, want)
	}
}
