package flowgraph

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/storetest"
)

// The API of an analyzer that writes rollups shows the stored counts and
// those it has not written yet, each call once, whenever the flushes run:
// the graph is as fresh as the analyzer, not its last flush.
func TestGraphAddsWhatIsNotStoredYet(t *testing.T) {
	st := storetest.Migrated(t)
	cfg := testConfig()
	cfg.HTTP.Listen = "127.0.0.1:0"
	s, err := New(cfg, Settings{Settings: component.Settings{Logger: zaptest.NewLogger(t)}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	graph := func() api.Graph {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr() + "/api/v1/graph?since=1h")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var g api.Graph
		if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("graph: %s, %v", resp.Status, err)
		}
		return g
	}
	gatewayCalls := func(g api.Graph) uint64 {
		for _, e := range g.Edges {
			if e.ID == "gateway->checkout|" {
				return e.Requests
			}
		}
		return 0
	}
	start := time.Now().Add(-30 * time.Second)
	tp := topology{Traces: 150}
	feed := func(from, to int) { // requests [from, to) of the system
		var spans []genSpan
		for i := from; i < to; i++ {
			spans = tp.traceSpans(start, i, spans)
		}
		for _, td := range batches(spans, 1, 50, 0) {
			s.Analyzer().ConsumeTraces(0, td, time.Now())
		}
	}

	feed(0, 100)
	if err := s.flusher.Flush(ctx); err != nil { // these are stored
		t.Fatal(err)
	}
	feed(100, 150) // these are not
	g := graph()
	if g.Source != "storage+memory" || gatewayCalls(g) != 150 {
		t.Fatalf("graph from %s with %d gateway calls, want storage+memory with 150 (100 stored, 50 not yet)", g.Source, gatewayCalls(g))
	}
	if err := s.flusher.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if g := graph(); gatewayCalls(g) != 150 {
		t.Fatalf("after the next flush: %d gateway calls, want 150", gatewayCalls(g))
	}
	// rates are over the time that has calls, not the hour asked for
	if g.FirstCall == nil || !g.FirstCall.Equal(start.UTC().Truncate(time.Millisecond)) {
		t.Errorf("first call %v, want %v", g.FirstCall, start.UTC())
	}
}
