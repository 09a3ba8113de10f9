package breaker

import (
	"math/rand/v2"
	"testing"
)

func TestTransitionsExactUnderShuffledArrival(t *testing.T) {
	// closed x300, open x200, half_open x50, closed x250, open x10, closed x190
	runs := []struct {
		s State
		n int
	}{{Closed, 300}, {Open, 200}, {HalfOpen, 50}, {Closed, 250}, {Open, 10}, {Closed, 190}}
	var seq []State
	for _, r := range runs {
		for i := 0; i < r.n; i++ {
			seq = append(seq, r.s)
		}
	}
	for seed := uint64(0); seed < 20; seed++ {
		tr := NewTracker(10, 60e9)
		order := rand.New(rand.NewPCG(seed, seed)).Perm(len(seq))
		for _, i := range order {
			tr.Observe("checkout", "payments", seq[i], int64(i)*1000, 0)
		}
		held := len(tr.m[Key{"checkout", "payments"}].pending)
		if held > 2*len(runs) {
			t.Fatalf("seed %d: %d observations held, want at most %d (run ends)", seed, held, 2*len(runs))
		}
		tr.Advance(10)
		st := tr.Snapshot()[0]
		want := [4]uint64{Closed: 2, Open: 2, HalfOpen: 1}
		if st.State != Closed || st.Transitions != want || tr.Late() != 0 {
			t.Fatalf("seed %d: %+v late %d, want closed with transitions %v", seed, st, tr.Late(), want)
		}
		if got := tr.DrainTransitions(); got[BucketKey{0, Key{"checkout", "payments"}}] != 5 {
			t.Fatalf("bucket transitions %v", got)
		}
	}
}

func TestLateObservationsAreCountedNotApplied(t *testing.T) {
	tr := NewTracker(10, 60e9)
	tr.Observe("a", "b", Closed, 100, 0)
	tr.Observe("a", "b", Open, 200, 0)
	tr.Advance(10)
	tr.Observe("a", "b", HalfOpen, 150, 20) // after the delay, older than applied
	tr.Advance(30)
	st := tr.Snapshot()[0]
	if st.State != Open || st.Transitions[Open] != 1 || st.Transitions[HalfOpen] != 0 || tr.Late() != 1 {
		t.Fatalf("%+v late %d", st, tr.Late())
	}
}

func TestParseState(t *testing.T) {
	for in, want := range map[string]State{"closed": Closed, "OPEN": Open, "Half-Open": HalfOpen, "half_open": HalfOpen, "HALFOPEN": HalfOpen, "tripped": Unknown, "": Unknown} {
		if got := ParseState(in); got != want {
			t.Errorf("ParseState(%q) = %v, want %v", in, got, want)
		}
		if got := ParseStateBytes([]byte(in)); got != want {
			t.Errorf("ParseStateBytes(%q) = %v, want %v", in, got, want)
		}
	}
	b := []byte("Half-Open")
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseState("Half-Open"), ParseStateBytes(b) }); n != 0 {
		t.Errorf("parsing a state allocates %v times", n)
	}
}

// A breaker first seen open has opened: 40 open episodes, the first one
// under way when the breaker was first seen, are 40 transitions into open.
func TestFirstStateSeenOpenIsATransition(t *testing.T) {
	tr := NewTracker(10, 60e9)
	ts := int64(0)
	for episode := 0; episode < 40; episode++ {
		for _, s := range []State{Open, Open, HalfOpen, Closed, Closed} {
			ts += 1e9
			tr.Observe("hx-cart", "hx-stock", s, ts, 0)
		}
	}
	tr.Advance(10)
	st := tr.Snapshot()[0]
	if want := [4]uint64{Open: 40, HalfOpen: 40, Closed: 40}; st.Transitions != want {
		t.Fatalf("transitions %v, want %v: every open episode counts, the first too", st.Transitions, want)
	}
	var inBuckets uint64
	for _, n := range tr.DrainTransitions() {
		inBuckets += n
	}
	if inBuckets != 120 {
		t.Fatalf("rollup buckets hold %d transitions, want 120", inBuckets)
	}

	// a breaker first seen closed has not changed: breakers start closed
	tr.Observe("hx-cart", "hx-pay", Closed, 5e9, 20)
	tr.Advance(30)
	for _, st := range tr.Snapshot() {
		if st.Target == "hx-pay" && st.Transitions != [4]uint64{} {
			t.Fatalf("hx-pay first seen closed: transitions %v, want none", st.Transitions)
		}
	}
}

// Since is when the breaker entered its state; for a breaker that never
// changed it is when it was first seen, marked as such, never the time of
// its newest observation ("since now").
func TestSinceIsWhenTheStateWasEntered(t *testing.T) {
	tr := NewTracker(10, 60e9)
	for ts := int64(100); ts <= 500; ts += 100 {
		tr.Observe("a", "b", Closed, ts, 0)
	}
	check := func(when string, state State, since int64, firstSeen bool) {
		t.Helper()
		st := tr.Snapshot()[0]
		if st.State != state || st.SinceNs != since || st.SinceFirstSeen != firstSeen {
			t.Fatalf("%s: %v since %d (first seen %v), want %v since %d (first seen %v)", when,
				st.State, st.SinceNs, st.SinceFirstSeen, state, since, firstSeen)
		}
	}
	check("held", Closed, 100, true)
	tr.Advance(10)
	check("applied", Closed, 100, true)
	tr.Observe("a", "b", Open, 700, 20)
	tr.Observe("a", "b", Open, 600, 20) // out of order: it opened at 600
	tr.Observe("a", "b", Open, 800, 20)
	check("opened, held", Open, 600, false)
	tr.Advance(30)
	check("opened, applied", Open, 600, false)
}

// Breakers come from span and log attributes: at most max are kept, and
// one not observed for a while is forgotten.
func TestTrackerBoundsAndForgetsBreakers(t *testing.T) {
	tr := NewTracker(10, 60e9)
	tr.SetMaxBreakers(2)
	for i, target := range []string{"a", "b", "c", "d"} {
		tr.Observe("svc", target, Open, int64(i), 100)
	}
	if tr.Len() != 2 || tr.Dropped() != 2 {
		t.Fatalf("%d breakers, %d dropped; want 2 and 2", tr.Len(), tr.Dropped())
	}
	tr.Observe("svc", "a", Closed, 10, 500)
	tr.Advance(1000)
	if n := tr.EvictIdle(200); n != 1 || tr.Evicted() != 1 {
		t.Fatalf("evicted %d; want b (last seen at 100), not a (500)", n)
	}
	if s := tr.Snapshot(); len(s) != 1 || s[0].Target != "a" {
		t.Fatalf("left: %+v", s)
	}
	tr.Observe("svc", "c", Open, 20, 1000)
	if tr.Len() != 2 {
		t.Fatalf("a breaker after eviction was not taken: %d", tr.Len())
	}
}
