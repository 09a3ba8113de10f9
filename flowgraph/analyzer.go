// Package flowgraph is the flow analyzer: from the span stream it builds the
// graph of who calls whom (pairing in flowgraph/pairing, aggregation in
// flowgraph/edges, breakers in flowgraph/breaker) and serves it as Prometheus
// metrics (flowgraph/metrics), time-bucketed rollups (flowgraph/rollup) and a
// JSON API (flowgraph/api), fed by a Kafka consumer group (flowgraph/kafkain).
//
// This file is the Analyzer: the in-memory core, split into shards. All
// spans of a trace must reach the same shard (the Kafka consumer shards by
// partition, and spans are partitioned by trace ID), so shards never share
// state and scale across cores; only breaker observations, which are rare,
// go to one shared tracker.
package flowgraph

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/flowgraph/metrics"
	"github.com/flowlens/flowlens/flowgraph/pairing"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Analyzer pairs spans and aggregates edges. Safe for concurrent use; calls
// for one shard serialise on the shard's lock.
//
// Client/server pairs live in the trace's shard. Producer and consumer
// halves all go to one messaging store shared by the shards (its own lock):
// a consumer usually starts a trace of its own that links to the producer's,
// and that trace may come from another partition, hence another shard. Names
// are interned in one table, so a half extracted by one shard pairs with a
// half from another.
type Analyzer struct {
	started  time.Time
	shards   []*shard
	names    *intern.Table
	msg      *lockedStore
	breakers *breaker.Tracker
	bucketNs int64
	maxIdle  time.Duration
	// lastSweep is when idle edges, breakers and unused names were last
	// removed (Tick's clock; Tick runs on one goroutine).
	lastSweep time.Time
}

// sweepInterval is how often Tick removes idle edges and breakers and the
// names nothing refers to; a full name table makes the next Tick do it.
const sweepInterval = time.Minute

type lockedStore struct {
	mu    sync.Mutex
	store *pairing.Store
}

type shard struct {
	mu       sync.Mutex
	names    *intern.Table
	ex       *extract.Extractor
	store    *pairing.Store
	msg      *lockedStore
	agg      *edges.Aggregator
	breakers *breaker.Tracker
	nowNs    int64
	spans    uint64
	// logPolicy counts the log records of each service and the fields of
	// the logging policy they carry (a handful of services: a map is fine);
	// a service idle for maxIdle is forgotten like an idle edge
	logPolicy map[intern.ID]*logPolicyEntry
}

type logPolicyEntry struct {
	extract.LogPolicyCounts
	lastNs int64 // processing time of the last count
}

// NewAnalyzer builds the core from cfg (defaults must be set).
func NewAnalyzer(cfg Config) *Analyzer {
	n := cfg.Shards
	if n < 1 {
		n = 1
	}
	names := intern.NewTableLimits(cfg.MaxNames, cfg.MaxNameBytes)
	// the store size is split evenly between the shards and the messaging store
	per := max(cfg.Store.MaxItems/(n+1), 1)
	a := &Analyzer{
		started:  time.Now(),
		names:    names,
		msg:      &lockedStore{store: pairing.New(pairing.Config{Wait: cfg.Store.Wait, MaxItems: per}, names, nil)},
		breakers: breaker.NewTracker(int64(cfg.Store.Wait), int64(cfg.Rollup.Bucket)),
		bucketNs: int64(cfg.Rollup.Bucket),
		maxIdle:  cfg.MaxIdle,
	}
	if a.maxIdle <= 0 {
		a.maxIdle = time.Hour
	}
	a.breakers.SetMaxBreakers(cfg.MaxBreakers)
	for i := 0; i < n; i++ {
		agg := edges.NewAggregator(edges.Config{
			BucketNs:      int64(cfg.Rollup.Bucket),
			MaxLatenessNs: int64(cfg.Rollup.MaxLateness),
			MaxFutureNs:   int64(cfg.Rollup.MaxFuture),
			MaxEdges:      cfg.MaxEdges,
		}, names)
		s := &shard{
			names:    names,
			ex:       extract.New(cfg.Attributes, names),
			store:    pairing.New(pairing.Config{Wait: cfg.Store.Wait, MaxItems: per}, names, agg),
			msg:      a.msg,
			agg:      agg,
			breakers: a.breakers,
		}
		a.shards = append(a.shards, s)
	}
	return a
}

// Started is when the analyzer was created: its cumulative counters cover
// the time since.
func (a *Analyzer) Started() time.Time { return a.started }

// Shards is the number of shards.
func (a *Analyzer) Shards() int { return len(a.shards) }

// HandleSpan implements extract.Handler for the shard.
func (s *shard) HandleSpan(sp *extract.Span) {
	for i := range sp.Breakers {
		b := &sp.Breakers[i]
		s.breakers.Observe(s.names.Name(sp.Service), s.names.Name(b.Target), b.State, b.TimeNs, s.nowNs)
	}
	if sp.Kind == extract.KindProducer || sp.Kind == extract.KindConsumer {
		s.msg.add(sp, s.nowNs, s.agg)
		return
	}
	s.store.Add(sp, s.nowNs)
}

// add pairs a messaging half; what it completes or expires goes to the
// calling shard's aggregator (the caller holds that shard's lock).
// (Deferred unlocks: a panic that a message triggers is recovered by the
// consumer, and must not leave the store locked.)
func (m *lockedStore) add(sp *extract.Span, nowNs int64, sink pairing.Sink) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.store.SetSink(sink)
	m.store.Add(sp, nowNs)
}

func (m *lockedStore) expire(nowNs int64, sink pairing.Sink) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.store.SetSink(sink)
	m.store.Expire(nowNs)
}

// HandleBreaker implements extract.BreakerHandler for the shard.
func (s *shard) HandleBreaker(service intern.ID, b extract.BreakerObs) {
	s.breakers.Observe(s.names.Name(service), s.names.Name(b.Target), b.State, b.TimeNs, s.nowNs)
}

// HandleLogPolicy implements extract.LogPolicyHandler for the shard.
func (s *shard) HandleLogPolicy(service intern.ID, c extract.LogPolicyCounts) {
	acc := s.logPolicy[service]
	if acc == nil {
		if s.logPolicy == nil {
			s.logPolicy = map[intern.ID]*logPolicyEntry{}
		}
		acc = &logPolicyEntry{}
		s.logPolicy[service] = acc
	}
	acc.Add(c)
	acc.lastNs = s.nowNs
}

// LogPolicy returns, per service, the log records read since the start
// and how many carried each field of the logging policy
// (conformance/policy), merged over shards.
func (a *Analyzer) LogPolicy() map[string]extract.LogPolicyCounts {
	out := map[string]extract.LogPolicyCounts{}
	for _, s := range a.shards {
		s.mu.Lock()
		for id, c := range s.logPolicy {
			name := s.names.Name(id)
			acc := out[name]
			acc.Add(c.LogPolicyCounts)
			out[name] = acc
		}
		s.mu.Unlock()
	}
	return out
}

// ConsumeTraces pairs the spans of td in shard key%Shards at processing time
// now, after expiring what waited long enough. It returns the span count.
func (a *Analyzer) ConsumeTraces(key int, td ptrace.Traces, now time.Time) int {
	s := a.shards[uint(key)%uint(len(a.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setNow(now)
	n := s.ex.Traces(td, s)
	s.spans += uint64(n)
	return n
}

// ConsumeProtobuf pairs the spans of an OTLP protobuf ExportTraceServiceRequest
// read in place (no pdata), like ConsumeTraces. On malformed input the spans
// before the damage are kept and the error says why the rest was not read.
func (a *Analyzer) ConsumeProtobuf(key int, b []byte, now time.Time) (int, error) {
	s := a.shards[uint(key)%uint(len(a.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setNow(now)
	n, err := s.ex.Protobuf(b, s)
	s.spans += uint64(n)
	return n, err
}

// ConsumeLogsProtobuf reads breaker observations from the log records of an
// OTLP protobuf ExportLogsServiceRequest without building pdata, and counts
// the fields of the logging policy each service's records carry.
func (a *Analyzer) ConsumeLogsProtobuf(key int, b []byte, now time.Time) (int, error) {
	s := a.shards[uint(key)%uint(len(a.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setNow(now)
	return s.ex.LogsProtobuf(b, s)
}

// ConsumeLogs reads breaker observations from log records.
func (a *Analyzer) ConsumeLogs(key int, ld plog.Logs, now time.Time) int {
	s := a.shards[uint(key)%uint(len(a.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setNow(now)
	return s.ex.Logs(ld, s)
}

func (s *shard) setNow(now time.Time) {
	ns := now.UnixNano()
	if ns > s.nowNs { // processing time never goes backwards
		s.nowNs = ns
	}
	s.agg.SetNow(s.nowNs)
	s.store.Expire(s.nowNs)
	s.msg.expire(s.nowNs, s.agg)
}

// Tick expires waiting halves in every shard (call it periodically, so an
// idle shard still turns its unpaired halves into virtual edges), and
// every minute, or when the name table is full, removes idle edges and
// breakers and the names nothing refers to. Not safe for concurrent use
// with itself.
func (a *Analyzer) Tick(now time.Time) {
	for _, s := range a.shards {
		s.mu.Lock()
		s.setNow(now)
		s.mu.Unlock()
	}
	a.breakers.Advance(now.UnixNano())
	if a.names.Full() || now.Sub(a.lastSweep) >= sweepInterval {
		a.sweep(now)
		a.lastSweep = now
	}
}

// sweep removes the edges and breakers idle since now-maxIdle and then the
// names no edge or waiting half refers to. Names are IDs in the shards'
// edges, stores and extractor caches, so every shard is locked: no span is
// being read while an ID changes hands.
func (a *Analyzer) sweep(now time.Time) {
	before := now.Add(-a.maxIdle).UnixNano()
	a.breakers.EvictIdle(before)
	for _, s := range a.shards {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	a.msg.mu.Lock()
	defer a.msg.mu.Unlock()
	for _, s := range a.shards {
		s.agg.EvictIdle(before)
		for id, c := range s.logPolicy {
			if c.lastNs < before {
				delete(s.logPolicy, id)
			}
		}
	}
	a.names.Sweep(func(mark func(intern.ID)) {
		for _, s := range a.shards {
			s.agg.MarkNames(mark)
			s.store.MarkNames(mark)
			for id := range s.logPolicy {
				mark(id)
			}
		}
		a.msg.store.MarkNames(mark)
	})
}

// FlushStore ends the wait of every half (shutdown): unpaired halves become
// virtual edges now.
func (a *Analyzer) FlushStore() {
	for _, s := range a.shards {
		s.mu.Lock()
		s.store.Flush()
		s.mu.Unlock()
	}
	s := a.shards[0]
	s.mu.Lock()
	a.msg.mu.Lock()
	a.msg.store.SetSink(s.agg)
	a.msg.store.Flush()
	a.msg.mu.Unlock()
	s.mu.Unlock()
	a.breakers.Advance(math.MaxInt64)
}

// Stats sums the pairing counters of every shard.
type Stats struct {
	Spans          uint64
	Outcomes       [pairing.NumOutcomes]uint64
	StoreItems     int
	StoreCapacity  int
	Edges          int
	FoldedEdges    uint64
	EvictedEdges   uint64
	Names          int
	NamesOverflow  uint64
	NamesTruncated uint64
	NamesEvicted   uint64
	Breakers       int
	// BreakersDropped counts observations of breakers beyond max_breakers.
	BreakersDropped uint64
	BreakersEvicted uint64
	PendingBuckets  int
}

// Stats returns the counters of all shards.
func (a *Analyzer) Stats() Stats {
	var out Stats
	for _, s := range a.shards {
		s.mu.Lock()
		st := s.store.Stats()
		out.Spans += s.spans
		for i, v := range st.Outcomes {
			out.Outcomes[i] += v
		}
		out.StoreItems += st.Items
		out.StoreCapacity += st.Capacity
		out.Edges += s.agg.Len()
		out.FoldedEdges += s.agg.Folded
		out.EvictedEdges += s.agg.Evicted
		out.PendingBuckets += s.agg.PendingBuckets()
		s.mu.Unlock()
	}
	out.Names = a.names.Len()
	out.NamesOverflow = a.names.Overflowed()
	out.NamesTruncated = a.names.Truncated()
	out.NamesEvicted = a.names.Evicted()
	out.Breakers = a.breakers.Len()
	out.BreakersDropped = a.breakers.Dropped()
	out.BreakersEvicted = a.breakers.Evicted()
	a.msg.mu.Lock()
	st := a.msg.store.Stats()
	a.msg.mu.Unlock()
	for i, v := range st.Outcomes {
		out.Outcomes[i] += v
	}
	out.StoreItems += st.Items
	out.StoreCapacity += st.Capacity
	return out
}

type edgeID struct {
	client, server, dest string
	conn                 flowmodel.ConnType
}

// Edges returns the cumulative counters of every edge, merged over shards
// and sorted by client, server, connection type and destination.
func (a *Analyzer) Edges() []edges.Edge {
	var all []edges.Edge
	for _, s := range a.shards {
		s.mu.Lock()
		all = s.agg.AppendTotals(all)
		s.mu.Unlock()
	}
	return mergeEdges(all)
}

func mergeEdges(all []edges.Edge) []edges.Edge {
	idx := make(map[edgeID]int, len(all))
	out := all[:0:0]
	for i := range all {
		e := &all[i]
		k := edgeID{e.Client, e.Server, e.Destination, e.Conn}
		if j, ok := idx[k]; ok {
			out[j].Counters.Add(&e.Counters)
			continue
		}
		idx[k] = len(out)
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return lessEdge(&out[i], &out[j]) })
	return out
}

func lessEdge(a, b *edges.Edge) bool {
	if a.Client != b.Client {
		return a.Client < b.Client
	}
	if a.Server != b.Server {
		return a.Server < b.Server
	}
	if a.Conn != b.Conn {
		return a.Conn < b.Conn
	}
	return a.Destination < b.Destination
}

// Breakers returns the state of every breaker seen.
func (a *Analyzer) Breakers() []breaker.Status { return a.breakers.Snapshot() }

// DrainRollups removes and returns the per-bucket deltas of every bucket,
// open ones included (rows are partial aggregates that readers sum), merged
// over shards and sorted by bucket.
func (a *Analyzer) DrainRollups() []edges.BucketEdge { return a.rollups(true) }

// PendingRollups returns what DrainRollups would, keeping it: the counts
// not drained into rollups yet.
func (a *Analyzer) PendingRollups() []edges.BucketEdge { return a.rollups(false) }

func (a *Analyzer) rollups(drain bool) []edges.BucketEdge {
	var r []edges.BucketEdge
	for _, s := range a.shards {
		s.mu.Lock()
		if drain {
			r = s.agg.Drain(r, math.MaxInt64)
		} else {
			r = s.agg.AppendDeltas(r)
		}
		s.mu.Unlock()
	}
	r = mergeBucketEdges(r)
	// breaker transitions go on the edge from the breaker's service to its
	// target in the same bucket (a row of their own when there was no call)
	var tr map[breaker.BucketKey]uint64
	if drain {
		tr = a.breakers.DrainTransitions()
	} else {
		tr = a.breakers.Transitions()
	}
	if len(tr) == 0 {
		return r
	}
	for i := range r {
		k := breaker.BucketKey{BucketNs: r[i].BucketNs, Key: breaker.Key{Service: r[i].Client, Target: r[i].Server}}
		if n, ok := tr[k]; ok {
			r[i].BreakerTransitions += n
			delete(tr, k)
		}
	}
	for k, n := range tr {
		e := edges.BucketEdge{BucketNs: k.BucketNs, Edge: edges.Edge{Client: k.Service, Server: k.Target}}
		e.BreakerTransitions = n
		r = append(r, e)
	}
	sort.SliceStable(r, func(i, j int) bool { return r[i].BucketNs < r[j].BucketNs })
	return r
}

type bucketEdgeID struct {
	bucket int64
	edgeID
}

func mergeBucketEdges(all []edges.BucketEdge) []edges.BucketEdge {
	idx := make(map[bucketEdgeID]int, len(all))
	out := all[:0:0]
	for i := range all {
		e := &all[i]
		k := bucketEdgeID{e.BucketNs, edgeID{e.Client, e.Server, e.Destination, e.Conn}}
		if j, ok := idx[k]; ok {
			out[j].Counters.Add(&e.Counters)
			continue
		}
		idx[k] = len(out)
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].BucketNs != out[j].BucketNs {
			return out[i].BucketNs < out[j].BucketNs
		}
		return lessEdge(&out[i].Edge, &out[j].Edge)
	})
	return out
}

// SelfStats implements metrics.Source.
func (a *Analyzer) SelfStats() metrics.SelfStats {
	st := a.Stats()
	out := metrics.SelfStats{
		Spans: st.Spans, Outcomes: make(map[string]uint64, len(st.Outcomes)),
		StoreItems: st.StoreItems, StoreCapacity: st.StoreCapacity, Edges: st.Edges,
		FoldedEdges: st.FoldedEdges, NamesOverflow: st.NamesOverflow,
		EvictedEdges: st.EvictedEdges, Names: st.Names, NamesTruncated: st.NamesTruncated, NamesEvicted: st.NamesEvicted,
		Breakers: st.Breakers, BreakersDropped: st.BreakersDropped, BreakersEvicted: st.BreakersEvicted,
	}
	for i, v := range st.Outcomes {
		out.Outcomes[pairing.Outcome(i).String()] = v
	}
	return out
}
