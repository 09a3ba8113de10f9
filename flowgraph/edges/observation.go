// Package edges aggregates edge observations (one paired or unpaired call)
// into per-edge counters and fixed-bucket histograms, cumulatively for
// Prometheus and per time bucket for the rollup table.
package edges

import (
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Absent marks a missing duration in an Observation.
const Absent int64 = -1

// Observation is one call (or one message) on an edge.
type Observation struct {
	Client, Server intern.ID
	Conn           flowmodel.ConnType
	// Destination is the messaging destination (0 for other edges); it is
	// part of the edge key so the delivery ratio of a queue is computable.
	Destination intern.ID
	// TimeNs places the observation in a time bucket (the earliest start).
	TimeNs   int64
	ClientNs int64 // client/producer span duration, or Absent
	ServerNs int64 // server/consumer span duration, or Absent
	DelayNs  int64 // producer start -> consumer start, or Absent
	Failed   bool
	Sent     uint8 // producer spans counted here (0 or 1)
	Received uint8 // consumer spans counted here (0 or 1)
	Retry    bool  // the client span was a retry attempt
	Unpaired bool  // one side is a virtual node made after the wait
	// Breaker is the client's breaker state when it made the call (Unknown:
	// not reported).
	Breaker breaker.State
}
