package gen

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dashboard UIDs of the set without the plugin.
const (
	UIDOTelOverview = "flowlens-otel-overview"
	UIDOTelService  = "flowlens-otel-service"
	UIDOTelEdge     = "flowlens-otel-edge"
	UIDOTelTrace    = "flowlens-otel-trace"
)

// ch is a raw SQL query of Grafana's ClickHouse data source.
func ch(ref, queryType, sql string) cog.Builder[variants.Dataquery] {
	return query{ClickHouseQuery{RefID: ref, Datasource: &clickhouseDS, EditorType: "sql", QueryType: queryType,
		Format: ClickHouseFormats[queryType], RawSQL: sql}}
}

// prom is a Prometheus range query; promTable an instant one shown as a table.
func prom(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(ref).Datasource(prometheusDS).Expr(expr).LegendFormat(legend).Range()
}

func promTable(ref, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(ref).Datasource(prometheusDS).Expr(expr).Instant().
		Format(prometheus.PromQueryFormatTable)
}

func otelVars(b *dashboard.DashboardBuilder, prom, clickhouse bool) *dashboard.DashboardBuilder {
	if prom {
		b = b.WithVariable(datasourceVar("prometheus", "Prometheus", PrometheusType))
	}
	if clickhouse {
		b = b.WithVariable(datasourceVar("clickhouse", "ClickHouse", ClickHouseType)).
			WithVariable(textVar("database", "Database", "The database of flowlens's tables").
				DefaultValue(dashboard.StringOrMap{String: cog.ToPtr("flowlens")}))
	}
	return b
}

func labelVar(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(prometheusDS).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)
}

// The breaker of each client towards each target as 0 closed, 1 half-open,
// 2 open: the analyzer reports every state explicitly, so no data is never
// read as closed.
const breakerStateExpr = `max by (service, target) (flowlens_breaker_state{state="open"%s}) * 2 + on (service, target) max by (service, target) (flowlens_breaker_state{state="half_open"%s})`

// logsSQL are log lines of the range as the ClickHouse data source's logs
// format reads them.
func logsSQL(where string) string {
	return `SELECT Timestamp AS timestamp, Body AS body, SeverityText AS level, ServiceName AS service,
    TraceId AS traceID, SpanId AS spanID, LogAttributes AS labels
FROM ${database}.otel_logs
WHERE $__timeFilter(Timestamp) AND ` + where + `
ORDER BY Timestamp DESC
LIMIT 500`
}

func otelOverview() *dashboard.DashboardBuilder {
	return otelVars(base(UIDOTelOverview, "flowlens (Prometheus + ClickHouse): flow overview", TagOTel,
		"The flow analyzer's metrics in Prometheus and the spans and logs in ClickHouse, without the flowlens plugin (no node graph)."), true, true).
		WithPanel(newTable().Title("Busiest edges").Datasource(prometheusDS).
			WithTarget(promTable("A", `topk(10, sum by (client, server, connection_type) (rate(traces_service_graph_request_total[$__range])))`)).
			Unit("reqps").Height(9).Span(12)).
		WithPanel(newTable().Title("Worst edges").Datasource(prometheusDS).
			WithTarget(promTable("A", `topk(10, sum by (client, server) (rate(traces_service_graph_request_failed_total[$__range])) / sum by (client, server) (rate(traces_service_graph_request_total[$__range])))`)).
			Unit("percentunit").Height(9).Span(12)).
		WithPanel(timeseries.NewPanelBuilder().Title("Delivery ratio per queue").Datasource(prometheusDS).
			Description("Messages received from each destination / messages sent to it (as the ratio rules compute it).").
			WithTarget(prom("A", `sum by (destination) (rate(flowlens_flow_messages_received_total[$__rate_interval])) / sum by (destination) (rate(flowlens_flow_messages_sent_total[$__rate_interval]))`, "{{destination}}")).
			Unit("percentunit").Min(0).Legend(legend()).Height(8).Span(12)).
		WithPanel(statetimeline.NewPanelBuilder().Title("Breaker states").Datasource(prometheusDS).
			WithTarget(prom("A", fmt.Sprintf(breakerStateExpr, "", ""), "{{service}} → {{target}}")).
			Mappings(breakerStates).ShowValue(common.VisibilityModeNever).Height(8).Span(12)).
		WithPanel(newTable().Title("Firing flow alerts").Datasource(prometheusDS).
			Description("Prometheus evaluating the rules of `flowlens rules export`.").
			WithTarget(promTable("A", `ALERTS{alertstate="firing"}`)).Height(7).Span(12)).
		WithPanel(logs.NewPanelBuilder().Title("Recent errors").Datasource(clickhouseDS).
			WithTarget(ch("A", "logs", logsSQL("SeverityNumber >= 17"))).
			ShowTime(true).EnableLogDetails(true).SortOrder(common.LogsSortOrderDescending).Height(7).Span(12))
}

func otelService() *dashboard.DashboardBuilder {
	return otelVars(base(UIDOTelService, "flowlens (Prometheus + ClickHouse): service", TagOTel,
		"One service: inbound and outbound edges, rate, errors and latency from Prometheus; its logs and slowest traces from ClickHouse."), true, true).
		WithVariable(labelVar("service", "Service", "label_values(traces_service_graph_request_total, server)")).
		WithPanel(newTable().Title("Inbound edges").Datasource(prometheusDS).
			WithTarget(promTable("A", `sum by (client, connection_type) (rate(traces_service_graph_request_total{server="$service"}[$__range]))`)).
			Unit("reqps").Height(7).Span(12)).
		WithPanel(newTable().Title("Outbound edges").Datasource(prometheusDS).
			WithTarget(promTable("A", `sum by (server, connection_type) (rate(traces_service_graph_request_total{client="$service"}[$__range]))`)).
			Unit("reqps").Height(7).Span(12)).
		WithPanel(timeseries.NewPanelBuilder().Title("Request rate").Datasource(prometheusDS).
			WithTarget(prom("A", `sum by (client, server) (rate(traces_service_graph_request_total{server="$service"}[$__rate_interval]))`, "{{client}} → {{server}}")).
			WithTarget(prom("B", `sum by (client, server) (rate(traces_service_graph_request_total{client="$service"}[$__rate_interval]))`, "{{client}} → {{server}}")).
			Unit("reqps").Legend(legend()).Height(8).Span(8)).
		WithPanel(timeseries.NewPanelBuilder().Title("Errors").Datasource(prometheusDS).
			WithTarget(prom("A", `sum by (client, server) (rate(traces_service_graph_request_failed_total{server="$service"}[$__rate_interval])) / sum by (client, server) (rate(traces_service_graph_request_total{server="$service"}[$__rate_interval]))`, "{{client}} → {{server}}")).
			Unit("percentunit").Legend(legend()).Height(8).Span(8)).
		WithPanel(timeseries.NewPanelBuilder().Title("Latency p99 (server side)").Datasource(prometheusDS).
			WithTarget(prom("A", `histogram_quantile(0.99, sum by (le, client) (rate(traces_service_graph_request_server_seconds_bucket{server="$service"}[$__rate_interval])))`, "{{client}} → $service")).
			Unit("s").Legend(legend()).Height(8).Span(8)).
		WithPanel(logs.NewPanelBuilder().Title("Logs of $service").Datasource(clickhouseDS).
			WithTarget(ch("A", "logs", logsSQL("ServiceName = ${service:sqlstring}"))).
			ShowTime(true).EnableLogDetails(true).SortOrder(common.LogsSortOrderDescending).Height(10).Span(24)).
		WithPanel(newTable().Title("Slowest recent traces").Datasource(clickhouseDS).
			WithTarget(ch("A", "table", `SELECT TraceId AS traceID, Timestamp AS startTime, SpanName AS operation,
    Duration / 1e6 AS duration, StatusCode AS status
FROM ${database}.otel_traces
WHERE $__timeFilter(Timestamp) AND ServiceName = ${service:sqlstring}
ORDER BY Duration DESC
LIMIT 20`)).
			OverrideByName("traceID", traceLinkOverride(UIDOTelTrace)).
			OverrideByName("duration", []dashboard.DynamicConfigValue{{Id: "unit", Value: "ms"}}).
			Height(9).Span(24))
}

func otelEdge() *dashboard.DashboardBuilder {
	sel := `client="$client", server="$server"`
	lat := func(q string) string {
		return `histogram_quantile(` + q + `, sum by (le) (rate(traces_service_graph_request_server_seconds_bucket{` + sel + `}[$__rate_interval])))`
	}
	return otelVars(base(UIDOTelEdge, "flowlens (Prometheus + ClickHouse): edge", TagOTel,
		"One edge, client -> server, from the flow analyzer's metrics in Prometheus."), true, false).
		WithVariable(labelVar("client", "Client", "label_values(traces_service_graph_request_total, client)")).
		WithVariable(labelVar("server", "Server", `label_values(traces_service_graph_request_total{client="$client"}, server)`)).
		WithPanel(timeseries.NewPanelBuilder().Title("Requests and errors").Datasource(prometheusDS).
			WithTarget(prom("A", `sum(rate(traces_service_graph_request_total{`+sel+`}[$__rate_interval]))`, "requests")).
			WithTarget(prom("B", `sum(rate(traces_service_graph_request_failed_total{`+sel+`}[$__rate_interval]))`, "failed")).
			Unit("reqps").Legend(tableLegend("mean", "max")).Height(8).Span(12)).
		WithPanel(timeseries.NewPanelBuilder().Title("Latency (server side)").Datasource(prometheusDS).
			WithTarget(prom("A", lat("0.5"), "p50")).WithTarget(prom("B", lat("0.95"), "p95")).WithTarget(prom("C", lat("0.99"), "p99")).
			Unit("s").Legend(tableLegend("mean", "max")).Height(8).Span(12)).
		WithPanel(timeseries.NewPanelBuilder().Title("Delivery ratio").Datasource(prometheusDS).
			Description("Messages $server received / messages $client sent.").
			WithTarget(prom("A", `sum(rate(flowlens_flow_messages_received_total{service="$server"}[$__rate_interval])) / sum(rate(flowlens_flow_messages_sent_total{service="$client"}[$__rate_interval]))`, "delivered")).
			Unit("percentunit").Min(0).Legend(legend()).Height(8).Span(8)).
		WithPanel(timeseries.NewPanelBuilder().Title("Retries").Datasource(prometheusDS).
			WithTarget(prom("A", `sum(rate(flowlens_flow_retries_total{`+sel+`}[$__rate_interval]))`, "retries/s")).
			Unit("short").Legend(legend()).Height(8).Span(8)).
		WithPanel(statetimeline.NewPanelBuilder().Title("Breaker state").Datasource(prometheusDS).
			WithTarget(prom("A", fmt.Sprintf(breakerStateExpr, `, service="$client", target="$server"`, `, service="$client", target="$server"`), "{{service}} → {{target}}")).
			Mappings(breakerStates).Height(8).Span(8))
}

// traceSQL is the trace's spans in the columns of Grafana's trace view,
// bounded by the trace-ID index's time range as flowlens's own lookup is.
const traceSQL = `WITH ${trace_id:sqlstring} AS id,
    (SELECT (min(Start), max(End) + 1) FROM ${database}.otel_traces_trace_id_ts WHERE TraceId = id) AS range
SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID,
    ServiceName AS serviceName, SpanName AS operationName,
    toUnixTimestamp64Nano(Timestamp) / 1e6 AS startTime, Duration / 1e6 AS duration,
    arrayMap(k -> map('key', k, 'value', SpanAttributes[k]), mapKeys(SpanAttributes)) AS tags,
    arrayMap(k -> map('key', k, 'value', ResourceAttributes[k]), mapKeys(ResourceAttributes)) AS serviceTags,
    lower(SpanKind) AS kind, multiIf(StatusCode = 'Error', 2, StatusCode = 'Ok', 1, 0) AS statusCode,
    StatusMessage AS statusMessage
FROM ${database}.otel_traces
WHERE TraceId = id AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2, 9)
ORDER BY Timestamp`

// traceLogsSQL is the trace's logs within an hour of its range. The range
// is on TimestampTime too, the partition and primary key of otel_logs: on
// Timestamp alone it pruned nothing, and the bloom filter of every granule
// of the table was checked.
const traceLogsSQL = `WITH ${trace_id:sqlstring} AS id,
    (SELECT (min(Start) - 3600, max(End) + 3601) FROM ${database}.otel_traces_trace_id_ts WHERE TraceId = id) AS range
SELECT Timestamp AS timestamp, Body AS body, SeverityText AS level, ServiceName AS service, SpanId AS spanID, LogAttributes AS labels
FROM ${database}.otel_logs
WHERE TraceId = id AND TimestampTime >= range.1 AND TimestampTime < range.2
  AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2, 9)
ORDER BY Timestamp`

func otelTrace() *dashboard.DashboardBuilder {
	return otelVars(base(UIDOTelTrace, "flowlens (Prometheus + ClickHouse): trace", TagOTel,
		"One trace by ID from the OTel tables: its spans in the trace view, and its log lines."), false, true).
		Time("now-24h", "now").
		WithVariable(textVar("trace_id", "Trace ID", "32 hex digits")).
		WithPanel(dashboard.NewPanelBuilder().Type("traces").Title("Trace $trace_id").Datasource(clickhouseDS).
			WithTarget(ch("A", "traces", traceSQL)).Height(16).Span(24)).
		WithPanel(logs.NewPanelBuilder().Title("Logs of the trace").Datasource(clickhouseDS).
			WithTarget(ch("A", "logs", traceLogsSQL)).
			ShowTime(true).EnableLogDetails(true).SortOrder(common.LogsSortOrderAscending).Height(10).Span(24))
}
