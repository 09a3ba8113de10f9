package edges

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

// TestRowsMergeDestinations: flow_edges has no destination column, so the
// queues a producer sends to are one row per bucket, counted once each.
func TestRowsMergeDestinations(t *testing.T) {
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
	})
	if len(rows) != 2 {
		t.Fatalf("%d rows, want one per bucket: %+v", len(rows), rows)
	}
	r := rows[0]
	if r.Requests != 5 || r.MessagesSent != 5 || r.Breaker.Open != 5 || r.ClientLatency.Count() != 2 ||
		r.ConnectionType != flowmodel.ConnectionMessaging || !r.Bucket.Equal(time.Unix(0, b0).UTC()) {
		t.Errorf("first bucket: %+v, want both destinations' 5 messages", r)
	}
	if !r.FirstSeen.Equal(time.Unix(0, b0+5e9).UTC()) || !r.LastSeen.Equal(time.Unix(0, b0+20e9).UTC()) {
		t.Errorf("first bucket's calls %s - %s, want from the earliest to the latest destination's", r.FirstSeen, r.LastSeen)
	}
	if len(r.ServerLatency.Counts) != len(flowmodel.LatencyBounds)+1 || len(r.Delay.Counts) != len(flowmodel.DelayBounds)+1 {
		t.Errorf("histograms of %d and %d counts, want the bounds' plus one", len(r.ServerLatency.Counts), len(r.Delay.Counts))
	}
	if rows[1].Requests != 1 {
		t.Errorf("second bucket: %d requests, want 1", rows[1].Requests)
	}
}
