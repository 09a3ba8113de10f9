package storage

import (
	"reflect"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// A graph's rates are over the time that has calls: flow_edges rows keep
// the first and last call they count, and a query returns them per edge.
// Rows stored before the columns existed (a database upgraded by Migrate)
// stand in with their bucket's bounds.
func TestEdgeRollupsKeepTheirFirstAndLastCall(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	// a database of the schema before migration 5 (and so without the
	// tiers of migrations 7 and 8, whose views read the columns), holding one row
	b0 := time.Now().UTC().Truncate(flowmodel.BucketWidth).Add(-10 * time.Minute)
	for _, q := range []string{
		"DROP VIEW " + s.l.Name(EdgesHourlyView),
		"DROP TABLE " + s.l.Local(EdgesHourlyTable),
		"DROP VIEW " + s.l.Name(EdgesTiersView),
		"DROP TABLE " + s.l.Local(EdgesTiersTable),
		"ALTER TABLE " + s.l.Local(EdgesTable) + " DROP COLUMN FirstSeen, DROP COLUMN LastSeen, DROP COLUMN Destination",
		"DELETE FROM " + s.l.Local(MigrationsTable) + " WHERE Version IN (5, 7, 8, 9)",
	} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.conn.Exec(ctx, "INSERT INTO "+s.l.Name(EdgesTable)+" (Bucket, Client, Server, Requests) VALUES ({b:DateTime}, 'old', 'db', 5)",
		namedParams("b", b0)...); err != nil {
		t.Fatal(err)
	}
	if done, err := s.Migrate(ctx); err != nil || !reflect.DeepEqual(done, []int{5, 7, 8, 9}) {
		t.Fatalf("upgrade: applied %v, %v; want [5 7 8 9]", done, err)
	}

	at := func(d time.Duration) time.Time { return b0.Add(d) }
	rows := []flowmodel.EdgeRollup{
		{Bucket: at(2 * time.Minute), FirstSeen: at(2*time.Minute + 30*time.Second), LastSeen: at(2*time.Minute + 59*time.Second), Client: "cart", Server: "stock", Requests: 600},
		{Bucket: at(3 * time.Minute), FirstSeen: at(3 * time.Minute), LastSeen: at(3*time.Minute + 14*time.Second), Client: "cart", Server: "stock", Requests: 300},
		// a row of breaker transitions alone has no call
		{Bucket: at(4 * time.Minute), Client: "cart", Server: "stock", Breaker: flowmodel.BreakerCounts{Transitions: 1}},
		{Bucket: at(4 * time.Minute), Client: "cart", Server: "pay", Breaker: flowmodel.BreakerCounts{Transitions: 1}},
	}
	if err := s.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	edges, err := s.QueryEdges(ctx, b0.Add(-time.Hour), time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]time.Time{}
	for _, e := range edges {
		got[e.Client+">"+e.Server] = [2]time.Time{e.FirstSeen, e.LastSeen}
	}
	for edge, want := range map[string][2]time.Time{
		"cart>stock": {at(2*time.Minute + 30*time.Second), at(3*time.Minute + 14*time.Second)},
		"old>db":     {b0, b0.Add(flowmodel.BucketWidth)},
		"cart>pay":   {},
	} {
		if g := got[edge]; !g[0].Equal(want[0]) || !g[1].Equal(want[1]) {
			t.Errorf("%s: calls %v .. %v, want %v .. %v", edge, g[0], g[1], want[0], want[1])
		}
	}
}
