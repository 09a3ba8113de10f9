// Package querymodel is the flowlens data source's query model: its plugin
// ID, query types and the JSON of a query. The plugin backend answers it,
// the dashboards are written in it; it depends on the flow model alone
// (internal/flowmodel, the standard library's), so that `flowlens` (which
// writes dashboards) does not carry the plugin SDK.
package querymodel

import "github.com/flowlens/flowlens/internal/flowmodel"

// ID is the plugin's ID in plugin.json (Grafana's org-name-type rule).
const ID = "flowlens-flowlens-datasource"

// Query types (the queryType of a query).
const (
	NodeGraph  = "nodegraph"
	Trace      = "trace"
	Traces     = "traces"
	Logs       = "logs"
	Edges      = "edges"
	Services   = "services"
	Operations = "operations"
	Alerts     = "alerts"
)

// QueryTypes lists every query type the backend answers.
var QueryTypes = []string{NodeGraph, Trace, Traces, Logs, Edges, Services, Operations, Alerts}

// ConnectionTypes a query may filter on ("" is any): unset is a plain call.
var ConnectionTypes = flowmodel.ConnectionFilters

// EdgeMetrics are the series of an edges query, in this order.
var EdgeMetrics = []string{"rate", "errors", "error_percent", "p50", "p95", "p99", "delivery_ratio", "retries", "breaker_state"}

// Query is the JSON model of a query (the frontend's FlowlensQuery). Each
// query type reads the fields it names; the rest are ignored.
type Query struct {
	QueryType string `json:"queryType"`
	// Service: nodegraph (centre of the neighbourhood), traces, logs,
	// edges (client or server), operations.
	Service string `json:"service,omitempty"`
	// Depth is the neighbourhood of Service in hops (nodegraph; default 1).
	Depth int `json:"depth,omitempty"`
	// ConnectionType keeps edges of one type (nodegraph, edges): unset
	// (plain calls), messaging_system, database or virtual_node.
	ConnectionType string `json:"connectionType,omitempty"`
	// TraceID: trace (required), logs.
	TraceID string `json:"traceId,omitempty"`
	// Trace search (traces).
	Operation   string            `json:"operation,omitempty"`
	MinDuration string            `json:"minDuration,omitempty"` // Go duration: 250ms, 1.5s
	MaxDuration string            `json:"maxDuration,omitempty"`
	Status      string            `json:"status,omitempty"` // traces: ok, error, unset; alerts: firing, pending, resolved
	Attributes  map[string]string `json:"attributes,omitempty"`
	OrderBy     string            `json:"orderBy,omitempty"` // newest (default) or slowest
	// Log search (logs).
	Severity string `json:"severity,omitempty"`
	Contains string `json:"contains,omitempty"`
	// Edge series (edges).
	Client string `json:"client,omitempty"`
	Server string `json:"server,omitempty"`
	// Metric is one of EdgeMetrics; empty: all of them.
	Metric string `json:"metric,omitempty"`
	// Limit of rows (traces, logs; default 100).
	Limit int `json:"limit,omitempty"`
}
