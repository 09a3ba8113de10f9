package gen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// User is the client of the root requests' edge.
const User = "user"

// Truth is what the generator emitted, for comparison with what the pipeline
// stored and the graph it drew. Sequence numbers are dense: spans carry
// flowlens.seq 1..Spans, log records seq 1..Logs.
type Truth struct {
	Topology string    `json:"topology"`
	Seed     uint64    `json:"seed"`
	RunID    string    `json:"run_id"` // flowlens.run of every span's resource and every log line
	Start    time.Time `json:"start"`  // time of the first root request
	End      time.Time `json:"end"`    // latest span end
	// Requests are the root requests (one trace each).
	Requests uint64 `json:"requests"`
	Spans    uint64 `json:"spans"`
	Logs     uint64 `json:"logs"`
	// SpansByService counts the spans each service emitted.
	SpansByService map[string]uint64 `json:"spans_by_service"`
	// LogsByService counts the log lines each service wrote; a
	// logs_without_trace_id fault's Affected are those it wrote without.
	LogsByService map[string]uint64 `json:"logs_by_service,omitempty"`
	// Edges are the calls as the flow analyzer should count them.
	Edges    []EdgeTruth         `json:"edges"`
	Queues   []QueueTruth        `json:"queues"`
	Breakers []BreakerTransition `json:"breaker_transitions"`
	Faults   []FaultTruth        `json:"faults"`
	// Expected are the topology's edges with their mean calls per root
	// request without failures, to compare call ratios with.
	Expected []ExpectedEdge `json:"expected"`
}

// EdgeKey identifies an edge like the service-graph metrics' labels.
type EdgeKey struct {
	Client         string `json:"client"`
	Server         string `json:"server"`
	ConnectionType string `json:"connection_type"`
	// Destination is the messaging destination of a messaging edge or of a
	// dropped message's virtual edge.
	Destination string `json:"destination,omitempty"`
}

// EdgeTruth counts the calls of one edge. A call retried counts once per
// attempt; Retries counts the attempts after the first.
type EdgeTruth struct {
	EdgeKey
	Requests uint64 `json:"requests"`
	Failed   uint64 `json:"failed"`
	Retries  uint64 `json:"retries"`
}

// QueueTruth counts messages. Each message goes to every consumer, unless dropped.
type QueueTruth struct {
	Queue       string            `json:"queue"`
	System      string            `json:"system"`
	Destination string            `json:"destination"`
	Sent        uint64            `json:"sent"`
	Dropped     uint64            `json:"dropped"`
	Received    map[string]uint64 `json:"received"` // by consumer service
}

// BreakerTransition is one state change of a circuit breaker.
type BreakerTransition struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"` // the caller holding the breaker
	Name    string    `json:"name"`    // breaker.name
	From    string    `json:"from"`
	To      string    `json:"to"`
	TraceID string    `json:"trace_id"`
	SpanID  string    `json:"span_id"`
}

// FaultTruth is an injected fault with the window it actually covered
// (clipped to the run) and how many calls, messages or requests it touched.
type FaultTruth struct {
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Target    string        `json:"target"` // queue, "from->to" or service
	Ratio     float64       `json:"ratio,omitempty"`
	ErrorRate float64       `json:"error_rate,omitempty"`
	Add       time.Duration `json:"add_ns,omitempty"`
	Start     time.Time     `json:"start"`
	End       time.Time     `json:"end"`
	Active    bool          `json:"active"` // false when the run ended before the fault began
	Affected  uint64        `json:"affected"`
}

// Edge returns the edge with key k (zero counts when absent).
func (t *Truth) Edge(k EdgeKey) EdgeTruth {
	for _, e := range t.Edges {
		if e.EdgeKey == k {
			return e
		}
	}
	return EdgeTruth{EdgeKey: k}
}

// Queue returns the named queue's counts, or nil.
func (t *Truth) Queue(name string) *QueueTruth {
	for i := range t.Queues {
		if t.Queues[i].Queue == name {
			return &t.Queues[i]
		}
	}
	return nil
}

// WriteFile writes the truth as indented JSON, atomically (temp file + rename).
func (t *Truth) WriteFile(path string) error {
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("encode truth: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".truth-*")
	if err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write truth %s: %v %v", path, werr, cerr)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write truth: %w", err)
	}
	return nil
}

// ReadTruth reads a truth file.
func ReadTruth(path string) (*Truth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	var t Truth
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("decode truth %s: %w", path, err)
	}
	return &t, nil
}

func sortEdges(es []EdgeTruth) {
	sort.Slice(es, func(i, j int) bool { return es[i].EdgeKey.less(es[j].EdgeKey) })
}

// less orders keys by client, server, connection type, destination.
func (a EdgeKey) less(b EdgeKey) bool {
	if a.Client != b.Client {
		return a.Client < b.Client
	}
	if a.Server != b.Server {
		return a.Server < b.Server
	}
	if a.ConnectionType != b.ConnectionType {
		return a.ConnectionType < b.ConnectionType
	}
	return a.Destination < b.Destination
}
