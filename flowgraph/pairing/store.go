// Package pairing is the hot path of the flow analyzer: it pairs the two
// halves of every call (CLIENT with SERVER, PRODUCER with CONSUMER) and turns
// each pair, each database call, each root span and each half left alone
// after the wait into an edges.Observation.
//
// Keys follow the service-graph conventions: a CLIENT or PRODUCER span is
// stored under (trace ID, span ID); a SERVER span under (trace ID, parent
// span ID); a CONSUMER span under each of its links' (trace ID, span ID) - the
// messaging conventions' default - or, without links, under (trace ID,
// parent span ID).
//
// Memory is fixed at construction: a ring of MaxItems entries in arrival
// order plus a hash index. Entries leave the ring after Wait (an unpaired half
// then becomes a virtual-node edge) or, when the ring is full, oldest first
// (counted as evicted: no edge is invented from a half cut short). Paired
// entries stay until they expire, so a duplicated span within the window is
// recognised and counted once.
//
// A Store is not safe for concurrent use; the analyzer runs one per shard.
package pairing

import (
	"math/rand/v2"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Sink receives the observations. The pointer is reused after the call.
type Sink interface {
	Observe(o *edges.Observation)
}

// Outcome classifies what happened to a span (or to one link of a consumer).
type Outcome uint8

const (
	OutcomePaired    Outcome = iota // completed a pair
	OutcomeStored                   // waiting for its other half
	OutcomeExpired                  // left alone after Wait: virtual-node edge
	OutcomeEvicted                  // pushed out by a full store before Wait: dropped
	OutcomeDuplicate                // same span seen again within the window: ignored
	OutcomeRoot                     // root server/consumer: edge from user / the destination
	OutcomeDatabase                 // database client call: direct edge
	OutcomeIgnored                  // internal or unspecified kind
	NumOutcomes
)

var outcomeNames = [NumOutcomes]string{"paired", "stored", "expired", "evicted", "duplicate", "root", "database", "ignored"}

func (o Outcome) String() string { return outcomeNames[o] }

// Stats counts spans by outcome. Expired and evicted count halves, so a
// producer consumed nowhere counts once.
type Stats struct {
	Outcomes [NumOutcomes]uint64
	Items    int // entries in the store now
	Capacity int
}

// Config bounds the store.
type Config struct {
	// Wait is how long a half waits for its other half (processing time).
	Wait time.Duration
	// MaxItems is the ring size; memory is allocated once for it.
	MaxItems int
}

const (
	flagClient uint8 = 1 << iota // client/producer half present
	flagServer                   // server/consumer half present
	flagSent                     // the producer's send was counted on an edge
)

const (
	classPair uint8 = iota // a pair being assembled
	classSeen              // a span emitted at once (root, database), kept to dedupe
)

type half struct {
	spanID  extract.SpanID
	service intern.ID
	peer    intern.ID // name of the missing other side if it never comes
	dest    intern.ID
	startNs int64
	endNs   int64
	kind    extract.Kind
	err     bool
	retry   bool
	brk     breaker.State
}

type entry struct {
	hash     uint64
	trace    extract.TraceID
	span     extract.SpanID
	class    uint8
	flags    uint8
	expireNs int64
	client   half
	server   half
}

// Store pairs halves; see the package comment.
type Store struct {
	wait    int64
	ring    []entry
	head    int
	n       int
	index   []uint64
	mask    uint64
	seed    uint64
	sink    Sink
	obs     edges.Observation
	stats   Stats
	user    intern.ID
	unknown intern.ID
}

// New allocates a store for cfg.MaxItems entries. names interns the virtual
// node names "user" and "unknown"; it must be the table the spans' IDs come from.
func New(cfg Config, names *intern.Table, sink Sink) *Store {
	if cfg.MaxItems < 1 {
		cfg.MaxItems = 1
	}
	size := nextPow2(cfg.MaxItems * 2)
	return &Store{
		wait:    int64(cfg.Wait),
		ring:    make([]entry, cfg.MaxItems),
		index:   make([]uint64, size),
		mask:    uint64(size - 1),
		seed:    rand.Uint64(),
		sink:    sink,
		user:    names.ID("user"),
		unknown: names.ID("unknown"),
	}
}

// SetSink changes where observations go from now on.
func (st *Store) SetSink(s Sink) { st.sink = s }

// Stats returns the counters.
func (st *Store) Stats() Stats {
	s := st.stats
	s.Items = st.n
	s.Capacity = len(st.ring)
	return s
}

// Len is the number of entries held.
func (st *Store) Len() int { return st.n }

// Add processes one span at processing time nowNs.
func (st *Store) Add(s *extract.Span, nowNs int64) {
	switch s.Kind {
	case extract.KindClient:
		if s.IsDatabase() {
			st.database(s, nowNs)
			return
		}
		st.addClient(&s.TraceID, &s.SpanID, s, nowNs)
	case extract.KindProducer:
		st.addClient(&s.TraceID, &s.SpanID, s, nowNs)
	case extract.KindServer:
		if !s.HasParent() {
			st.root(s, nowNs)
			return
		}
		st.addServer(&s.TraceID, &s.ParentID, s, nowNs)
	case extract.KindConsumer:
		if len(s.Links) > 0 {
			for i := range s.Links {
				l := &s.Links[i]
				if i > 0 && dupLink(s.Links[:i], l) {
					continue
				}
				st.addServer(&l.TraceID, &l.SpanID, s, nowNs)
			}
			return
		}
		if !s.HasParent() {
			st.root(s, nowNs)
			return
		}
		st.addServer(&s.TraceID, &s.ParentID, s, nowNs)
	default:
		st.stats.Outcomes[OutcomeIgnored]++
	}
}

func dupLink(prev []extract.Link, l *extract.Link) bool {
	for i := range prev {
		if prev[i] == *l {
			return true
		}
	}
	return false
}

func fillHalf(h *half, s *extract.Span) {
	h.spanID = s.SpanID
	h.service = s.Service
	h.dest = s.Destination
	h.startNs = s.StartNs
	h.endNs = s.EndNs
	h.kind = s.Kind
	h.err = s.Error
	h.retry = s.Retries > 0
	h.brk = s.Breaker
	switch s.Kind {
	case extract.KindConsumer:
		h.peer = s.Destination // the queue stands in for an unseen producer
	case extract.KindServer:
		h.peer = intern.None
	default:
		h.peer = s.Peer()
	}
}

func (st *Store) addClient(t *extract.TraceID, id *extract.SpanID, s *extract.Span, nowNs int64) {
	h := hashKey(st.seed, classPair, t, id)
	first := true
	matched := false
	for i := h & st.mask; st.index[i] != 0; i = (i + 1) & st.mask {
		c := st.index[i]
		if !tagMatches(c, h) {
			continue
		}
		e := &st.ring[cellSlot(c)]
		if e.hash != h || e.class != classPair || e.trace != *t || e.span != *id {
			continue
		}
		if e.flags&flagClient != 0 {
			st.stats.Outcomes[OutcomeDuplicate]++
			return
		}
		matched = true
		fillHalf(&e.client, s)
		e.flags |= flagClient
		if first {
			e.flags |= flagSent
		}
		st.emitPair(e, first)
		first = false
	}
	if matched {
		st.stats.Outcomes[OutcomePaired]++
		return
	}
	e := st.insert(h, classPair, t, id, nowNs)
	fillHalf(&e.client, s)
	e.flags = flagClient
	st.stats.Outcomes[OutcomeStored]++
}

func (st *Store) addServer(t *extract.TraceID, id *extract.SpanID, s *extract.Span, nowNs int64) {
	h := hashKey(st.seed, classPair, t, id)
	var waiting *entry // client present, no server yet
	var paired *entry  // client present, other server already paired
	for i := h & st.mask; st.index[i] != 0; i = (i + 1) & st.mask {
		c := st.index[i]
		if !tagMatches(c, h) {
			continue
		}
		e := &st.ring[cellSlot(c)]
		if e.hash != h || e.class != classPair || e.trace != *t || e.span != *id {
			continue
		}
		if e.flags&flagServer != 0 && e.server.spanID == s.SpanID {
			st.stats.Outcomes[OutcomeDuplicate]++
			return
		}
		if e.flags&flagClient != 0 {
			if e.flags&flagServer == 0 {
				waiting = e
			} else {
				paired = e
			}
		}
	}
	switch {
	case waiting != nil:
		fillHalf(&waiting.server, s)
		waiting.flags |= flagServer
		first := waiting.flags&flagSent == 0
		waiting.flags |= flagSent
		st.emitPair(waiting, first)
		st.stats.Outcomes[OutcomePaired]++
		return
	case paired != nil:
		// another consumer (group) of a message already delivered once
		client := paired.client
		e := st.insert(h, classPair, t, id, nowNs)
		e.client = client
		fillHalf(&e.server, s)
		e.flags = flagClient | flagServer | flagSent
		st.emitPair(e, false)
		st.stats.Outcomes[OutcomePaired]++
		return
	}
	e := st.insert(h, classPair, t, id, nowNs)
	fillHalf(&e.server, s)
	e.flags = flagServer
	st.stats.Outcomes[OutcomeStored]++
}

// seen records a span emitted at once; false when it is a duplicate.
func (st *Store) seen(s *extract.Span, nowNs int64) bool {
	h := hashKey(st.seed, classSeen, &s.TraceID, &s.SpanID)
	for i := h & st.mask; st.index[i] != 0; i = (i + 1) & st.mask {
		c := st.index[i]
		if !tagMatches(c, h) {
			continue
		}
		e := &st.ring[cellSlot(c)]
		if e.hash == h && e.class == classSeen && e.trace == s.TraceID && e.span == s.SpanID {
			st.stats.Outcomes[OutcomeDuplicate]++
			return false
		}
	}
	e := st.insert(h, classSeen, &s.TraceID, &s.SpanID, nowNs)
	e.flags = flagClient | flagServer
	return true
}

func (st *Store) root(s *extract.Span, nowNs int64) {
	if !st.seen(s, nowNs) {
		return
	}
	st.stats.Outcomes[OutcomeRoot]++
	o := &st.obs
	*o = edges.Observation{Client: st.user, Server: s.Service, TimeNs: s.StartNs,
		ClientNs: edges.Absent, ServerNs: s.DurationNs(), DelayNs: edges.Absent, Failed: s.Error}
	if s.Kind == extract.KindConsumer {
		o.Client, o.Conn, o.Destination, o.Received = st.orUnknown(s.Destination), flowmodel.ConnVirtualNode, s.Destination, 1
	}
	st.sink.Observe(o)
}

func (st *Store) database(s *extract.Span, nowNs int64) {
	if !st.seen(s, nowNs) {
		return
	}
	st.stats.Outcomes[OutcomeDatabase]++
	o := &st.obs
	*o = edges.Observation{Client: s.Service, Server: st.orUnknown(s.Peer()), Conn: flowmodel.ConnDatabase,
		TimeNs: s.StartNs, ClientNs: s.DurationNs(), ServerNs: edges.Absent, DelayNs: edges.Absent,
		Failed: s.Error, Retry: s.Retries > 0, Breaker: s.Breaker}
	st.sink.Observe(o)
}

func (st *Store) orUnknown(id intern.ID) intern.ID {
	if id == intern.None {
		return st.unknown
	}
	return id
}

func dur(h *half) int64 {
	if h.endNs < h.startNs {
		return 0
	}
	return h.endNs - h.startNs
}

func (st *Store) emitPair(e *entry, countSent bool) {
	c, s := &e.client, &e.server
	o := &st.obs
	*o = edges.Observation{Client: c.service, Server: s.service, TimeNs: c.startNs,
		ClientNs: dur(c), ServerNs: dur(s), DelayNs: edges.Absent, Failed: c.err || s.err, Retry: c.retry, Breaker: c.brk}
	if c.kind == extract.KindProducer || s.kind == extract.KindConsumer {
		o.Conn = flowmodel.ConnMessaging
		o.Destination = c.dest
		if o.Destination == intern.None {
			o.Destination = s.dest
		}
		o.DelayNs = s.startNs - c.startNs
		if o.DelayNs < 0 { // clock skew between the two hosts
			o.DelayNs = 0
		}
		if countSent {
			o.Sent = 1
		}
		o.Received = 1
	}
	st.sink.Observe(o)
}

// emitUnpaired turns a half left alone into an edge to (or from) a virtual node.
func (st *Store) emitUnpaired(e *entry) {
	o := &st.obs
	if e.flags&flagClient != 0 {
		c := &e.client
		*o = edges.Observation{Client: c.service, Server: st.orUnknown(c.peer), Conn: flowmodel.ConnVirtualNode,
			TimeNs: c.startNs, ClientNs: dur(c), ServerNs: edges.Absent, DelayNs: edges.Absent,
			Failed: c.err, Retry: c.retry, Unpaired: true, Breaker: c.brk}
		if c.kind == extract.KindProducer {
			o.Destination, o.Sent = c.dest, 1
		}
	} else {
		s := &e.server
		*o = edges.Observation{Client: st.orUnknown(s.peer), Server: s.service, Conn: flowmodel.ConnVirtualNode,
			TimeNs: s.startNs, ClientNs: edges.Absent, ServerNs: dur(s), DelayNs: edges.Absent,
			Failed: s.err, Unpaired: true}
		if s.kind == extract.KindConsumer {
			o.Destination, o.Received = s.dest, 1
		}
	}
	st.sink.Observe(o)
}

// insert appends an entry, evicting the oldest when the ring is full.
func (st *Store) insert(h uint64, class uint8, t *extract.TraceID, id *extract.SpanID, nowNs int64) *entry {
	if st.n == len(st.ring) {
		st.pop(false)
	}
	slot := st.head + st.n
	if slot >= len(st.ring) {
		slot -= len(st.ring)
	}
	st.n++
	e := &st.ring[slot]
	e.hash, e.class, e.trace, e.span, e.expireNs, e.flags = h, class, *t, *id, nowNs+st.wait, 0
	st.indexInsert(h, uint32(slot))
	return e
}

// pop removes the oldest entry. expired says whether its wait is over (an
// unpaired half becomes a virtual edge) or it is pushed out early (counted).
func (st *Store) pop(expired bool) {
	e := &st.ring[st.head]
	if e.flags&(flagClient|flagServer) != flagClient|flagServer {
		if expired {
			st.stats.Outcomes[OutcomeExpired]++
			st.emitUnpaired(e)
		} else {
			st.stats.Outcomes[OutcomeEvicted]++
		}
	}
	st.indexRemove(e.hash, uint32(st.head))
	st.head++
	if st.head == len(st.ring) {
		st.head = 0
	}
	st.n--
}

// MarkNames calls mark with every name ID the store refers to: its
// virtual node names and the halves waiting.
func (st *Store) MarkNames(mark func(intern.ID)) {
	mark(st.user)
	mark(st.unknown)
	for i := 0; i < st.n; i++ {
		slot := st.head + i
		if slot >= len(st.ring) {
			slot -= len(st.ring)
		}
		e := &st.ring[slot]
		if e.flags&flagClient != 0 {
			mark(e.client.service)
			mark(e.client.peer)
			mark(e.client.dest)
		}
		if e.flags&flagServer != 0 {
			mark(e.server.service)
			mark(e.server.peer)
			mark(e.server.dest)
		}
	}
}

// Expire ends the wait of every entry stored before nowNs - Wait.
func (st *Store) Expire(nowNs int64) {
	for st.n > 0 && st.ring[st.head].expireNs <= nowNs {
		st.pop(true)
	}
}

// Flush ends the wait of every entry (shutdown).
func (st *Store) Flush() {
	for st.n > 0 {
		st.pop(true)
	}
}
