package flowmodel

import (
	"testing"
	"time"
)

func TestSumRowsAddsUpAnEdgeOverItsBuckets(t *testing.T) {
	b0 := time.Unix(1_800_000_000, 0).UTC().Truncate(BucketWidth)
	row := func(bucket time.Time, client, server string, requests uint64, first, last time.Duration) EdgeRollup {
		r := NewEdgeRollup(bucket, client, server, ConnectionUnset)
		r.Requests, r.Failed = requests, 1
		r.ServerLatency.Observe(3 * time.Millisecond)
		if requests > 0 {
			r.FirstSeen, r.LastSeen = bucket.Add(first), bucket.Add(last)
		}
		r.Breaker.Transitions = 1
		return r
	}
	rows := []EdgeRollup{
		row(b0, "cart", "stock", 3, 10*time.Second, 50*time.Second),
		row(b0.Add(BucketWidth), "cart", "stock", 2, 5*time.Second, 20*time.Second),
		row(b0.Add(2*BucketWidth), "cart", "stock", 0, 0, 0), // breaker changes alone: no call
		row(b0, "web", "cart", 7, 0, time.Second),
	}
	got := SumRows(nil, rows, "stock")
	if len(got) != 1 {
		t.Fatalf("service stock: %d edges, want cart -> stock alone", len(got))
	}
	a := got[0]
	if a.Requests != 5 || a.Failed != 3 || a.Breaker.Transitions != 3 || a.ServerLatency.Count() != 3 {
		t.Errorf("cart -> stock: requests %d, failed %d, transitions %d, latencies %d; want 5, 3, 3, 3",
			a.Requests, a.Failed, a.Breaker.Transitions, a.ServerLatency.Count())
	}
	if want := b0.Add(10 * time.Second); !a.FirstSeen.Equal(want) {
		t.Errorf("first call %s, want %s", a.FirstSeen, want)
	}
	if want := b0.Add(BucketWidth + 20*time.Second); !a.LastSeen.Equal(want) {
		t.Errorf("last call %s, want %s (a bucket without calls has no last call)", a.LastSeen, want)
	}
	// summing onto existing aggregates adds to the edge it holds
	if again := SumRows(got, rows[:1], ""); len(again) != 1 || again[0].Requests != 8 {
		t.Errorf("summed again: %+v", again)
	}
}

func TestRowsInReadsTheBucketHoldingFrom(t *testing.T) {
	b0 := time.Unix(1_800_000_000, 0).UTC().Truncate(BucketWidth)
	var rows []EdgeRollup
	for i := range 4 {
		rows = append(rows, NewEdgeRollup(b0.Add(time.Duration(i)*BucketWidth), "a", "b", ConnectionUnset))
	}
	got := RowsIn(rows, b0.Add(BucketWidth+30*time.Second), b0.Add(3*BucketWidth))
	if len(got) != 2 || !got[0].Bucket.Equal(rows[1].Bucket) || !got[1].Bucket.Equal(rows[2].Bucket) {
		t.Errorf("rows in [b0+1m30s, b0+3m): %v, want the buckets b0+1m and b0+2m", got)
	}
}

func TestConnTypeNamesAreTheColumnValues(t *testing.T) {
	for c, want := range map[ConnType]string{ConnUnset: "", ConnVirtualNode: "virtual_node", ConnMessaging: "messaging_system",
		ConnDatabase: "database", ConnDatabase + 1: ""} {
		if got := c.String(); got != want {
			t.Errorf("ConnType(%d) = %q, want %q", c, got, want)
		}
	}
}

func TestConnectionFiltersNamePlainCallsUnset(t *testing.T) {
	for _, c := range []struct {
		conn, filter string
		match        bool
	}{
		{ConnectionUnset, "", true},
		{ConnectionDatabase, "", true},
		{ConnectionUnset, "unset", true},
		{ConnectionDatabase, "unset", false},
		{ConnectionDatabase, "database", true},
		{ConnectionUnset, "database", false},
	} {
		if got := ConnectionMatches(c.conn, c.filter); got != c.match {
			t.Errorf("edge of type %q, filter %q: match %v, want %v", c.conn, c.filter, got, c.match)
		}
	}
	for _, f := range ConnectionFilters {
		if ConnectionName(ConnectionOfName(f)) != f {
			t.Errorf("filter %q does not name its type back", f)
		}
	}
}
