package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/api"
)

func TestPrintGraph(t *testing.T) {
	ratio := 0.95
	gr := api.Graph{From: time.Unix(0, 0), To: time.Unix(3600, 0), Source: "storage",
		Nodes: []api.Node{{ID: "checkout"}, {ID: "fulfilment"}},
		Edges: []api.Edge{
			{Client: "checkout", Server: "fulfilment", ConnectionType: "messaging_system", Requests: 380, MessagesSent: 400, MessagesReceived: 380, DeliveryRatio: &ratio},
			{Client: "checkout", Server: "payments", Requests: 407, ErrorPercent: 9.83, P99ms: 48.2,
				BreakerRequests: &api.BreakerRequests{Closed: 257, Open: 100, HalfOpen: 50}, BreakerTransitions: 3},
		},
		Breakers: []api.Breaker{{Service: "checkout", Target: "payments", State: "closed", Transitions: map[string]uint64{"open": 1, "half_open": 1, "closed": 1}}},
	}
	var buf bytes.Buffer
	printGraph(&buf, gr)
	out := buf.String()
	for _, want := range []string{"2 nodes, 2 edges", "95.00% (380/400)", "messaging_system", "100 open/50 half/257 closed, 3 changes", "BREAKERS", "9.83", "48.2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
