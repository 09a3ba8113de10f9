package storage

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// tierRows are rollups of three edges, one row per edge per minute over
// hours h0-1 .. h0+3 (one edge only every other minute), with histograms
// and breaker counts that differ per minute so that a wrong sum shows.
func tierRows(h0 time.Time) []EdgeRollup {
	var rows []EdgeRollup
	start := h0.Add(-time.Hour)
	for m := 0; m < 4*60; m++ {
		b := start.Add(time.Duration(m) * time.Minute)
		for i, e := range [][3]string{{"gateway", "checkout", ""}, {"checkout", "fulfilment", ConnectionMessaging}, {"checkout", "orders_db", ConnectionDatabase}} {
			if i == 2 && m%2 == 1 {
				continue
			}
			r := EdgeRollup{Bucket: b, Client: e[0], Server: e[1], ConnectionType: e[2],
				FirstSeen: b.Add(time.Duration(m%30) * time.Second), LastSeen: b.Add(time.Duration(30+m%20) * time.Second),
				Requests: uint64(10 + m%7 + i), Failed: uint64(m % 3),
				ServerLatency: NewHistogram(LatencyBounds), ClientLatency: NewHistogram(LatencyBounds), Delay: NewHistogram(DelayBounds),
				Retries: uint64(m % 2), Unpaired: uint64(m % 5 / 4),
				Breaker: BreakerCounts{Closed: uint64(m % 4), Open: uint64(m % 3 / 2), HalfOpen: uint64(m % 11 / 10), Transitions: uint64(m % 13 / 12)}}
			for k := 0; k < int(r.Requests); k++ {
				r.ServerLatency.Observe(time.Duration(1+(m*k+i)%900) * time.Millisecond)
				r.ClientLatency.Observe(time.Duration(2+(m*k+i)%950) * time.Millisecond)
			}
			if e[2] == ConnectionMessaging {
				r.MessagesSent, r.MessagesReceived = r.Requests+1, r.Requests
				r.Delay.Observe(time.Duration(m) * time.Second)
			}
			rows = append(rows, r)
		}
		if m%60 == 5 {
			// breaker changes alone: no call, so no first or last call
			rows = append(rows, EdgeRollup{Bucket: b, Client: "gateway", Server: "checkout",
				Breaker: BreakerCounts{Transitions: 1}})
		}
	}
	return rows
}

// sumRows is what a reader must return for [from, to): the rows' sums per
// edge, computed here without the engine.
func sumRows(rows []EdgeRollup, from, to time.Time) map[string]EdgeAggregate {
	out := map[string]EdgeAggregate{}
	from = from.Truncate(EdgeBucket)
	for _, r := range rows {
		if r.Bucket.Before(from) || !r.Bucket.Before(to) {
			continue
		}
		k := r.Client + ">" + r.Server + "|" + r.ConnectionType
		a, ok := out[k]
		if !ok {
			a = EdgeAggregate{Client: r.Client, Server: r.Server, ConnectionType: r.ConnectionType,
				ServerLatency: NewHistogram(LatencyBounds), ClientLatency: NewHistogram(LatencyBounds), Delay: NewHistogram(DelayBounds)}
		}
		a.AddRow(&r)
		out[k] = a
	}
	return out
}

func checkAggregates(t *testing.T, what string, got []EdgeAggregate, want map[string]EdgeAggregate) {
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
		for _, h := range []*Histogram{&g.ServerLatency, &g.ClientLatency, &g.Delay, &w.ServerLatency, &w.ClientLatency, &w.Delay} {
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
// rows: whole hours come from the hourly tier, the minutes around them from
// flow_edges, and no minute is counted twice or lost at a boundary.
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

// The hourly tier is what long ranges read: with the minute rows gone,
// whole hours are still answered, and the minutes around them are not.
func TestWholeHoursReadTheHourlyTier(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	rows := tierRows(h0)
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.conn.Exec(ctx, "TRUNCATE TABLE "+s.l.Name(EdgesTable)); err != nil {
		t.Fatal(err)
	}
	got, err := s.QueryEdges(ctx, h0, h0.Add(2*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, "two whole hours from the hourly tier", got, sumRows(rows, h0, h0.Add(2*time.Hour)))
	got, err = s.QueryEdges(ctx, h0.Add(10*time.Minute), h0.Add(50*time.Minute), "")
	if err != nil || len(got) != 0 {
		t.Errorf("minutes inside an hour came from the hourly tier: %d edges, %v", len(got), err)
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
		"ALTER TABLE " + s.l.Local(MigrationsTable) + " DELETE WHERE Version = 7 SETTINGS mutations_sync = 1",
	} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pending, err := s.PendingMigrations(ctx)
	if err != nil || len(pending) != 1 || pending[0].Version != 7 {
		t.Fatalf("pending migrations %+v, %v; want version 7", pending, err)
	}
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	rows := tierRows(h0)
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	if applied, err := s.Migrate(ctx); err != nil || len(applied) != 1 || applied[0] != 7 {
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
	checkAggregates(t, "backfilled hourly tier", got, sumRows(append(append([]EdgeRollup{}, rows...), more...), from, to))
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
		{7 * time.Minute, EdgeFilter{ConnectionType: ConnectionDatabase}},
		{time.Hour, EdgeFilter{}},
		{2 * time.Hour, EdgeFilter{Client: "checkout"}},
		{90 * time.Second, EdgeFilter{Server: "fulfilment"}}, // rounded up to 2 minutes
	} {
		t.Run(fmt.Sprintf("%s/%+v", tc.step, tc.f), func(t *testing.T) {
			got, err := s.QueryEdgeSeries(ctx, tc.f, from, to, tc.step)
			if err != nil {
				t.Fatal(err)
			}
			step := (tc.step + time.Minute - 1) / time.Minute * time.Minute
			var sel []EdgeRollup
			for _, r := range rows {
				if (tc.f.Client == "" || r.Client == tc.f.Client) && (tc.f.Server == "" || r.Server == tc.f.Server) &&
					(tc.f.ConnectionType == "" || r.ConnectionType == tc.f.ConnectionType) &&
					(tc.f.Service == "" || r.Client == tc.f.Service || r.Server == tc.f.Service) {
					sel = append(sel, r)
				}
			}
			byTime := map[time.Time][]EdgeAggregate{}
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
