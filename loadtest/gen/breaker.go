package gen

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
		if t-b.openedAt < b.openFor {
			return true, trs
		}
		trs = append(trs, transition{t, StateOpen, StateHalfOpen})
		b.state = StateHalfOpen
	}
	return false, trs
}

// after records the outcome of a call that went out, ending at end.
func (b *breaker) after(end int64, failed bool, trs []transition) []transition {
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
