package gen

import "sort"

// Breaker states, as the breaker.state attribute spells them.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half_open"
)

// breaker is a consecutive-failures circuit breaker in generator time. One
// exists per (calling service, breaker name).
type breaker struct {
	service   string
	name      string
	threshold int
	openFor   int64
	state     string
	failures  int
	openedAt  int64
	forced    []*faultState // breaker_open faults
	// history holds the transitions in time order (trimmed by trimBefore),
	// so the state at any recent time can be told: requests are generated
	// one after another, but their calls overlap in time.
	history []transition
}

// transition is one state change at a time.
type transition struct {
	at       int64
	from, to string
}

// before decides a call at t: short is true when the breaker is open and the
// call must not go out. A state change on the way (open -> half_open, or a
// forced open) is appended to trs.
func (b *breaker) before(t int64, trs []transition) (short bool, _ []transition) {
	for _, f := range b.forced {
		if f.activeAt(t) {
			f.affected++
			if b.state != StateOpen {
				trs = append(trs, transition{t, b.state, StateOpen})
				b.state = StateOpen
			}
			// stay open until the fault ends, then probe
			b.openedAt = f.endNs - b.openFor
			return true, trs
		}
	}
	if b.state == StateOpen {
		if t < b.openedAt {
			// this call started before the breaker opened (a later request
			// of the generator, an earlier call in time): it went out
			return false, trs
		}
		if t-b.openedAt < b.openFor {
			return true, trs
		}
		trs = append(trs, transition{t, StateOpen, StateHalfOpen})
		b.state = StateHalfOpen
	}
	return false, trs
}

// record keeps the transitions trs[from:] in the time-ordered history.
func (b *breaker) record(trs []transition) {
	for _, tr := range trs {
		i := len(b.history)
		for i > 0 && b.history[i-1].at > tr.at {
			i--
		}
		b.history = append(b.history, transition{})
		copy(b.history[i+1:], b.history[i:])
		b.history[i] = tr
	}
}

// stateAt is the state at time t by the history (closed before any transition).
func (b *breaker) stateAt(t int64) string {
	i := sort.Search(len(b.history), func(i int) bool { return b.history[i].at > t })
	if i == 0 {
		if len(b.history) > 0 {
			return b.history[0].from
		}
		return StateClosed
	}
	return b.history[i-1].to
}

// trimBefore forgets transitions older than t except the last of them,
// which still gives the state at t.
func (b *breaker) trimBefore(t int64) {
	i := sort.Search(len(b.history), func(i int) bool { return b.history[i].at >= t })
	if i > 1 {
		n := copy(b.history, b.history[i-1:])
		b.history = b.history[:n]
	}
}

// after records the outcome of a call that went out, ending at end.
func (b *breaker) after(end int64, failed bool, trs []transition) []transition {
	if b.state == StateOpen {
		return trs // a call that went out before the breaker opened
	}
	switch b.state {
	case StateHalfOpen:
		if failed {
			trs = append(trs, transition{end, StateHalfOpen, StateOpen})
			b.state, b.openedAt = StateOpen, end
		} else {
			trs = append(trs, transition{end, StateHalfOpen, StateClosed})
			b.state, b.failures = StateClosed, 0
		}
	case StateClosed:
		if !failed {
			b.failures = 0
			break
		}
		b.failures++
		if b.failures >= b.threshold {
			trs = append(trs, transition{end, StateClosed, StateOpen})
			b.state, b.openedAt, b.failures = StateOpen, end, 0
		}
	}
	return trs
}
