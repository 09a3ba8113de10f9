package edges

import (
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Row is e's counters as the flow_edges row of its edge and bucket.
func (e *BucketEdge) Row() flowmodel.EdgeRollup {
	r := flowmodel.NewEdgeRollup(time.Unix(0, e.BucketNs).UTC(), e.Client, e.Server, e.Conn.String())
	r.Destination = e.Destination
	c := &e.Counters
	if c.Requests > 0 {
		r.FirstSeen, r.LastSeen = time.Unix(0, c.FirstNs).UTC(), time.Unix(0, c.LastNs).UTC()
	}
	r.Requests, r.Failed = c.Requests, c.Failed
	r.MessagesSent, r.MessagesReceived = c.Sent, c.Received
	r.Retries, r.Unpaired = c.Retries, c.Unpaired
	r.Breaker = flowmodel.BreakerCounts{Closed: c.BreakerRequests[breaker.Closed], Open: c.BreakerRequests[breaker.Open],
		HalfOpen: c.BreakerRequests[breaker.HalfOpen], Transitions: c.BreakerTransitions}
	c.ServerLatency.addTo(&r.ServerLatency)
	c.ClientLatency.addTo(&r.ClientLatency)
	c.Delay.addTo(&r.Delay)
	return r
}

type rowKey struct {
	bucket                      int64
	client, server, destination string
	conn                        flowmodel.ConnType
}

// Rows converts bucket deltas to flow_edges rows, one per bucket and edge
// (client, server, connection type and messaging destination).
func Rows(in []BucketEdge) []flowmodel.EdgeRollup {
	if len(in) == 0 {
		return nil
	}
	idx := make(map[rowKey]int, len(in))
	merged := make([]BucketEdge, 0, len(in))
	for i := range in {
		e := &in[i]
		k := rowKey{e.BucketNs, e.Client, e.Server, e.Destination, e.Conn}
		if j, ok := idx[k]; ok {
			merged[j].Add(&e.Counters)
			continue
		}
		idx[k] = len(merged)
		merged = append(merged, *e)
	}
	out := make([]flowmodel.EdgeRollup, len(merged))
	for i := range merged {
		out[i] = merged[i].Row()
	}
	return out
}

// addTo adds h's counts (the first len(dst.Counts)) and sum into dst.
func (h *Histogram) addTo(dst *flowmodel.Histogram) {
	for i := range dst.Counts {
		dst.Counts[i] += h.Counts[i]
	}
	dst.Sum += float64(h.SumNs) / 1e9
}
