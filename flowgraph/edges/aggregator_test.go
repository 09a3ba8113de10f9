package edges

import (
	"math"
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
