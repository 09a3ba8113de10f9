package breaker

import (
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
	State State
	// SinceNs is the timestamp of the latest observation.
	SinceNs int64
	// Transitions counts changes into each state (index: State).
	Transitions [4]uint64
}

// BucketTransitions are the transitions of one breaker within one time
// bucket, with the state it ended the bucket in (for the rollup table).
type BucketTransitions struct {
	BucketNs int64
	Key
	State       State
	Transitions [4]uint64
}

// Tracker keeps the state of every breaker seen. Observations are applied in
// timestamp order per breaker: one older than the latest known is ignored
// (spans of different traces arrive out of order). A transition is a newer
// observation whose state differs from the known one; the first observation of
// a breaker sets its state without counting a transition. Safe for concurrent
// use.
type Tracker struct {
	mu       sync.Mutex
	bucketNs int64
	m        map[Key]*Status
	pending  map[bucketKey]*BucketTransitions
}

type bucketKey struct {
	bucket int64
	Key
}

// NewTracker returns a tracker whose rollup deltas use bucketNs buckets.
func NewTracker(bucketNs int64) *Tracker {
	if bucketNs <= 0 {
		bucketNs = 60e9
	}
	return &Tracker{bucketNs: bucketNs, m: map[Key]*Status{}, pending: map[bucketKey]*BucketTransitions{}}
}

// Observe applies one observation.
func (t *Tracker) Observe(service, target string, s State, tsNs int64) {
	if s == Unknown {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := Key{Service: service, Target: target}
	st, ok := t.m[k]
	if !ok {
		st = &Status{Key: k, State: s, SinceNs: tsNs}
		t.m[k] = st
		t.bucket(k, tsNs, s, Unknown)
		return
	}
	if tsNs < st.SinceNs {
		return
	}
	st.SinceNs = tsNs
	if st.State == s {
		return
	}
	st.State = s
	st.Transitions[s]++
	t.bucket(k, tsNs, s, s)
}

func (t *Tracker) bucket(k Key, tsNs int64, s, transitionTo State) {
	b := tsNs - tsNs%t.bucketNs
	bk := bucketKey{bucket: b, Key: k}
	bt, ok := t.pending[bk]
	if !ok {
		bt = &BucketTransitions{BucketNs: b, Key: k}
		t.pending[bk] = bt
	}
	bt.State = s
	if transitionTo != Unknown {
		bt.Transitions[transitionTo]++
	}
}

// Snapshot returns every breaker's status, sorted by service and target.
func (t *Tracker) Snapshot() []Status {
	t.mu.Lock()
	out := make([]Status, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, *s)
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

// Drain appends, and forgets, the per-bucket transitions of buckets that
// start before beforeNs.
func (t *Tracker) Drain(dst []BucketTransitions, beforeNs int64) []BucketTransitions {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, bt := range t.pending {
		if k.bucket < beforeNs {
			dst = append(dst, *bt)
			delete(t.pending, k)
		}
	}
	return dst
}
