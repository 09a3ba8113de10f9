package storage

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// tierRows are rollups of three edges, one row per edge per minute over
// hours h0-1 .. h0+3 (one edge only every other minute), with histograms
// and breaker counts that differ per minute so that a wrong sum shows.
func tierRows(h0 time.Time) []flowmodel.EdgeRollup { return edgeRowsOver(h0.Add(-time.Hour), 4*60) }

// edgeRowsOver are tierRows' rows for the minutes from start on.
func edgeRowsOver(start time.Time, minutes int) []flowmodel.EdgeRollup {
	var rows []flowmodel.EdgeRollup
	for m := 0; m < minutes; m++ {
		b := start.Add(time.Duration(m) * time.Minute)
		for i, e := range [][3]string{{"gateway", "checkout", ""}, {"checkout", "fulfilment", flowmodel.ConnectionMessaging}, {"checkout", "orders_db", flowmodel.ConnectionDatabase}} {
			if i == 2 && m%2 == 1 {
				continue
			}
			r := flowmodel.EdgeRollup{Bucket: b, Client: e[0], Server: e[1], ConnectionType: e[2],
				FirstSeen: b.Add(time.Duration(m%30) * time.Second), LastSeen: b.Add(time.Duration(30+m%20) * time.Second),
				Requests: uint64(10 + m%7 + i), Failed: uint64(m % 3),
				ServerLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), ClientLatency: flowmodel.NewHistogram(flowmodel.LatencyBounds), Delay: flowmodel.NewHistogram(flowmodel.DelayBounds),
				Retries: uint64(m % 2), Unpaired: uint64(m % 5 / 4),
				Breaker: flowmodel.BreakerCounts{Closed: uint64(m % 4), Open: uint64(m % 3 / 2), HalfOpen: uint64(m % 11 / 10), Transitions: uint64(m % 13 / 12)}}
			for k := 0; k < int(r.Requests); k++ {
				r.ServerLatency.Observe(time.Duration(1+(m*k+i)%900) * time.Millisecond)
				r.ClientLatency.Observe(time.Duration(2+(m*k+i)%950) * time.Millisecond)
			}
			if e[2] == flowmodel.ConnectionMessaging {
				r.MessagesSent, r.MessagesReceived = r.Requests+1, r.Requests
				r.Delay.Observe(time.Duration(m) * time.Second)
				r.Destination = "orders"
				if m%4 == 0 {
					// the same edge through a second queue in some minutes
					q := r
					q.Destination, q.Requests, q.MessagesSent, q.MessagesReceived = "refunds", 2, 3, 2
					q.ServerLatency, q.ClientLatency, q.Delay = flowmodel.NewHistogram(flowmodel.LatencyBounds), flowmodel.NewHistogram(flowmodel.LatencyBounds), flowmodel.NewHistogram(flowmodel.DelayBounds)
					q.Delay.Observe(time.Duration(m%9) * time.Second)
					rows = append(rows, q)
				}
			}
			rows = append(rows, r)
		}
		if m%60 == 5 {
			// breaker changes alone: no call, so no first or last call
			rows = append(rows, flowmodel.EdgeRollup{Bucket: b, Client: "gateway", Server: "checkout",
				Breaker: flowmodel.BreakerCounts{Transitions: 1}})
		}
	}
	return rows
}

// withoutDestinations are rows as analyzers wrote them before migration 9.
func withoutDestinations(rows []flowmodel.EdgeRollup) []flowmodel.EdgeRollup {
	for i := range rows {
		rows[i].Destination = ""
	}
	return rows
}

// sumRows is what a reader must return for [from, to): the rows' sums per
// edge, computed here without the engine.
func sumRows(rows []flowmodel.EdgeRollup, from, to time.Time) map[string]flowmodel.EdgeAggregate {
	out := map[string]flowmodel.EdgeAggregate{}
	for _, a := range flowmodel.SumRows(nil, flowmodel.RowsIn(rows, from, to), "") {
		out[a.Client+">"+a.Server+"|"+a.ConnectionType] = a
	}
	return out
}

func checkAggregates(t *testing.T, what string, got []flowmodel.EdgeAggregate, want map[string]flowmodel.EdgeAggregate) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d edges, want %d", what, len(got), len(want))
	}
	for _, g := range got {
		k := g.Client + ">" + g.Server + "|" + g.ConnectionType
		w, ok := want[k]
		if !ok {
			t.Errorf("%s: unexpected edge %s", what, k)
			continue
		}
		// float sums are added in another order by the engine
		for _, h := range []*flowmodel.Histogram{&g.ServerLatency, &g.ClientLatency, &g.Delay, &w.ServerLatency, &w.ClientLatency, &w.Delay} {
			h.Sum = float64(int64(h.Sum*1e6+0.5)) / 1e6
		}
		if !g.FirstSeen.Equal(w.FirstSeen) || !g.LastSeen.Equal(w.LastSeen) {
			t.Errorf("%s: edge %s: calls %s - %s, want %s - %s", what, k, g.FirstSeen, g.LastSeen, w.FirstSeen, w.LastSeen)
		}
		g.FirstSeen, g.LastSeen, w.FirstSeen, w.LastSeen = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: edge %s\n got %+v\nwant %+v", what, k, g, w)
		}
	}
}

// Whatever the range, QueryEdges returns exactly the sums of the stored
// rows: whole hours come from the hourly tier, whole 10 minutes around them
// from the 10-minute tier, the minutes left from flow_edges, and no minute
// is counted twice or lost at a boundary.
func TestQueryEdgesTiersAreExact(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	rows := tierRows(h0)
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ from, to time.Time }{
		{h0.Add(-time.Hour), h0.Add(3 * time.Hour)},                                                       // four whole hours
		{h0.Add(-17 * time.Minute), h0.Add(2*time.Hour + 23*time.Minute)},                                 // ragged both ends
		{h0.Add(-17*time.Minute + 30*time.Second), h0.Add(2*time.Hour + 23*time.Minute + 10*time.Second)}, // inside minutes
		{h0.Add(5 * time.Minute), h0.Add(50 * time.Minute)},                                               // no whole hour
		{h0, h0.Add(time.Hour)},                          // exactly one hour
		{h0.Add(-2 * time.Hour), h0.Add(10 * time.Hour)}, // beyond the data
	} {
		got, err := s.QueryEdges(ctx, r.from, r.to, "")
		if err != nil {
			t.Fatal(err)
		}
		checkAggregates(t, fmt.Sprintf("[%s, %s)", r.from.Format("15:04:05"), r.to.Format("15:04:05")), got, sumRows(rows, r.from, r.to))
	}
	// Only the histograms asked are summed; the others come back empty.
	from, to := h0.Add(-17*time.Minute), h0.Add(2*time.Hour+23*time.Minute)
	sums, err := s.QueryEdgeSums(ctx, from, to, "", ServerLatencyHistogram|ClientLatencyHistogram)
	if err != nil {
		t.Fatal(err)
	}
	want := sumRows(rows, from, to)
	for k, w := range want {
		w.Delay = flowmodel.Histogram{Bounds: flowmodel.DelayBounds}
		want[k] = w
	}
	checkAggregates(t, "latency histograms only", sums, want)
	// Filtered by service, either side.
	got, err := s.QueryEdges(ctx, h0.Add(-30*time.Minute), h0.Add(3*time.Hour), "fulfilment")
	if err != nil || len(got) != 1 || got[0].Server != "fulfilment" {
		t.Fatalf("edges of fulfilment: %+v, %v", got, err)
	}
	// Hostile names are data: no rows, no error.
	for _, bad := range []string{"' OR 1=1 --", "checkout') UNION ALL SELECT 1 --", "`x`", "\\'"} {
		got, err := s.QueryEdges(ctx, h0, h0.Add(3*time.Hour), bad)
		if err != nil || len(got) != 0 {
			t.Errorf("service %q: %d edges, %v", bad, len(got), err)
		}
	}
}

// Each tier is what its whole units are read from: with the finer tiers
// emptied one after the other, a range of whole units of a tier is still
// answered, and a range inside one of its units is not.
func TestEachTierAnswersItsWholeUnits(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	d0 := time.Now().UTC().Truncate(24 * time.Hour).Add(-2 * 24 * time.Hour)
	rows := edgeRowsOver(d0.Add(-time.Hour), 26*60)
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	h0 := d0.Add(7 * time.Hour)
	for _, c := range []struct {
		empty        string // the statement that empties the next finer tier
		whole, inner [2]time.Time
	}{
		{"TRUNCATE TABLE " + s.l.Name(EdgesTable),
			[2]time.Time{h0.Add(10 * time.Minute), h0.Add(50 * time.Minute)}, [2]time.Time{h0.Add(3 * time.Minute), h0.Add(9 * time.Minute)}},
		{"ALTER TABLE " + s.l.Name(EdgesTiersTable) + " DELETE WHERE Unit = 600 SETTINGS mutations_sync = 1",
			[2]time.Time{h0, h0.Add(2 * time.Hour)}, [2]time.Time{h0.Add(10 * time.Minute), h0.Add(50 * time.Minute)}},
		{"TRUNCATE TABLE " + s.l.Name(EdgesHourlyTable),
			[2]time.Time{d0.Add(6 * time.Hour), d0.Add(18 * time.Hour)}, [2]time.Time{h0, h0.Add(2 * time.Hour)}},
		{"ALTER TABLE " + s.l.Name(EdgesTiersTable) + " DELETE WHERE Unit = 21600 SETTINGS mutations_sync = 1",
			[2]time.Time{d0, d0.Add(24 * time.Hour)}, [2]time.Time{d0.Add(6 * time.Hour), d0.Add(18 * time.Hour)}},
	} {
		if err := s.conn.Exec(ctx, c.empty); err != nil {
			t.Fatal(err)
		}
		what := func(r [2]time.Time) string {
			return fmt.Sprintf("[d0%+v, d0%+v) after %.40q", r[0].Sub(d0), r[1].Sub(d0), c.empty)
		}
		got, err := s.QueryEdges(ctx, c.whole[0], c.whole[1], "")
		if err != nil {
			t.Fatal(err)
		}
		checkAggregates(t, what(c.whole), got, sumRows(rows, c.whole[0], c.whole[1]))
		got, err = s.QueryEdges(ctx, c.inner[0], c.inner[1], "")
		if err != nil || len(got) != 0 {
			t.Errorf("%s: %d edges, %v; want none", what(c.inner), len(got), err)
		}
	}
}

// A flush re-sent with its dedup token counts once in both tiers.
func TestResentFlushCountsOnceInTheHourlyTier(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	rows := tierRows(h0)[:30]
	for i := 0; i < 2; i++ {
		if err := s.InsertEdgeRollups(ctx, rows, "analyzer-1/flush-9"); err != nil {
			t.Fatal(err)
		}
	}
	want := sumRows(rows, h0.Add(-time.Hour), h0)
	got, err := s.QueryEdges(ctx, h0.Add(-time.Hour), h0, "")
	if err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, "re-sent flush, hourly tier", got, want)
}

// Rows stored before the hourly tier existed are in it after the migration
// that creates it.
func TestHourlyTierMigrationBackfills(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	for _, q := range []string{
		"DROP VIEW " + s.l.Name(EdgesHourlyView),
		"DROP TABLE " + s.l.Name(EdgesHourlyTable),
		// migration 9 adds the destination to the table made again
		"ALTER TABLE " + s.l.Local(MigrationsTable) + " DELETE WHERE Version IN (7, 9) SETTINGS mutations_sync = 1",
	} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pending, err := s.PendingMigrations(ctx)
	if err != nil || len(pending) != 2 || pending[0].Version != 7 || pending[1].Version != 9 {
		t.Fatalf("pending migrations %+v, %v; want versions 7 and 9", pending, err)
	}
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	rows := withoutDestinations(tierRows(h0)) // history from before destinations
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	if applied, err := s.Migrate(ctx); err != nil || !reflect.DeepEqual(applied, []int{7, 9}) {
		t.Fatalf("migrate applied %v, %v", applied, err)
	}
	more := tierRows(h0.Add(time.Hour))[:50] // after the view exists
	if err := s.InsertEdgeRollups(ctx, more, ""); err != nil {
		t.Fatal(err)
	}
	from, to := h0.Add(-time.Hour), h0.Add(4*time.Hour)
	if err := s.conn.Exec(ctx, "TRUNCATE TABLE "+s.l.Name(EdgesTable)); err != nil {
		t.Fatal(err)
	}
	got, err := s.QueryEdges(ctx, from, to, "")
	if err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, "backfilled hourly tier", got, sumRows(append(append([]flowmodel.EdgeRollup{}, rows...), more...), from, to))
}

// QueryEdgeSeries gives each step the sums of its buckets, for steps of
// minutes (flow_edges) and of hours (the hourly tier), with each filter.
func TestQueryEdgeSeries(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	rows := tierRows(h0)
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	from, to := h0.Add(-time.Hour), h0.Add(3*time.Hour)
	for _, tc := range []struct {
		step time.Duration
		f    EdgeFilter
	}{
		{time.Minute, EdgeFilter{Client: "gateway", Server: "checkout"}},
		{10 * time.Minute, EdgeFilter{Service: "checkout"}},
		{7 * time.Minute, EdgeFilter{ConnectionType: flowmodel.ConnectionDatabase}},
		{time.Hour, EdgeFilter{}},
		{2 * time.Hour, EdgeFilter{Client: "checkout"}},
		{20 * time.Minute, EdgeFilter{}}, // the 10-minute tier
		{24 * time.Hour, EdgeFilter{Service: "fulfilment"}},
		{90 * time.Second, EdgeFilter{Server: "fulfilment"}}, // rounded up to 2 minutes
	} {
		t.Run(fmt.Sprintf("%s/%+v", tc.step, tc.f), func(t *testing.T) {
			got, err := s.QueryEdgeSeries(ctx, tc.f, from, to, tc.step)
			if err != nil {
				t.Fatal(err)
			}
			step := (tc.step + time.Minute - 1) / time.Minute * time.Minute
			var sel []flowmodel.EdgeRollup
			for _, r := range rows {
				if (tc.f.Client == "" || r.Client == tc.f.Client) && (tc.f.Server == "" || r.Server == tc.f.Server) &&
					(tc.f.ConnectionType == "" || r.ConnectionType == tc.f.ConnectionType) &&
					(tc.f.Service == "" || r.Client == tc.f.Service || r.Server == tc.f.Service) {
					sel = append(sel, r)
				}
			}
			byTime := map[time.Time][]flowmodel.EdgeAggregate{}
			for _, p := range got {
				if p.Time.Unix()%int64(step/time.Second) != 0 {
					t.Fatalf("point at %s is not on a step boundary", p.Time)
				}
				byTime[p.Time] = append(byTime[p.Time], p.EdgeAggregate)
			}
			steps := 0
			sec := int64(step / time.Second)
			for ts := time.Unix(from.Unix()/sec*sec, 0).UTC(); ts.Before(to); ts = ts.Add(step) {
				lo, hi := ts, ts.Add(step)
				if lo.Before(from) {
					lo = from
				}
				if hi.After(to) {
					hi = to
				}
				want := sumRows(sel, lo, hi)
				if len(want) == 0 {
					continue
				}
				steps++
				checkAggregates(t, ts.Format("15:04"), byTime[ts], want)
			}
			if steps != len(byTime) {
				t.Errorf("%d steps with data, want %d", len(byTime), steps)
			}
		})
	}
	if _, err := s.QueryEdgeSeries(ctx, EdgeFilter{}, from.Add(-30*24*time.Hour), to, time.Minute); err == nil {
		t.Error("a series of 44,000 minutes was not refused")
	}
}

// At every boundary of every tier, and a minute or less either side of
// it, QueryEdges returns exactly the sums of the stored rows: ranges
// starting around a UTC day and ending around the next (every tier is
// read) or around the same one (the finer tiers alone), each end on, just
// before or just after a day, an hour, 10 minutes or a minute.
func TestQueryEdgesExactAtEveryTierBoundary(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	d0 := time.Now().UTC().Truncate(24 * time.Hour).Add(-3 * 24 * time.Hour)
	rows := edgeRowsOver(d0.Add(-2*time.Hour), 28*60)
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	offsets := []time.Duration{-61 * time.Minute, -time.Hour, -10 * time.Minute, -9 * time.Minute, -time.Minute, -30 * time.Second,
		0, 30 * time.Second, time.Minute, 10 * time.Minute, 11 * time.Minute, time.Hour, 61 * time.Minute}
	check := func(from, to time.Time) {
		got, err := s.QueryEdges(ctx, from, to, "")
		if err != nil {
			t.Fatal(err)
		}
		checkAggregates(t, fmt.Sprintf("[d0%+v, d0%+v)", from.Sub(d0), to.Sub(d0)), got, sumRows(rows, from, to))
	}
	for _, a := range offsets {
		for _, b := range offsets {
			check(d0.Add(a), d0.Add(24*time.Hour+b))
			if b > a {
				check(d0.Add(a), d0.Add(b))
			}
		}
	}
}

// splitTiers gives every bucket of a range to exactly one tier, in whole
// units of that tier, at most two ranges per tier, and with a step only to
// tiers whose unit divides it.
func TestSplitTiersCoversEveryBucketOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // a pure function: no clock
	for i := 0; i < 3000; i++ {
		from := base.Add(time.Duration(r.Int64N(int64(10 * 24 * time.Hour))))
		to := from.Add(time.Duration(1 + r.Int64N(int64([]time.Duration{time.Hour, 2 * 24 * time.Hour, 9 * 24 * time.Hour}[i%3]))))
		for _, step := range []time.Duration{0, time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 24 * time.Hour} {
			var all []bucketRange
			for _, tr := range splitTiers(from, to, step) {
				if step%tr.unit != 0 {
					t.Fatalf("[%s, %s) step %s: reads %s", from, to, step, tr.table)
				}
				if len(tr.ranges) > 2 {
					t.Errorf("[%s, %s) step %s: %d ranges of %s", from, to, step, len(tr.ranges), tr.table)
				}
				for _, rg := range tr.ranges {
					if !rg.from.Equal(rg.from.Truncate(tr.unit)) || (!rg.to.Equal(rg.to.Truncate(tr.unit)) && !rg.to.Equal(to)) {
						t.Fatalf("[%s, %s) step %s: %s reads [%s, %s), not whole units", from, to, step, tr.table, rg.from, rg.to)
					}
				}
				all = append(all, tr.ranges...)
			}
			sort.Slice(all, func(i, j int) bool { return all[i].from.Before(all[j].from) })
			at := from.Truncate(flowmodel.BucketWidth)
			for _, rg := range all {
				if !rg.from.Equal(at) || !rg.to.After(rg.from) {
					t.Fatalf("[%s, %s) step %s: gap or overlap at %s: %+v", from, to, step, at, all)
				}
				at = rg.to
			}
			if !at.Equal(to) {
				t.Fatalf("[%s, %s) step %s: ends at %s", from, to, step, at)
			}
		}
	}
}

// Rows stored before the 10-minute, 6-hour and daily tiers existed are in them
// after the migration that creates them, whichever day they are of.
func TestTiersMigrationBackfillsEveryDay(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	for _, q := range []string{
		"DROP VIEW " + s.l.Name(EdgesTiersView),
		"DROP TABLE " + s.l.Name(EdgesTiersTable),
		// migration 9 adds the destination to the table made again
		"ALTER TABLE " + s.l.Local(MigrationsTable) + " DELETE WHERE Version IN (8, 9) SETTINGS mutations_sync = 1",
	} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pending, err := s.PendingMigrations(ctx)
	if err != nil || len(pending) != 2 || pending[0].Version != 8 || pending[1].Version != 9 {
		t.Fatalf("pending migrations %+v, %v; want versions 8 and 9", pending, err)
	}
	d0 := time.Now().UTC().Truncate(24 * time.Hour).Add(-3 * 24 * time.Hour)
	rows := withoutDestinations(edgeRowsOver(d0.Add(-time.Hour), (2*24+2)*60)) // the day before d0 to the day after d0+1, from before destinations
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	if applied, err := s.Migrate(ctx); err != nil || !reflect.DeepEqual(applied, []int{8, 9}) {
		t.Fatalf("migrate applied %v, %v", applied, err)
	}
	more := edgeRowsOver(d0.Add(30*time.Hour), 50) // after the views exist
	if err := s.InsertEdgeRollups(ctx, more, ""); err != nil {
		t.Fatal(err)
	}
	all := append(append([]flowmodel.EdgeRollup{}, rows...), more...)
	if err := s.conn.Exec(ctx, "TRUNCATE TABLE "+s.l.Name(EdgesTable)); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]time.Time{
		{d0, d0.Add(2 * 24 * time.Hour)},                                               // two whole days
		{d0.Add(-50 * time.Minute), d0.Add(-10 * time.Minute)},                         // 10 minutes of the day before
		{d0.Add(20 * time.Minute), d0.Add(40 * time.Minute)},                           // of d0
		{d0.Add(30*time.Hour + 10*time.Minute), d0.Add(30*time.Hour + 50*time.Minute)}, // of d0+1, with rows after the views
		{d0.Add(48*time.Hour + 10*time.Minute), d0.Add(48*time.Hour + 50*time.Minute)}, // of the day after
	} {
		got, err := s.QueryEdges(ctx, r[0], r[1], "")
		if err != nil {
			t.Fatal(err)
		}
		checkAggregates(t, fmt.Sprintf("backfilled [d0%+v, d0%+v)", r[0].Sub(d0), r[1].Sub(d0)), got, sumRows(all, r[0], r[1]))
	}
}

func TestNodeNamesAndOperations(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	if err := s.InsertEdgeRollups(ctx, tierRows(h0), ""); err != nil {
		t.Fatal(err)
	}
	names, err := s.NodeNames(ctx, h0.Add(-30*time.Minute), h0.Add(2*time.Hour))
	if want := []string{"checkout", "fulfilment", "gateway", "orders_db"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Errorf("node names %v, %v; want %v", names, err, want)
	}
	names, err = s.NodeNames(ctx, h0.Add(5*time.Hour), h0.Add(6*time.Hour))
	if err != nil || len(names) != 0 {
		t.Errorf("node names without data: %v, %v", names, err)
	}

	now := time.Now().UTC()
	td := genTraces(1, 20, 4, now.Add(-10*time.Minute), time.Second)
	var sr SpanRows
	sr.AppendTraces(td, nil)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	ops, err := s.Operations(ctx, "checkout", now.Add(-time.Hour), now)
	if want := []string{"GET /api/checkout", "POST /api/checkout"}; err != nil || !reflect.DeepEqual(ops, want) {
		t.Errorf("operations of checkout %v, %v; want %v", ops, err, want)
	}
	for _, bad := range []string{"' OR 1=1 --", "checkout' --"} {
		if ops, err := s.Operations(ctx, bad, now.Add(-time.Hour), now); err != nil || len(ops) != 0 {
			t.Errorf("operations of %q: %v, %v", bad, ops, err)
		}
	}
	if _, err := s.Operations(ctx, "", now.Add(-time.Hour), now); err == nil {
		t.Error("operations without a service were not refused")
	}
}

func TestSearchSpansDurationBoundsAndSlowest(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	now := time.Now().UTC()
	td := genTraces(1, 30, 4, now.Add(-10*time.Minute), time.Second)
	var sr SpanRows
	sr.AppendTraces(td, nil)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	all, err := s.SearchSpans(ctx, SpanQuery{From: now.Add(-time.Hour), To: now, Limit: 1000})
	if err != nil || len(all) != 120 {
		t.Fatalf("all spans: %d, %v", len(all), err)
	}
	lo, hi := 50*time.Millisecond, 120*time.Millisecond
	var want int
	for _, sp := range all {
		if sp.Duration >= lo && sp.Duration <= hi {
			want++
		}
	}
	got, err := s.SearchSpans(ctx, SpanQuery{From: now.Add(-time.Hour), To: now, MinDuration: lo, MaxDuration: hi, Limit: 1000})
	if err != nil || len(got) != want || want == 0 {
		t.Errorf("spans within [%s, %s]: %d, %v; want %d", lo, hi, len(got), err, want)
	}
	slow, err := s.SearchSpans(ctx, SpanQuery{From: now.Add(-time.Hour), To: now, Slowest: true, Limit: 5})
	if err != nil || len(slow) != 5 {
		t.Fatalf("slowest: %d, %v", len(slow), err)
	}
	for i := 1; i < len(slow); i++ {
		if slow[i].Duration > slow[i-1].Duration {
			t.Errorf("slowest not ordered by duration: %s after %s", slow[i].Duration, slow[i-1].Duration)
		}
	}
	var longest time.Duration
	for _, sp := range all {
		longest = max(longest, sp.Duration)
	}
	if slow[0].Duration != longest {
		t.Errorf("slowest first is %s, the longest span is %s", slow[0].Duration, longest)
	}
	if _, err := s.SearchSpans(ctx, SpanQuery{MinDuration: time.Second, MaxDuration: time.Millisecond}); err == nil {
		t.Error("max below min was not refused")
	}
}

func TestSchemaStatus(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	if ok, err := s.DatabaseExists(ctx); err != nil || !ok {
		t.Errorf("database exists: %v, %v", ok, err)
	}
	if p, err := s.PendingMigrations(ctx); err != nil || len(p) != 0 {
		t.Errorf("pending after Migrate: %+v, %v", p, err)
	}
	other, err := s.WithSchema(func(*Config) {})
	if err != nil {
		t.Fatal(err)
	}
	other.cfg.Database = s.cfg.Database + "_missing"
	other.l = newLayout(other.cfg)
	if ok, err := other.DatabaseExists(ctx); err != nil || ok {
		t.Errorf("missing database exists: %v, %v", ok, err)
	}
	all, _ := Migrations(s.cfg)
	if p, err := other.PendingMigrations(ctx); err != nil || len(p) != len(all) {
		t.Errorf("pending in a missing database: %d, %v; want %d", len(p), err, len(all))
	}
}
