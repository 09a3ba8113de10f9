package metrics

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/prometheus/client_golang/prometheus"
)

// oneEdge is a Source with at most one edge.
type oneEdge struct {
	started time.Time
	edge    []edges.Edge
}

func (s *oneEdge) Edges() []edges.Edge        { return s.edge }
func (s *oneEdge) Breakers() []breaker.Status { return nil }
func (s *oneEdge) SelfStats() SelfStats       { return SelfStats{} }
func (s *oneEdge) Started() time.Time         { return s.started }

// createdAt gathers reg and returns the created timestamp of the request
// counter of a->b, and of the analyzer's span counter.
func createdAt(t *testing.T, reg *prometheus.Registry) (edge, spans time.Time) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "traces_service_graph_request_total":
			edge = mf.GetMetric()[0].GetCounter().GetCreatedTimestamp().AsTime()
		case "flowlens_flowgraph_spans_total":
			spans = mf.GetMetric()[0].GetCounter().GetCreatedTimestamp().AsTime()
		}
	}
	return edge, spans
}

// A series' created timestamp is 1 ms after the last collection that did
// not see it (the analyzer's start at first): the counter was 0 then, and a
// scraper's zero sample there falls within a scrape interval of its first
// count, after any stale marker that collection made the scraper write. It
// keeps it; a series that vanished starts again after the collection that
// missed it.
func TestCreatedTimestamps(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	src := &oneEdge{started: start}
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(src, Options{Instance: "a", Now: func() time.Time { return now }}))
	ab := []edges.Edge{{Client: "a", Server: "b", Counters: edges.Counters{Requests: 5}}}

	now = start.Add(15 * time.Second)
	src.edge = ab // counted before the first collection
	if e, s := createdAt(t, reg); !e.Equal(start) || !s.Equal(start) {
		t.Errorf("first collection: edge created %v, spans %v; want the start %v", e, s, start)
	}
	now = start.Add(30 * time.Second)
	if e, _ := createdAt(t, reg); !e.Equal(start) {
		t.Errorf("later collection: edge created %v, want it kept at %v", e, start)
	}
	src.edge = nil
	now = start.Add(45 * time.Second)
	createdAt(t, reg)
	src.edge = ab // the edge came back: it counted again from 0
	now = start.Add(60 * time.Second)
	if e, s := createdAt(t, reg); !e.Equal(start.Add(45*time.Second+time.Millisecond)) || !s.Equal(start) {
		t.Errorf("edge back: created %v, want just after the collection that missed it (45.001s); spans %v, want %v", e, s, start)
	}
}
