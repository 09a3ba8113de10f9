package breaker

import (
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
	// SinceNs is the timestamp of the newest observation.
	SinceNs int64
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
// again within one scrape is still counted. The first observation of a
// breaker sets its state without a transition. An observation arriving after
// the delay and older than what was already applied only counts as Late.
// The reported State follows the newest observation at once.
//
// Memory stays small when every call carries its breaker's state: held
// observations are kept per breaker in timestamp order, and one inside a run
// of equal states is dropped (only a run's ends can change the transition
// count, whatever arrives later).
//
// Safe for concurrent use.
type Tracker struct {
	mu       sync.Mutex
	delayNs  int64
	bucketNs int64
	buckets  map[BucketKey]uint64 // transitions per time bucket, until drained
	m        map[Key]*tracked
	ready    []obs // reused by Advance
	late     uint64
}

type tracked struct {
	Status
	appliedState State
	appliedNs    int64
	pending      []obs // by timestamp
}

type obs struct {
	state     State
	tsNs      int64
	arrivalNs int64
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
	return &Tracker{delayNs: delayNs, bucketNs: bucketNs, m: map[Key]*tracked{}, buckets: map[BucketKey]uint64{}}
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
		st = &tracked{Status: Status{Key: k, State: s, SinceNs: tsNs}}
		t.m[k] = st
	} else if tsNs >= st.SinceNs {
		st.State, st.SinceNs = s, tsNs
	}
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
				st.appliedState, st.appliedNs = o.state, o.tsNs
			case o.tsNs < st.appliedNs:
				t.late++
			default:
				if o.state != st.appliedState {
					st.Transitions[o.state]++
					b := o.tsNs - o.tsNs%t.bucketNs
					t.buckets[BucketKey{BucketNs: b, Key: st.Key}]++
				}
				st.appliedState, st.appliedNs = o.state, o.tsNs
			}
		}
		st.pending = kept
	}
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
		out = append(out, s.Status)
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
