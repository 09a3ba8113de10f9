package edges

import (
	"sort"

	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Key identifies an edge inside one Aggregator (IDs of its intern.Table).
type Key struct {
	Client, Server intern.ID
	Destination    intern.ID
	Conn           flowmodel.ConnType
}

// Counters are everything an edge carries.
type Counters struct {
	Requests uint64
	Failed   uint64
	Unpaired uint64 // observations with a virtual side
	Retries  uint64
	Sent     uint64 // producer spans (messages sent)
	Received uint64 // consumer spans (messages received)
	// BreakerRequests counts requests by the client's breaker state
	// (index: breaker.State; Unknown when not reported).
	BreakerRequests [4]uint64
	// BreakerTransitions counts state changes of the client's breaker
	// toward the server (rollups only; filled by the analyzer at drain).
	BreakerTransitions uint64
	ServerLatency      Histogram // LatencyBounds
	ClientLatency      Histogram // LatencyBounds
	Delay              Histogram // DelayBounds: producer -> consumer
	// FirstNs and LastNs are the (clamped) times of the first and the last
	// request counted (when Requests > 0): the time that has data, which
	// rates are over.
	FirstNs, LastNs int64
}

// Add merges o into c.
func (c *Counters) Add(o *Counters) {
	if o.Requests > 0 {
		c.seen(o.FirstNs, o.LastNs)
	}
	c.Requests += o.Requests
	c.Failed += o.Failed
	c.Unpaired += o.Unpaired
	c.Retries += o.Retries
	c.Sent += o.Sent
	c.Received += o.Received
	for i := range c.BreakerRequests {
		c.BreakerRequests[i] += o.BreakerRequests[i]
	}
	c.BreakerTransitions += o.BreakerTransitions
	c.ServerLatency.Add(&o.ServerLatency)
	c.ClientLatency.Add(&o.ClientLatency)
	c.Delay.Add(&o.Delay)
}

// seen widens [FirstNs, LastNs] to hold first and last; call it before
// counting the requests they are the times of.
func (c *Counters) seen(first, last int64) {
	if c.Requests == 0 {
		c.FirstNs, c.LastNs = first, last
		return
	}
	c.FirstNs, c.LastNs = min(c.FirstNs, first), max(c.LastNs, last)
}

// Config of an Aggregator.
type Config struct {
	// BucketNs is the rollup time bucket (ns).
	BucketNs int64
	// MaxLatenessNs and MaxFutureNs clamp span times: an observation older
	// than now-MaxLateness or newer than now+MaxFuture is placed at now.
	MaxLatenessNs int64
	MaxFutureNs   int64
	// MaxEdges bounds the number of edges; further edges are folded into one
	// edge between two intern.Overflow nodes.
	MaxEdges int
}

type edgeState struct {
	key       Key
	total     Counters
	curBucket int64
	curDelta  int32 // index into deltas, -1 none
	// lastSeenNs is the processing time of its last observation.
	lastSeenNs int64
}

type deltaKey struct {
	bucket int64
	edge   int32
}

type delta struct {
	deltaKey
	c Counters
}

// Aggregator folds observations into edges. Not safe for concurrent use:
// each shard owns one (the analyzer locks around it).
type Aggregator struct {
	cfg      Config
	names    *intern.Table
	keys     map[uint64]int32 // packed Key
	edges    []edgeState
	deltas   []delta
	deltaIdx map[deltaKey]int32
	nowNs    int64
	overflow Key
	// Folded counts observations folded into the overflow edge.
	Folded uint64
	// Evicted counts edges removed for being idle.
	Evicted uint64
}

// NewAggregator returns an aggregator resolving names through t.
func NewAggregator(cfg Config, t *intern.Table) *Aggregator {
	if cfg.BucketNs <= 0 {
		cfg.BucketNs = 60e9
	}
	if cfg.MaxEdges <= 0 {
		cfg.MaxEdges = 10000
	}
	ov := t.ID(intern.Overflow)
	return &Aggregator{
		cfg: cfg, names: t,
		keys:     make(map[uint64]int32, 64),
		deltaIdx: make(map[deltaKey]int32, 64),
		overflow: Key{Client: ov, Server: ov},
	}
}

// SetNow sets the processing time used to clamp span times.
func (a *Aggregator) SetNow(nowNs int64) { a.nowNs = nowNs }

// Observe folds one observation. It allocates only for a new edge or a new
// (edge, time bucket).
func (a *Aggregator) Observe(o *Observation) {
	idx, ok := a.keys[pack(o.Client, o.Server, o.Destination, o.Conn)]
	if !ok {
		idx = a.newEdge(Key{Client: o.Client, Server: o.Server, Destination: o.Destination, Conn: o.Conn})
	}
	e := &a.edges[idx]
	e.lastSeenNs = a.nowNs

	t := o.TimeNs
	if a.nowNs != 0 && (t < a.nowNs-a.cfg.MaxLatenessNs || t > a.nowNs+a.cfg.MaxFutureNs) {
		t = a.nowNs
	}
	b := t - t%a.cfg.BucketNs
	if t < 0 && t%a.cfg.BucketNs != 0 {
		b -= a.cfg.BucketNs
	}
	if e.curDelta < 0 || e.curBucket != b {
		e.curBucket, e.curDelta = b, a.delta(b, idx)
	}
	apply(&e.total, o, t)
	apply(&a.deltas[e.curDelta].c, o, t)
}

func apply(c *Counters, o *Observation, t int64) {
	c.seen(t, t)
	c.Requests++
	if o.Failed {
		c.Failed++
	}
	if o.Unpaired {
		c.Unpaired++
	}
	if o.Retry {
		c.Retries++
	}
	c.Sent += uint64(o.Sent)
	c.Received += uint64(o.Received)
	c.BreakerRequests[o.Breaker&3]++
	if o.ServerNs >= 0 {
		c.ServerLatency.observe(latencyNs, o.ServerNs)
	}
	if o.ClientNs >= 0 {
		c.ClientLatency.observe(latencyNs, o.ClientNs)
	}
	if o.DelayNs >= 0 {
		c.Delay.observe(delayNs, o.DelayNs)
	}
}

// MaxNameID is the largest intern.ID an edge key can hold (20 bits each for
// client, server and destination pack into one uint64 map key, which Go's
// maps hash much faster than a struct). Larger IDs fold into the overflow edge.
const MaxNameID = 1<<20 - 1

func pack(c, s, d intern.ID, conn flowmodel.ConnType) uint64 {
	if c > MaxNameID || s > MaxNameID || d > MaxNameID {
		return 1 << 63 // never a valid key: newEdge folds it
	}
	return uint64(c) | uint64(s)<<20 | uint64(d)<<40 | uint64(conn)<<60
}

func (a *Aggregator) newEdge(k Key) int32 {
	p := pack(k.Client, k.Server, k.Destination, k.Conn)
	if len(a.edges) >= a.cfg.MaxEdges || p == 1<<63 {
		a.Folded++
		ov := pack(a.overflow.Client, a.overflow.Server, 0, 0)
		if idx, ok := a.keys[ov]; ok {
			return idx
		}
		k, p = a.overflow, ov
	}
	idx := int32(len(a.edges))
	a.edges = append(a.edges, edgeState{key: k, curDelta: -1})
	a.keys[p] = idx
	return idx
}

func (a *Aggregator) delta(b int64, edge int32) int32 {
	dk := deltaKey{bucket: b, edge: edge}
	if i, ok := a.deltaIdx[dk]; ok {
		return i
	}
	i := int32(len(a.deltas))
	a.deltas = append(a.deltas, delta{deltaKey: dk})
	a.deltaIdx[dk] = i
	return i
}

// EvictIdle removes the edges last observed before beforeNs (processing
// time) whose counts have all been drained, and returns how many it
// removed. Their cumulative counters go with them: a metric series that
// comes back starts from 0 again.
func (a *Aggregator) EvictIdle(beforeNs int64) int {
	pending := make(map[int32]bool, len(a.deltas))
	for i := range a.deltas {
		pending[a.deltas[i].edge] = true
	}
	moved := make([]int32, len(a.edges)) // old index -> new, -1 removed
	kept := a.edges[:0]
	for i := range a.edges {
		if a.edges[i].lastSeenNs < beforeNs && !pending[int32(i)] {
			moved[i] = -1
			continue
		}
		moved[i] = int32(len(kept))
		kept = append(kept, a.edges[i])
	}
	removed := len(a.edges) - len(kept)
	if removed == 0 {
		return 0
	}
	clear(a.edges[len(kept):])
	a.edges = kept
	clear(a.keys)
	for i := range a.edges {
		k := a.edges[i].key
		a.keys[pack(k.Client, k.Server, k.Destination, k.Conn)] = int32(i)
	}
	for i := range a.deltas {
		a.deltas[i].edge = moved[a.deltas[i].edge]
	}
	clear(a.deltaIdx)
	for i := range a.deltas {
		a.deltaIdx[a.deltas[i].deltaKey] = int32(i)
	}
	a.Evicted += uint64(removed)
	return removed
}

// MarkNames calls mark with every name ID the edges refer to.
func (a *Aggregator) MarkNames(mark func(intern.ID)) {
	mark(a.overflow.Client)
	for i := range a.edges {
		k := &a.edges[i].key
		mark(k.Client)
		mark(k.Server)
		mark(k.Destination)
	}
}

// Edge is an edge with resolved names.
type Edge struct {
	Client, Server string
	Destination    string
	Conn           flowmodel.ConnType
	Counters
}

// BucketEdge is an edge's counters within one time bucket.
type BucketEdge struct {
	BucketNs int64
	Edge
}

func (a *Aggregator) named(k Key) Edge {
	return Edge{Client: a.names.Name(k.Client), Server: a.names.Name(k.Server),
		Destination: a.names.Name(k.Destination), Conn: k.Conn}
}

// AppendTotals appends the cumulative counters of every edge to dst.
func (a *Aggregator) AppendTotals(dst []Edge) []Edge {
	for i := range a.edges {
		e := a.named(a.edges[i].key)
		e.Counters = a.edges[i].total
		dst = append(dst, e)
	}
	return dst
}

// Len is the number of edges.
func (a *Aggregator) Len() int { return len(a.edges) }

// PendingBuckets is the number of (edge, bucket) deltas not yet drained.
func (a *Aggregator) PendingBuckets() int { return len(a.deltas) }

// AppendDeltas appends the deltas of every bucket not drained yet, keeping
// them, sorted by bucket.
func (a *Aggregator) AppendDeltas(dst []BucketEdge) []BucketEdge {
	start := len(dst)
	for _, d := range a.deltas {
		e := a.named(a.edges[d.edge].key)
		e.Counters = d.c
		dst = append(dst, BucketEdge{BucketNs: d.bucket, Edge: e})
	}
	out := dst[start:]
	sort.Slice(out, func(i, j int) bool { return out[i].BucketNs < out[j].BucketNs })
	return dst
}

// Drain appends, and forgets, the deltas of every bucket that starts before
// beforeNs (all of them when beforeNs is math.MaxInt64), sorted by bucket.
func (a *Aggregator) Drain(dst []BucketEdge, beforeNs int64) []BucketEdge {
	start := len(dst)
	kept := a.deltas[:0]
	for _, d := range a.deltas {
		if d.bucket < beforeNs {
			e := a.named(a.edges[d.edge].key)
			e.Counters = d.c
			dst = append(dst, BucketEdge{BucketNs: d.bucket, Edge: e})
			continue
		}
		kept = append(kept, d)
	}
	if len(kept) != len(a.deltas) {
		clear(a.deltas[len(kept):])
		a.deltas = kept
		clear(a.deltaIdx)
		for i := range a.deltas {
			a.deltaIdx[a.deltas[i].deltaKey] = int32(i)
		}
		for i := range a.edges {
			a.edges[i].curDelta = -1
		}
	}
	out := dst[start:]
	sort.Slice(out, func(i, j int) bool { return out[i].BucketNs < out[j].BucketNs })
	return dst
}
