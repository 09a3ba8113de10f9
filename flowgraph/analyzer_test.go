package flowgraph

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/pairing"
)

// testBase is when the tests' spans start: hours before now, on an
// injected analyzer clock, so rows stored from them meet no TTL or window.
var testBase = time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)

func testConfig() Config {
	var c Config
	c.Instance = "test"
	c.Shards = 1
	c.SetDefaults()
	c.Store.Wait = 5 * time.Second
	c.Store.MaxItems = 100000
	return c
}

type edgeWant struct {
	requests, failed, sent, received, retries, unpaired uint64
}

// run feeds the topology through an analyzer and returns it after every
// wait is over.
func run(t *testing.T, tp topology, seed uint64, dupEvery int) *Analyzer {
	t.Helper()
	a := NewAnalyzer(testConfig())
	base := testBase
	now := base
	for _, td := range batches(tp.spans(base), seed, 37, dupEvery) {
		a.ConsumeTraces(0, td, now)
		now = now.Add(time.Millisecond)
	}
	a.ConsumeLogs(0, breakerLogs(base, "closed", "open", "closed"), now)
	a.Tick(now.Add(6 * time.Second))
	return a
}

func edgeMap(a *Analyzer) map[string]edgeWant {
	got := map[string]edgeWant{}
	for _, e := range api.Aggregates(a.Edges(), "") {
		got[fmt.Sprintf("%s>%s|%s", e.Client, e.Server, e.ConnectionType)] = edgeWant{
			e.Requests, e.Failed, e.MessagesSent, e.MessagesReceived, e.Retries, e.Unpaired}
	}
	return got
}

// edgesByID indexes a graph's edges by ID and fails t for each wanted ID
// that is missing, so the checks on those edges cannot be skipped silently.
func edgesByID(t *testing.T, edges []api.Edge, want ...string) map[string]api.Edge {
	t.Helper()
	byID := make(map[string]api.Edge, len(edges))
	for _, e := range edges {
		byID[e.ID] = e
	}
	for _, id := range want {
		if _, ok := byID[id]; !ok {
			ids := make([]string, 0, len(edges))
			for _, e := range edges {
				ids = append(ids, e.ID)
			}
			t.Errorf("no edge %s in the graph; it has %s", id, strings.Join(ids, ", "))
		}
	}
	return byID
}

func TestKnownTopologyGraphIsExact(t *testing.T) {
	tp := topology{Traces: 400, DropEvery: 20, Retries: 7}
	want := tp.expected()
	if want["checkout>payments|"] != (edgeWant{requests: 407, failed: 40, retries: 7}) || want["checkout>orders|virtual_node"].sent != 20 {
		t.Fatalf("expected graph miscomputed: %+v", want)
	}
	for _, tc := range []struct {
		name     string
		seed     uint64
		dupEvery int
	}{
		{"shuffled", 1, 0},
		{"shuffled again", 2, 0},
		{"with duplicates", 3, 10},
		{"every span twice", 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := run(t, tp, tc.seed, tc.dupEvery)
			got := edgeMap(a)
			for k, w := range want {
				if got[k] != w {
					t.Errorf("edge %s: got %+v, want %+v", k, got[k], w)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected edge %s: %+v", k, got[k])
				}
			}
			st := a.Stats()
			if st.Outcomes[pairing.OutcomeEvicted] != 0 {
				t.Errorf("evictions %d", st.Outcomes[pairing.OutcomeEvicted])
			}
			if tc.dupEvery > 0 && st.Outcomes[pairing.OutcomeDuplicate] == 0 {
				t.Errorf("duplicates were not recognised: %+v", st.Outcomes)
			}

			g := api.BuildGraph(api.Aggregates(a.Edges(), ""), a.Breakers(), time.Unix(0, 0), time.Unix(400, 0), "memory")
			types := map[string]string{}
			for _, n := range g.Nodes {
				types[n.ID] = n.Type
			}
			wantTypes := map[string]string{"user": "user", "gateway": "service", "checkout": "service", "payments": "service",
				"fulfilment": "service", "api.stripe.com": "virtual", "orders": "virtual", "orders_db": "database"}
			for id, ty := range wantTypes {
				if types[id] != ty {
					t.Errorf("node %s: type %q, want %q (all %v)", id, types[id], ty, types)
				}
			}
			byID := edgesByID(t, g.Edges, "checkout->fulfilment|messaging_system", "checkout->payments|")
			if e, ok := byID["checkout->fulfilment|messaging_system"]; ok {
				if e.DeliveryRatio == nil || math.Abs(*e.DeliveryRatio-0.95) > 1e-9 {
					t.Errorf("delivery ratio %v, want 0.95", e.DeliveryRatio)
				}
				if e.DelayP99ms > 1 { // the consumer host's clock is behind: clamped to 0, first bucket
					t.Errorf("delay p99 %v, want <= 1 ms (skew clamped)", e.DelayP99ms)
				}
			}
			if e, ok := byID["checkout->payments|"]; ok {
				if e.ErrorPercent < 9.8 || e.ErrorPercent > 9.9 {
					t.Errorf("error percent %v", e.ErrorPercent)
				}
				if e.Breaker == nil || e.Breaker.State != "closed" {
					t.Errorf("breaker on edge: %+v", e.Breaker)
				}
				if e.P50ms <= 10 || e.P50ms > 50 {
					t.Errorf("p50 %v ms, want in the (10, 50] ms bucket", e.P50ms)
				}
			}
		})
	}
}

func TestBreakersFromSpansAndLogs(t *testing.T) {
	a := run(t, topology{Traces: 400, DropEvery: 20}, 5, 0)
	got := map[breaker.Key]breaker.Status{}
	for _, b := range a.Breakers() {
		got[b.Key] = b
	}
	pay := got[breaker.Key{Service: "checkout", Target: "payments"}]
	if pay.State != breaker.Closed || pay.Transitions[breaker.Open] != 1 || pay.Transitions[breaker.HalfOpen] != 1 || pay.Transitions[breaker.Closed] != 1 {
		t.Errorf("checkout->payments breaker %+v, want closed with one transition into each state", pay)
	}
	db := got[breaker.Key{Service: "fulfilment", Target: "orders_db"}]
	if db.State != breaker.Closed || db.Transitions[breaker.Open] != 1 || db.Transitions[breaker.Closed] != 1 {
		t.Errorf("fulfilment->orders_db breaker %+v", db)
	}
	if len(got) != 2 {
		t.Errorf("breakers %v", got)
	}
}

func TestRollupsSumToTotals(t *testing.T) {
	a := run(t, topology{Traces: 400, DropEvery: 20, Retries: 7}, 6, 0)
	r := a.DrainRollups()
	var req, sent uint64
	for _, e := range r {
		req += e.Requests
		sent += e.Sent
	}
	if req != 400+400+407+400+380+20+380 || sent != 400 {
		t.Fatalf("rollup requests %d sent %d", req, sent)
	}
	if again := a.DrainRollups(); len(again) != 0 {
		t.Fatalf("drain twice returned %d rows", len(again))
	}
	var sb strings.Builder
	for _, e := range r {
		fmt.Fprintf(&sb, "%d %s>%s\n", e.BucketNs, e.Client, e.Server)
	}
	if !strings.Contains(sb.String(), "checkout>payments") {
		t.Fatalf("rollups:\n%s", sb.String())
	}
}
