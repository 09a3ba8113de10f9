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
}
