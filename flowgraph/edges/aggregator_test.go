package edges

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/intern"
)

func TestBucketsClampAndOverflow(t *testing.T) {
	names := intern.NewTable(0)
	a := NewAggregator(Config{BucketNs: int64(time.Minute), MaxLatenessNs: int64(time.Hour), MaxFutureNs: int64(5 * time.Minute), MaxEdges: 2}, names)
	now := int64(1_700_000_000) * 1e9
	a.SetNow(now)
	ab := Observation{Client: names.ID("a"), Server: names.ID("b"), ClientNs: Absent, ServerNs: int64(3 * time.Millisecond), DelayNs: Absent}
	for _, at := range []int64{now, now - int64(2*time.Hour) /* too old: placed now */, now + int64(time.Hour) /* skewed: placed now */, now - int64(90*time.Second)} {
		o := ab
		o.TimeNs = at
		a.Observe(&o)
	}
	// a third distinct edge is folded into the overflow edge
	for _, s := range []string{"c", "d"} {
		o := ab
		o.TimeNs, o.Server = now, names.ID(s)
		a.Observe(&o)
	}
	if a.Len() != 3 || a.Folded != 1 {
		t.Fatalf("edges %d folded %d, want a->b, a->c and the overflow edge", a.Len(), a.Folded)
	}
	rows := a.Drain(nil, math.MaxInt64)
	byBucket := map[int64]uint64{}
	for _, r := range rows {
		if r.Client == "a" && r.Server == "b" {
			byBucket[r.BucketNs] += r.Requests
		}
	}
	cur := now - now%int64(time.Minute)
	if byBucket[cur] != 3 || byBucket[cur-2*int64(time.Minute)] != 1 || len(byBucket) != 2 {
		t.Fatalf("buckets %v", byBucket)
	}
	if a.PendingBuckets() != 0 || len(a.Drain(nil, math.MaxInt64)) != 0 {
		t.Fatal("drain must forget what it returned")
	}
	var abTotal *Edge
	tot := a.AppendTotals(nil)
	for i := range tot {
		if tot[i].Client == "a" && tot[i].Server == "b" {
			abTotal = &tot[i]
		}
	}
	if abTotal == nil {
		t.Fatalf("no a->b edge in the totals %+v", tot)
	}
	if e := abTotal; e.Requests != 4 || e.ServerLatency.Count != 4 || e.ServerLatency.Counts[bucketOf(latencyNs, int64(3*time.Millisecond))] != 4 {
		t.Fatalf("a->b totals %+v", *e)
	}
}

func TestInternOverflowAndCache(t *testing.T) {
	tb := intern.NewTable(4) // "", __overflow__, and two more
	c := intern.NewCache(tb)
	x, y := c.ID("x"), c.IDBytes([]byte("y"))
	if z := c.ID("z"); tb.Name(z) != intern.Overflow || tb.Overflowed() != 1 {
		t.Fatalf("z -> %q, overflowed %d", tb.Name(z), tb.Overflowed())
	}
	if c.ID("x") != x || tb.ID("y") != y || tb.Name(x) != "x" {
		t.Fatal("cache and table disagree")
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.IDBytes([]byte{'y'}) }); n != 0 {
		t.Fatalf("cached lookup allocates %v", n)
	}
}

// Idle edges go once their counts are drained; the deltas of the edges
// that stay still carry their own names.
func TestEvictIdleKeepsUndrainedAndRenumbers(t *testing.T) {
	names := intern.NewTable(0)
	a := NewAggregator(Config{BucketNs: int64(time.Minute), MaxLatenessNs: int64(time.Hour), MaxFutureNs: int64(time.Hour)}, names)
	t0 := int64(1_700_000_000) * 1e9
	observe := func(client, server string, at int64) {
		a.SetNow(at)
		o := Observation{Client: names.ID(client), Server: names.ID(server), TimeNs: at, ClientNs: Absent, ServerNs: Absent, DelayNs: Absent}
		a.Observe(&o)
	}
	observe("old", "x", t0)
	observe("old", "y", t0)
	a.Drain(nil, math.MaxInt64)
	observe("undrained", "z", t0)
	observe("fresh", "w", t0+int64(time.Hour))
	if n := a.EvictIdle(t0 + 1); n != 2 || a.Evicted != 2 || a.Len() != 2 {
		t.Fatalf("evicted %d (total %d), %d edges left; want old->x and old->y gone", n, a.Evicted, a.Len())
	}
	rows := a.Drain(nil, math.MaxInt64)
	got := map[string]uint64{}
	for _, r := range rows {
		got[r.Client+"->"+r.Server] += r.Requests
	}
	if len(got) != 2 || got["undrained->z"] != 1 || got["fresh->w"] != 1 {
		t.Fatalf("rows after eviction: %v", got)
	}
	observe("fresh", "w", t0+int64(time.Hour))
	if a.Len() != 2 {
		t.Fatalf("an existing edge was added again: %d edges", a.Len())
	}
	var marked []string
	a.MarkNames(func(id intern.ID) { marked = append(marked, names.Name(id)) })
	for _, n := range []string{"undrained", "z", "fresh", "w"} {
		if !strings.Contains(strings.Join(marked, ","), n) {
			t.Errorf("%s not marked in use: %v", n, marked)
		}
	}
}
