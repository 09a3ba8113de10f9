package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkGather2000Edges: one scrape of 2,000 edges with requests,
// failures, retries and both latency histograms (created timestamps
// included), as the rules evaluator gathers it every gather_interval.
func BenchmarkGather2000Edges(b *testing.B) {
	src := &oneEdge{started: time.Unix(1000, 0)}
	for i := 0; i < 2000; i++ {
		c := edges.Counters{Requests: 100, Failed: 1, Retries: 2}
		c.ServerLatency.Count, c.ClientLatency.Count = 100, 100
		src.edge = append(src.edge, edges.Edge{Client: fmt.Sprintf("svc-%d", i%100), Server: fmt.Sprintf("svc-%d", i), Counters: c})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(src, Options{Instance: "a"}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
