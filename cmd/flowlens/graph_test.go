package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/storage"
)

func TestPrintGraph(t *testing.T) {
	ratio := 0.95
	gr := api.Graph{From: time.Unix(0, 0), To: time.Unix(3600, 0), Source: "storage",
		Nodes: []api.Node{{ID: "checkout"}, {ID: "fulfilment"}},
		Edges: []api.Edge{
			{Client: "checkout", Server: "fulfilment", ConnectionType: "messaging_system", Requests: 380, MessagesSent: 380, MessagesReceived: 380, ProducerSent: 400, DeliveryRatio: &ratio},
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

func TestGraphCommandReadsRollups(t *testing.T) {
	addr, db := chtest.Addr(t), chtest.Database(t)
	ctx := context.Background()
	cfg := storage.Config{Addr: addr, Database: db}
	cfg.SetDefaults()
	st, err := storage.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	bucket := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	lat := storage.NewHistogram(storage.LatencyBounds)
	lat.Counts[3] = 90
	rows := []storage.EdgeRollup{
		{Bucket: bucket, Client: "checkout", Server: "payments", Requests: 90, Failed: 9, ServerLatency: lat,
			Breaker: storage.BreakerCounts{Closed: 80, Open: 10, Transitions: 2}},
		{Bucket: bucket, Client: "checkout", Server: "fulfilment", ConnectionType: "messaging_system", Requests: 95, MessagesSent: 95, MessagesReceived: 95},
		{Bucket: bucket, Client: "checkout", Server: "orders", ConnectionType: "virtual_node", Requests: 5, MessagesSent: 5, Unpaired: 5},
	}
	if err := st.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		g := &globalFlags{}
		root := &cobra.Command{Use: "flowlens", SilenceUsage: true, SilenceErrors: true}
		g.register(root)
		root.AddCommand(newGraphCmd(g))
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{"--clickhouse", addr, "--database", db, "--log-level", "warn", "graph",
			"--from", "2026-11-25T09:30:00Z", "--to", "2026-11-25T10:30:00Z"}, args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("graph %v: %v", args, err)
		}
		return out.String()
	}
	text := run()
	for _, want := range []string{"3 edges", "95.00% (95/100)", "10 open/0 half/80 closed, 2 changes", "10.00"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	var gr api.Graph
	if err := json.Unmarshal([]byte(run("-o", "json", "--service", "payments")), &gr); err != nil {
		t.Fatal(err)
	}
	if len(gr.Edges) != 1 || gr.Edges[0].Requests != 90 || gr.Source != "storage" {
		t.Fatalf("json graph %+v", gr)
	}
}

// A breaker that never changed shows since when it was first seen, said so,
// not the time of its latest call; one that changed shows when it did.
func TestBreakerSinceIsWhenItChangedOrFirstSeen(t *testing.T) {
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UTC()
	tr := breaker.NewTracker(0, int64(time.Minute))
	for i := 0; i < 600; i++ { // a call every second for 10 minutes
		at := t0.Add(time.Duration(i) * time.Second).UnixNano()
		tr.Observe("hx-cart", "hx-pay", breaker.Closed, at, at)
		st := breaker.Closed
		if i >= 300 {
			st = breaker.Open
		}
		tr.Observe("hx-cart", "hx-stock", st, at, at)
	}
	tr.Advance(time.Now().UnixNano())
	gr := api.BuildGraph(nil, tr.Snapshot(), t0, t0.Add(10*time.Minute), "memory")
	var buf bytes.Buffer
	printGraph(&buf, gr)
	lines := map[string]string{}
	for _, l := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "hx-cart" {
			lines[f[1]] = strings.Join(f, " ") // columns one space apart
		}
	}
	if l, want := lines["hx-pay"], "hx-cart hx-pay closed unknown (first seen "+t0.Format(time.RFC3339)+") 0 0 0"; l != want {
		t.Errorf("never-changed breaker:\n%q, want\n%q\n%s", l, want, buf.String())
	}
	if l, want := lines["hx-stock"], "hx-cart hx-stock open "+t0.Add(300*time.Second).Format(time.RFC3339)+" 1 0 0"; l != want {
		t.Errorf("opened breaker:\n%q, want\n%q\n%s", l, want, buf.String())
	}
}
