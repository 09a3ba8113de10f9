package storage

import (
	"math"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// EdgeWindows is the rows summed per window: each edge's calls and
// messages, and each client-server pair's 0.99 latency quantiles over its
// calls (messages and root requests left out) as Histogram.Quantile
// computes them from the same counts.
func TestEdgeWindowsAreTheRowsSums(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	rows := tierRows(h0)
	// calls refused on gateway->checkout (client side only), root
	// requests, and messages dropped on the way to orders
	for m := 0; m < 4*60; m += 3 {
		b := h0.Add(-time.Hour + time.Duration(m)*time.Minute)
		refused := flowmodel.EdgeRollup{Bucket: b, Client: "gateway", Server: "checkout", ConnectionType: flowmodel.ConnectionVirtual, Requests: 2,
			ClientLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), ServerLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), Delay: flowmodel.NewHistogram(flowmodel.DelayBounds)}
		refused.ClientLatency.Observe(20 * time.Microsecond)
		refused.ClientLatency.Observe(3 * time.Second)
		root := flowmodel.EdgeRollup{Bucket: b, Client: "user", Server: "gateway", Requests: 5,
			ClientLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), ServerLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), Delay: flowmodel.NewHistogram(flowmodel.DelayBounds)}
		root.ServerLatency.Observe(time.Second)
		dropped := flowmodel.EdgeRollup{Bucket: b, Client: "checkout", Server: "orders", ConnectionType: flowmodel.ConnectionVirtual, Requests: 1, MessagesSent: 1,
			ClientLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), ServerLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), Delay: flowmodel.NewHistogram(flowmodel.DelayBounds)}
		dropped.ClientLatency.Observe(time.Millisecond)
		rows = append(rows, refused, root, dropped)
	}
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	from, to, window := h0.Add(-37*time.Minute), h0.Add(2*time.Hour), 10*time.Minute
	got, err := s.EdgeWindows(ctx, from, to, window)
	if err != nil {
		t.Fatal(err)
	}

	type edgeKey struct {
		t                    time.Time
		client, server, conn string
	}
	type pairKey struct {
		t              time.Time
		client, server string
	}
	counts := map[edgeKey][3]uint64{}
	client, server := map[pairKey]*flowmodel.Histogram{}, map[pairKey]*flowmodel.Histogram{}
	for _, r := range rows {
		if r.Bucket.Before(from.Truncate(flowmodel.BucketWidth)) || !r.Bucket.Before(to) {
			continue
		}
		w := r.Bucket.Truncate(window)
		k := edgeKey{w, r.Client, r.Server, r.ConnectionType}
		c := counts[k]
		counts[k] = [3]uint64{c[0] + r.Requests, c[1] + r.MessagesSent, c[2] + r.MessagesReceived}
		if r.ConnectionType == flowmodel.ConnectionMessaging || r.MessagesSent > 0 || r.MessagesReceived > 0 || r.Client == "user" {
			continue
		}
		pk := pairKey{w, r.Client, r.Server}
		for _, h := range []struct {
			m map[pairKey]*flowmodel.Histogram
			h flowmodel.Histogram
		}{{client, r.ClientLatency}, {server, r.ServerLatency}} {
			if h.m[pk] == nil {
				nh := flowmodel.NewHistogram(flowmodel.LatencyBounds)
				h.m[pk] = &nh
			}
			h.m[pk].Merge(h.h)
		}
	}
	if len(got) != len(counts) {
		t.Errorf("%d edge windows, want %d", len(got), len(counts))
	}
	for _, g := range got {
		k := edgeKey{g.Time, g.Client, g.Server, g.ConnectionType}
		if c, ok := counts[k]; !ok || c != [3]uint64{g.Requests, g.MessagesSent, g.MessagesReceived} {
			t.Errorf("%+v: counts %v, want %v", k, [3]uint64{g.Requests, g.MessagesSent, g.MessagesReceived}, c)
		}
		pk := pairKey{g.Time, g.Client, g.Server}
		for _, side := range []struct {
			name  string
			h     *flowmodel.Histogram
			calls uint64
			p99   float64
		}{{"client", client[pk], g.ClientCalls, g.ClientP99}, {"server", server[pk], g.ServerCalls, g.ServerP99}} {
			var want uint64
			var p99 float64
			if side.h != nil {
				want, p99 = side.h.Count(), side.h.Quantile(0.99).Seconds()
			}
			if side.calls != want || math.Abs(side.p99-p99) > 1e-6 {
				t.Errorf("%+v: %s side %d calls, p99 %gs; want %d, %gs", k, side.name, side.calls, side.p99, want, p99)
			}
		}
	}
}
