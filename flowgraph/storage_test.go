package flowgraph

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/flowgraph/rollup"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// brokenAfterInsert stores the first batch and then reports an error, as
// when the connection drops before the server's answer arrives.
type brokenAfterInsert struct {
	rollup.Writer
	calls  int
	tokens []string
}

func (w *brokenAfterInsert) InsertEdgeRollups(ctx context.Context, rows []flowmodel.EdgeRollup, token string) error {
	w.calls++
	w.tokens = append(w.tokens, token)
	if err := w.Writer.InsertEdgeRollups(ctx, rows, token); err != nil {
		return err
	}
	if w.calls == 1 {
		return errors.New("connection reset after insert")
	}
	return nil
}

func TestRollupsThroughStorageMatchMemory(t *testing.T) {
	st := storetest.Migrated(t)
	ctx := context.Background()
	a := run(t, topology{Traces: 400, DropEvery: 20, Retries: 7}, 11, 0)

	w := &brokenAfterInsert{Writer: st}
	var flushedAt []time.Time
	f, _ := rollup.New(rollup.Config{Instance: "test"}, a.DrainRollups, w, zaptest.NewLogger(t), nil)
	f.OnFlushed = func(t time.Time) { flushedAt = append(flushedAt, t) }
	if err := f.Flush(ctx); err == nil {
		t.Fatal("first flush: want the writer's error")
	}
	if len(flushedAt) != 0 || f.Pending() != 1 {
		t.Fatalf("after a failed flush: %d OnFlushed calls, %d pending", len(flushedAt), f.Pending())
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if w.calls != 2 || w.tokens[0] != w.tokens[1] || len(flushedAt) != 1 {
		t.Fatalf("retry: %d calls, tokens %v, %d OnFlushed", w.calls, w.tokens, len(flushedAt))
	}

	base := testBase
	from, to := base.Add(-time.Hour).Format(time.RFC3339), base.Add(time.Hour).Format(time.RFC3339)
	stored, err := api.New(api.Options{Store: st, Live: a}).Graph(ctx, from, to, "")
	if err != nil {
		t.Fatalf("graph from storage: %v", err)
	}
	mem, err := api.New(api.Options{Live: a}).Graph(ctx, from, to, "")
	if err != nil {
		t.Fatalf("graph from memory: %v", err)
	}
	if stored.Source != "storage" || len(stored.Edges) != len(mem.Edges) || len(stored.Edges) != 7 {
		t.Fatalf("stored %d edges (%s), memory %d", len(stored.Edges), stored.Source, len(mem.Edges))
	}
	for i := range mem.Edges {
		s, m := stored.Edges[i], mem.Edges[i]
		if s.ID != m.ID || s.Requests != m.Requests || s.Failed != m.Failed || s.MessagesSent != m.MessagesSent ||
			s.MessagesReceived != m.MessagesReceived || s.Retries != m.Retries || s.Unpaired != m.Unpaired ||
			s.P99ms != m.P99ms || (s.DeliveryRatio == nil) != (m.DeliveryRatio == nil) {
			t.Errorf("edge %d:\nstored %+v\nmemory %+v", i, s, m)
		}
	}
	// the re-sent batch was stored once: requests are not doubled
	var req uint64
	for _, e := range stored.Edges {
		req += e.Requests
	}
	if req != 400+400+407+400+380+20+380 {
		t.Fatalf("stored requests %d: the retried batch was stored twice?", req)
	}
	byID := edgesByID(t, stored.Edges, "checkout->payments|", "fulfilment->orders_db|database")
	if e, ok := byID["checkout->payments|"]; ok {
		if e.BreakerRequests == nil || *e.BreakerRequests != (api.BreakerRequests{Closed: 257, Open: 100, HalfOpen: 50}) || e.BreakerTransitions != 3 {
			t.Errorf("checkout->payments breaker counts %+v, transitions %d", e.BreakerRequests, e.BreakerTransitions)
		}
	}
	if e, ok := byID["fulfilment->orders_db|database"]; ok && e.BreakerTransitions != 2 { // from log records: closed, open, closed
		t.Errorf("fulfilment->orders_db transitions %d, want 2", e.BreakerTransitions)
	}
	one, err := api.New(api.Options{Store: st}).Graph(ctx, from, to, "payments")
	if err != nil || len(one.Edges) != 1 || one.Edges[0].Requests != 407 {
		t.Fatalf("service filter: %v %+v", err, one.Edges)
	}
}

// TestGraphRefusedByStorageIsABadRequest: a graph storage cannot query (a
// service name longer than its filters take) is the caller's mistake, a
// 400 that says why, though the API knows storage only as an interface.
func TestGraphRefusedByStorageIsABadRequest(t *testing.T) {
	h := api.New(api.Options{Store: storetest.Migrated(t)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/graph?since=1h&service="+strings.Repeat("s", storage.MaxFilterBytes+1), nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "limit") {
		t.Fatalf("status %d %s, want 400 naming the limit", rec.Code, rec.Body.String())
	}
}
