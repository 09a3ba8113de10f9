// Package extract turns pdata spans and log records into the compact records
// the flow analyzer works on, without allocating per span: IDs are copied into
// fixed arrays, strings are interned, and per-span lists (links, breaker
// observations) live in buffers the Extractor reuses.
package extract

import (
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/intern"
)

// Kind is the span kind, with the OTLP numbering.
type Kind uint8

const (
	KindUnspecified Kind = 0
	KindInternal    Kind = 1
	KindServer      Kind = 2
	KindClient      Kind = 3
	KindProducer    Kind = 4
	KindConsumer    Kind = 5
)

// TraceID and SpanID are raw OTLP identifiers.
type (
	TraceID [16]byte
	SpanID  [8]byte
)

// Link is a span link: the span context of another span (the producer of a
// message, in the messaging conventions).
type Link struct {
	TraceID TraceID
	SpanID  SpanID
}

// BreakerObs is one observed breaker state.
type BreakerObs struct {
	Target intern.ID // breaker.name, or the span's peer
	State  breaker.State
	TimeNs int64
}

// Span is the part of a span that the flow graph needs. The slices point into
// the Extractor's reused buffers and are valid only during the Handler call.
type Span struct {
	TraceID  TraceID
	SpanID   SpanID
	ParentID SpanID
	Kind     Kind
	Error    bool // status code ERROR
	Service  intern.ID
	StartNs  int64
	EndNs    int64

	PeerService   intern.ID // peer.service
	ServerAddress intern.ID // server.address (falls back to net.peer.name)
	URLHost       intern.ID // host of url.full (or http.url)
	RPCService    intern.ID // rpc.service
	DBSystem      intern.ID // db.system (or db.system.name)
	DBName        intern.ID // db.name (or db.namespace)
	MsgSystem     intern.ID // messaging.system
	Destination   intern.ID // messaging.destination.name
	// BreakerName is the span's own breaker name attribute: the target the
	// client's circuit breaker protects.
	BreakerName intern.ID

	// Retries is http.request.resend_count or the configured retry
	// attribute, whichever is larger (0: first attempt).
	Retries uint32

	// Breaker is the state of the span's own breaker attribute (the
	// client's breaker toward its peer when the call was made), or Unknown.
	Breaker breaker.State

	Links    []Link
	Breakers []BreakerObs
}

// HasParent reports whether the span has a parent span ID.
func (s *Span) HasParent() bool { return s.ParentID != SpanID{} }

// IsDatabase reports whether the span is a client call to a database.
func (s *Span) IsDatabase() bool { return s.DBSystem != intern.None || s.DBName != intern.None }

// Peer is the best name for the other side of a client or producer span:
// peer.service, then db.name, db.system, the breaker's name (by convention
// the target it protects: a call the breaker refused has no server side and
// often nothing else naming it), server.address (or net.peer.name), the host
// of url.full (or http.url), rpc.service, then the messaging destination;
// None when nothing names it.
func (s *Span) Peer() intern.ID {
	switch {
	case s.PeerService != intern.None:
		return s.PeerService
	case s.DBName != intern.None:
		return s.DBName
	case s.DBSystem != intern.None:
		return s.DBSystem
	case s.BreakerName != intern.None:
		return s.BreakerName
	case s.ServerAddress != intern.None:
		return s.ServerAddress
	case s.URLHost != intern.None:
		return s.URLHost
	case s.RPCService != intern.None:
		return s.RPCService
	}
	return s.Destination
}

// DurationNs is end minus start, never negative.
func (s *Span) DurationNs() int64 {
	if s.EndNs < s.StartNs {
		return 0
	}
	return s.EndNs - s.StartNs
}
