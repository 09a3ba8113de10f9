package rulefile

// Metrics names the series the shorthand rules compile to. They are the flow
// analyzer's exposition (flowgraph/metrics): change them here, in one place,
// if the analyzer renames anything.
type Metrics struct {
	Requests      string // counter per edge: traces_service_graph_request_total
	Failed        string // counter per edge: traces_service_graph_request_failed_total
	Retries       string // counter per edge: flowlens_flow_retries_total
	ServerSeconds string // histogram base name per edge (…_bucket, …_count)
	ClientSeconds string // histogram base name per edge (…_bucket, …_count)

	MessagesSent     string // counter per (service, destination), producer side
	MessagesReceived string // counter per (service, destination), consumer side

	BreakerState       string // gauge per (service, target, state): 1 current, 0 others
	BreakerTransitions string // counter per (service, target, state): transitions into state

	ConformanceLogRecords string // counter per service: log records read
	ConformanceLogFields  string // counter per (service, field): log records carrying the field
	ConformanceCalls      string // counter per (service, side, recorded): calls made or served

	// Label names.
	Client, Server, ConnectionType string // edge labels
	Service, Destination           string // message-flow labels
	Target, State                  string // breaker labels
	Field, Side, Recorded          string // conformance labels
}

// DefaultMetrics are the names flowgraph/metrics exposes.
func DefaultMetrics() Metrics {
	return Metrics{
		Requests:      "traces_service_graph_request_total",
		Failed:        "traces_service_graph_request_failed_total",
		Retries:       "flowlens_flow_retries_total",
		ServerSeconds: "traces_service_graph_request_server_seconds",
		ClientSeconds: "traces_service_graph_request_client_seconds",

		MessagesSent:     "flowlens_flow_messages_sent_total",
		MessagesReceived: "flowlens_flow_messages_received_total",

		BreakerState:       "flowlens_breaker_state",
		BreakerTransitions: "flowlens_breaker_transitions_total",

		ConformanceLogRecords: "flowlens_conformance_log_records_total",
		ConformanceLogFields:  "flowlens_conformance_log_records_with_total",
		ConformanceCalls:      "flowlens_conformance_calls_total",

		Client:         "client",
		Server:         "server",
		ConnectionType: "connection_type",
		Service:        "service",
		Destination:    "destination",
		Target:         "target",
		State:          "state",
		Field:          "field",
		Side:           "side",
		Recorded:       "recorded",
	}
}

// RecordPrefix starts the name of every recording rule a shorthand emits:
// flowlens:<rule name in snake case>:<what>.
const RecordPrefix = "flowlens:"
