package edges

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

// TestRowsKeepDestinations: flow_edges keeps the messaging destination, so
// the queues a producer sends to are a row each per bucket; deltas of the
// same edge, destination and bucket are one row.
func TestRowsKeepDestinations(t *testing.T) {
	b0 := int64(1_800_000_000) * 1e9
	sent := func(bucket int64, dest string, n uint64, first, last int64) BucketEdge {
		c := Counters{Requests: n, Sent: n, FirstNs: bucket + first, LastNs: bucket + last}
		c.BreakerRequests[breaker.Open] = n
		c.ClientLatency.observe(latencyNs, int64(3*time.Millisecond))
		return BucketEdge{BucketNs: bucket, Edge: Edge{Client: "checkout", Server: "fulfilment", Destination: dest,
			Conn: flowmodel.ConnMessaging, Counters: c}}
	}
	minute := int64(time.Minute)
	rows := Rows([]BucketEdge{
		sent(b0, "orders", 2, 10e9, 20e9),
		sent(b0, "refunds", 3, 5e9, 15e9),
		sent(b0+minute, "orders", 1, 0, 0),
		sent(b0, "orders", 4, 12e9, 25e9),
	})
	if len(rows) != 3 {
		t.Fatalf("%d rows, want one per bucket and destination: %+v", len(rows), rows)
	}
	r := rows[0]
	if r.Destination != "orders" || r.Requests != 6 || r.MessagesSent != 6 || r.Breaker.Open != 6 || r.ClientLatency.Count() != 2 ||
		r.ConnectionType != flowmodel.ConnectionMessaging || !r.Bucket.Equal(time.Unix(0, b0).UTC()) {
		t.Errorf("first bucket, orders: %+v, want both deltas' 6 messages", r)
	}
	if !r.FirstSeen.Equal(time.Unix(0, b0+10e9).UTC()) || !r.LastSeen.Equal(time.Unix(0, b0+25e9).UTC()) {
		t.Errorf("first bucket's calls to orders %s - %s, want from the earliest to the latest delta's", r.FirstSeen, r.LastSeen)
	}
	if len(r.ServerLatency.Counts) != len(flowmodel.LatencyBounds)+1 || len(r.Delay.Counts) != len(flowmodel.DelayBounds)+1 {
		t.Errorf("histograms of %d and %d counts, want the bounds' plus one", len(r.ServerLatency.Counts), len(r.Delay.Counts))
	}
	if r := rows[1]; r.Destination != "refunds" || r.MessagesSent != 3 {
		t.Errorf("first bucket, refunds: %+v, want its 3 messages", r)
	}
	if r := rows[2]; r.Destination != "orders" || r.Requests != 1 {
		t.Errorf("second bucket: %+v, want orders' 1 request", r)
	}
}
