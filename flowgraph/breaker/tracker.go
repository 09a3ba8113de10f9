package breaker

import (
	"maps"
	"slices"
	"sort"
	"sync"
)

// Key is one breaker: the service that holds it and the target it protects.
type Key struct {
	Service, Target string
}

// Status is the known state of one breaker.
type Status struct {
	Key
	// State is the state of the newest observation (by its timestamp).
	State State
	// SinceNs is when the breaker entered State: the timestamp of the first
	// observation of State after one of another state. When no change into
	// State was observed (SinceFirstSeen), it is the breaker's first
	// observation: it was in State at least since then, from when on is
	// unknown.
	SinceNs        int64
	SinceFirstSeen bool
	// Transitions counts changes into each state (index: State), counted
	// over observations put in timestamp order (see Tracker).
	Transitions [4]uint64
}

// Tracker keeps the state of every breaker seen.
//
// Spans of different traces arrive out of timestamp order, so observations
// are held for a reorder delay (the pairing wait, in processing time) and
// then applied in timestamp order: a transition is an observation whose
// state differs from the previous one in that order, so opening and closing
// again within one scrape is still counted. A breaker starts closed, so its
// first observation counts as a transition when it is open or half-open
// (a breaker first seen open has opened once more than the later changes
// show). An observation arriving after the delay and older than what was
// already applied only counts as Late. The reported State and SinceNs follow
// the newest observation at once.
//
// Memory stays small when every call carries its breaker's state: held
// observations are kept per breaker in timestamp order, and one inside a run
// of equal states is dropped (only a run's ends can change the transition
// count or the time a state was entered, whatever arrives later).
//
// Safe for concurrent use.
//
// Service and target names come from spans and logs: at most a maximum of
// breakers is kept (further ones are dropped and counted), and a breaker
// not observed for a while is forgotten (EvictIdle).
type Tracker struct {
	mu       sync.Mutex
	delayNs  int64
	bucketNs int64
	max      int
	buckets  map[BucketKey]uint64 // transitions per time bucket, until drained
	m        map[Key]*tracked
	ready    []obs // reused by Advance
	late     uint64
	dropped  uint64 // observations of breakers beyond max
	evicted  uint64
}

// DefaultMaxBreakers is the number of breakers a Tracker keeps by default.
const DefaultMaxBreakers = 10000

type tracked struct {
	key         Key
	transitions [4]uint64
	// the observations applied so far, in timestamp order: the newest's
	// state and time, and when that state was entered
	appliedState     State
	appliedNs        int64
	appliedSinceNs   int64
	appliedFirstSeen bool
	pending          []obs // by timestamp
	// lastArrivalNs is the processing time of its newest observation.
	lastArrivalNs int64
}

type obs struct {
	state     State
	tsNs      int64
	arrivalNs int64
}

// status is the breaker's state with the held observations applied in
// timestamp order on top of the applied ones (late ones left out).
func (st *tracked) status() Status {
	s := Status{Key: st.key, State: st.appliedState, SinceNs: st.appliedSinceNs, SinceFirstSeen: st.appliedFirstSeen,
		Transitions: st.transitions}
	for _, o := range st.pending {
		switch {
		case s.State == Unknown:
			s.SinceNs, s.SinceFirstSeen = o.tsNs, true
		case o.tsNs < st.appliedNs:
			continue // late: it will not be applied
		case o.state != s.State:
			s.SinceNs, s.SinceFirstSeen = o.tsNs, false
		}
		s.State = o.state
	}
	return s
}

// BucketKey is one breaker in one rollup time bucket.
type BucketKey struct {
	BucketNs int64
	Key
}

// NewTracker returns a tracker that reorders observations over delayNs of
// processing time and counts transitions per bucketNs time bucket.
func NewTracker(delayNs, bucketNs int64) *Tracker {
	if bucketNs <= 0 {
		bucketNs = 60e9
	}
	return &Tracker{delayNs: delayNs, bucketNs: bucketNs, max: DefaultMaxBreakers, m: map[Key]*tracked{}, buckets: map[BucketKey]uint64{}}
}

// SetMaxBreakers bounds the breakers kept (n <= 0: DefaultMaxBreakers).
// Observations of further breakers are dropped and counted.
func (t *Tracker) SetMaxBreakers(n int) {
	if n <= 0 {
		n = DefaultMaxBreakers
	}
	t.mu.Lock()
	t.max = n
	t.mu.Unlock()
}

// EvictIdle forgets the breakers whose newest observation arrived before
// beforeNs (processing time) and has been applied, and returns how many.
// Their transitions not drained yet stay in the time buckets.
func (t *Tracker) EvictIdle(beforeNs int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, st := range t.m {
		if st.lastArrivalNs < beforeNs && len(st.pending) == 0 {
			delete(t.m, k)
			n++
		}
	}
	t.evicted += uint64(n)
	return n
}

// Dropped counts observations of breakers beyond the maximum; Evicted
// counts breakers forgotten for being idle.
func (t *Tracker) Dropped() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// Len is the number of breakers tracked.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Evicted counts the breakers EvictIdle forgot.
func (t *Tracker) Evicted() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.evicted
}

// DrainTransitions returns, and forgets, the transitions per time bucket.
func (t *Tracker) DrainTransitions() map[BucketKey]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buckets) == 0 {
		return nil
	}
	out := t.buckets
	t.buckets = map[BucketKey]uint64{}
	return out
}

// Transitions returns a copy of the transitions per time bucket not drained yet.
func (t *Tracker) Transitions() map[BucketKey]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.buckets)
}

// Observe records one observation made at tsNs, received at processing time nowNs.
func (t *Tracker) Observe(service, target string, s State, tsNs, nowNs int64) {
	if s == Unknown {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := Key{Service: service, Target: target}
	st, ok := t.m[k]
	if !ok {
		if len(t.m) >= t.max {
			t.dropped++
			return
		}
		st = &tracked{key: k}
		t.m[k] = st
	}
	st.lastArrivalNs = max(st.lastArrivalNs, nowNs)
	p := st.pending
	i := sort.Search(len(p), func(j int) bool { return p[j].tsNs > tsNs })
	p = slices.Insert(p, i, obs{state: s, tsNs: tsNs, arrivalNs: nowNs})
	// drop run interiors around the insertion point
	for j := min(i+1, len(p)-2); j >= max(i-1, 1); j-- {
		if p[j-1].state == p[j].state && p[j].state == p[j+1].state {
			p = slices.Delete(p, j, j+1)
		}
	}
	st.pending = p
}

// Advance applies, in timestamp order, the observations received at or
// before nowNs minus the reorder delay.
func (t *Tracker) Advance(nowNs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cut := nowNs - t.delayNs
	for _, st := range t.m {
		if len(st.pending) == 0 {
			continue
		}
		kept := st.pending[:0]
		for _, o := range st.pending {
			if o.arrivalNs > cut {
				kept = append(kept, o)
				continue
			}
			switch {
			case st.appliedState == Unknown:
				if o.state != Closed { // it started closed
					t.transition(st, o)
				}
				st.appliedSinceNs, st.appliedFirstSeen = o.tsNs, true
			case o.tsNs < st.appliedNs:
				t.late++
				continue
			case o.state != st.appliedState:
				t.transition(st, o)
				st.appliedSinceNs, st.appliedFirstSeen = o.tsNs, false
			}
			st.appliedState, st.appliedNs = o.state, o.tsNs
		}
		st.pending = kept
	}
}

func (t *Tracker) transition(st *tracked, o obs) {
	st.transitions[o.state]++
	b := o.tsNs - o.tsNs%t.bucketNs
	t.buckets[BucketKey{BucketNs: b, Key: st.key}]++
}

// Late is the number of observations that arrived after the reorder delay
// and older than an applied one (their transitions cannot be placed).
func (t *Tracker) Late() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.late
}

// Snapshot returns every breaker's status, sorted by service and target.
func (t *Tracker) Snapshot() []Status {
	t.mu.Lock()
	out := make([]Status, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, s.status())
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Target < out[j].Target
	})
	return out
}
