package bench

import (
	"testing"
	"time"
)

// A probe's freshness is from its export to the first poll that finds it;
// one never found, or still waiting when the run ends, counts as the worst.
func TestProbeSettleAndQuantiles(t *testing.T) {
	t0 := time.Now()
	var ps probeSet
	ps.measureFrom(t0)
	for i, id := range []string{"a", "b", "c", "d"} {
		ps.waiting = append(ps.waiting, probeResult{id: id, sent: t0.Add(time.Duration(i) * time.Second), accepted: time.Duration(i+1) * time.Millisecond})
	}
	ps.settle(map[string]bool{"a": true}, t0.Add(1500*time.Millisecond))
	ps.settle(map[string]bool{"b": true}, t0.Add(3*time.Second))
	ps.settle(nil, t0.Add(2*time.Second+probeTimeout)) // c waited too long, d not yet
	ps.measureUntil(t0.Add(time.Hour))
	if len(ps.waiting) != 1 || ps.waiting[0].id != "d" {
		t.Fatalf("waiting %v, want d only", ps.waiting)
	}
	if got := ps.foundIDs(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("found %v, want a b", got)
	}
	// The lookups under load take probes stored by then: a at 1.5 s, b at 3 s.
	if got := ps.foundBefore(t0.Add(2 * time.Second)); len(got) != 1 || got[0] != "a" {
		t.Errorf("found before 2s %v, want a", got)
	}
	p50, p99, n, missing := ps.quantiles()
	if n != 4 || missing != 2 {
		t.Errorf("n %d missing %d, want 4 and 2 (c timed out, d still waiting)", n, missing)
	}
	if p50 != probeTimeout || p99 != probeTimeout {
		t.Errorf("p50 %v p99 %v, want both %v with half the probes missing", p50, p99, probeTimeout)
	}
	// the agent's answers count for every probe of the window, found or not
	if a50, a99 := ps.acceptedQuantiles(); a50 != 3*time.Millisecond || a99 != 4*time.Millisecond {
		t.Errorf("accepted p50 %v p99 %v, want 3ms and 4ms", a50, a99)
	}
}
