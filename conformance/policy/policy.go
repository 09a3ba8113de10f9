// Package policy names what the platform's logging policy asks of every
// log record and every call, in one place for the flow analyzer's
// conformance metrics, the report over stored data (package conformance)
// and the `conformance` rule shorthand:
//
//   - every log record carries the service's name, an instance, a
//     timestamp, a severity and the trace ID;
//   - every call is recorded on both sides: a client (or producer) span
//     whose server (or consumer) side never appears points at an
//     uninstrumented peer, a server span with no client side at an
//     unrecorded outbound call of its caller.
//
// It has no dependencies, so the analyzer's hot path can use it.
package policy

// Log fields the policy asks for, as the label values of
// flowlens_conformance_log_records_with_total{field}.
const (
	FieldServiceName = "service_name" // resource service.name
	FieldInstance    = "instance"     // one of InstanceKeys on the resource
	FieldTimestamp   = "timestamp"    // the record's own time (time_unix_nano), not the time it was observed
	FieldSeverity    = "severity"     // severity number or text
	FieldTraceID     = "trace_id"     // a trace ID that is not all zeros
)

// Fields are the log fields in the order reports show them.
var Fields = []string{FieldServiceName, FieldInstance, FieldTimestamp, FieldSeverity, FieldTraceID}

// IsField says whether f is one of Fields.
func IsField(f string) bool {
	for _, x := range Fields {
		if x == f {
			return true
		}
	}
	return false
}

// InstanceKeys are the resource attributes that name an instance of a
// service: its own ID (the semantic conventions' service.instance.id), or
// where it runs. A record whose resource has one of them, not empty,
// carries an instance.
var InstanceKeys = []string{"service.instance.id", "k8s.pod.name", "container.id", "host.name"}

// IsInstanceKey says whether a resource attribute names an instance.
func IsInstanceKey(k string) bool {
	for _, x := range InstanceKeys {
		if x == k {
			return true
		}
	}
	return false
}

// Sides of a call, as the label values of flowlens_conformance_calls_total{side}.
const (
	SideClient = "client" // the calls a service makes: client and producer spans
	SideServer = "server" // the calls a service serves: server and consumer spans
)

// Whether both sides of a call were recorded, as the label values of
// flowlens_conformance_calls_total{recorded}.
const (
	RecordedBoth = "both"
	RecordedOne  = "one_side"
)

// Connection types of an edge, as the flow analyzer labels them.
const (
	connDatabase = "database"
	connVirtual  = "virtual_node"
	// rootClient is the client of the edges of root requests.
	rootClient = "user"
)

// CallCount is a number of calls of one service on one side.
type CallCount struct {
	Service  string
	Side     string // SideClient or SideServer
	Recorded string // RecordedBoth or RecordedOne
	// Peer is the other side: the server a client called, the client that
	// called a server (for a server span alone, the analyzer's guess, often
	// "unknown").
	Peer  string
	Calls uint64
	// Messages says the calls are messages: the peer is a queue or topic
	// (client side), or the producer's name for it (server side).
	Messages bool
}

// EdgeCalls is what one edge of the flow graph says about the policy on
// calls. requests are the edge's calls; clientTimed and serverTimed how
// many of them have a client-side and a server-side duration (the counts
// of its latency histograms): a paired call has both, a call whose other
// side never appeared only its own; messages says the edge carries
// messages. Database calls have no server side by design and root
// requests no client side: they say nothing.
func EdgeCalls(client, server, conn string, requests, clientTimed, serverTimed uint64, messages bool) []CallCount {
	switch {
	case requests == 0, conn == connDatabase, client == rootClient:
		return nil
	case conn != connVirtual:
		return []CallCount{
			{Service: client, Side: SideClient, Recorded: RecordedBoth, Peer: server, Calls: requests},
			{Service: server, Side: SideServer, Recorded: RecordedBoth, Peer: client, Calls: requests},
		}
	}
	// a virtual edge holds calls whose other side never came: the side
	// that has a duration is the one recorded
	var out []CallCount
	if clientTimed > 0 {
		out = append(out, CallCount{Service: client, Side: SideClient, Recorded: RecordedOne, Peer: server, Calls: clientTimed, Messages: messages})
	}
	if serverTimed > 0 {
		out = append(out, CallCount{Service: server, Side: SideServer, Recorded: RecordedOne, Peer: client, Calls: serverTimed, Messages: messages})
	}
	return out
}
