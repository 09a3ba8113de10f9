// Package breaker tracks circuit-breaker states per (service, target) from
// span attributes, span events and log records, and counts transitions so a
// state shorter than a scrape interval is never lost.
//
// Default convention (every name is configurable in flowgraph.Config):
//   - attribute "breaker.state" with value closed | open | half_open
//     (also accepted: half-open, halfopen, CLOSED...) on a span, on a span
//     event named "breaker.state_change", or on a log record;
//   - attribute "breaker.name" naming the protected target; when absent on a
//     span, the target is the span's peer (extract.Span.Peer: peer.service,
//     db.name, server.address, ...).
//
// The service is the resource's service.name.
package breaker

// State of a circuit breaker. The zero value is Unknown (no observation).
type State uint8

const (
	Unknown State = iota
	Closed
	Open
	HalfOpen
)

// States lists the real states in exposition order.
var States = [...]State{Closed, Open, HalfOpen}

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "unknown"
}

// ParseStateBytes is ParseState for a byte slice, without allocating.
func ParseStateBytes(b []byte) State { return parseState(b) }

// ParseState reads a state name (any case, "-" or none for "_"), without
// allocating; Unknown when s is not one.
func ParseState(s string) State { return parseState(s) }

func parseState[T string | []byte](b T) State {
	if len(b) > 12 {
		return Unknown
	}
	var buf [12]byte
	n := copy(buf[:], b)
	for i := 0; i < n; i++ {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	switch string(buf[:n]) {
	case "closed":
		return Closed
	case "open":
		return Open
	case "half_open", "half-open", "halfopen":
		return HalfOpen
	}
	return Unknown
}
