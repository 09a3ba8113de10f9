package gen

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/nodegraph"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	model "github.com/flowlens/flowlens/dashboards/plugin/querymodel"
)

// Dashboard UIDs of the plugin set.
const (
	UIDOverview = "flowlens-overview"
	UIDService  = "flowlens-service"
	UIDEdge     = "flowlens-edge"
	UIDTrace    = "flowlens-trace"
)

// fl is a query of the flowlens data source.
func fl(ref string, q model.Query) cog.Builder[variants.Dataquery] {
	return query{FlowlensQuery{RefID: ref, Datasource: &flowlensDS, Query: q}}
}

func edgeQuery(ref, metric string, q model.Query) cog.Builder[variants.Dataquery] {
	q.QueryType, q.Metric = model.Edges, metric
	return fl(ref, q)
}

var (
	serviceLink = link("Service ${__data.fields.title}", "/d/"+UIDService+"?var-service=${__data.fields.title}&${__url_time_range}")
	edgeLink    = link("Edge ${__data.fields.source} → ${__data.fields.target}",
		"/d/"+UIDEdge+"?var-client=${__data.fields.source}&var-server=${__data.fields.target}&${__url_time_range}")
)

// traceLinkOverride links a table's trace ID column to a trace dashboard.
func traceLinkOverride(uid string) []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{{Id: "links", Value: []map[string]any{{
		"title": "Trace ${__value.raw}", "url": "/d/" + uid + "?var-trace_id=${__value.raw}&${__url_time_range}"}}}}
}

func flowGraph(title string, q model.Query, h uint32) *nodegraph.PanelBuilder {
	q.QueryType = model.NodeGraph
	return nodegraph.NewPanelBuilder().Title(title).Datasource(flowlensDS).
		Description("Nodes: inbound requests/s, error share (arcs). Edges: requests/s, p99; details: errors, delivery ratio, retries, breaker. Highlighted: a firing flow alert names the edge.").
		WithTarget(fl("A", q)).Height(h).Span(24).
		DataLinks([]cog.Builder[dashboard.DashboardLink]{serviceLink, edgeLink})
}

func pluginOverview() *dashboard.DashboardBuilder {
	return base(UIDOverview, "flowlens: flow overview", TagPlugin,
		"The call graph of every service, queue and database, its busiest and worst edges, queue delivery, breakers and firing flow alerts.").
		WithVariable(datasourceVar("datasource", "flowlens", FlowlensType)).
		WithPanel(flowGraph("Flow graph", model.Query{}, 14)).
		WithPanel(newTable().Title("Busiest edges").Datasource(flowlensDS).
			Description("Mean requests/s over the range.").
			WithTarget(edgeQuery("A", "rate", model.Query{})).
			Transformations(topTable("mean", 10)).Unit("reqps").Height(9).Span(12)).
		WithPanel(newTable().Title("Worst edges").Datasource(flowlensDS).
			Description("Largest share of failed requests (mean over the range).").
			WithTarget(edgeQuery("A", "error_percent", model.Query{})).
			Transformations(topTable("mean", 10)).Unit("percent").Height(9).Span(12)).
		WithPanel(timeseries.NewPanelBuilder().Title("Delivery ratio per queue").Datasource(flowlensDS).
			Description("Messages received by each consumer / everything its producer sent.").
			WithTarget(edgeQuery("A", "delivery_ratio", model.Query{ConnectionType: "messaging_system"})).
			Unit("percentunit").Min(0).Max(1).Legend(legend()).Height(8).Span(12)).
		WithPanel(statetimeline.NewPanelBuilder().Title("Breaker states").Datasource(flowlensDS).
			Description("The worst state requests saw on each edge with a circuit breaker.").
			WithTarget(edgeQuery("A", "breaker_state", model.Query{})).
			Mappings(breakerStates).ShowValue(common.VisibilityModeNever).Height(8).Span(12)).
		WithPanel(newTable().Title("Flow alerts").Datasource(flowlensDS).
			Description("Pending and firing alerts of flowlens's rules evaluator, firing first.").
			WithTarget(fl("A", model.Query{QueryType: model.Alerts})).Height(7).Span(24))
}

func pluginService() *dashboard.DashboardBuilder {
	svc := model.Query{Service: "$service"}
	return base(UIDService, "flowlens: service", TagPlugin,
		"One service: its neighbours, inbound and outbound edges, rate, errors and latency, its logs and slowest recent traces.").
		WithVariable(datasourceVar("datasource", "flowlens", FlowlensType)).
		WithVariable(dashboard.NewQueryVariableBuilder("service").Label("Service").Datasource(flowlensDS).
			Query(dashboard.StringOrMap{Map: map[string]any{"refId": "service", "queryType": model.Services}}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)).
		WithPanel(flowGraph("$service and its neighbours", model.Query{Service: "$service", Depth: 1}, 10)).
		WithPanel(newTable().Title("Inbound edges").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "rate", model.Query{Server: "$service"})).
			Transformations(topTable("mean", 50)).Unit("reqps").Height(7).Span(12)).
		WithPanel(newTable().Title("Outbound edges").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "rate", model.Query{Client: "$service"})).
			Transformations(topTable("mean", 50)).Unit("reqps").Height(7).Span(12)).
		WithPanel(timeseries.NewPanelBuilder().Title("Request rate").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "rate", svc)).Unit("reqps").Legend(legend()).Height(8).Span(8)).
		WithPanel(timeseries.NewPanelBuilder().Title("Errors").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "error_percent", svc)).Unit("percent").Legend(legend()).Height(8).Span(8)).
		WithPanel(timeseries.NewPanelBuilder().Title("Latency p99").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "p99", svc)).Unit("ms").Legend(legend()).Height(8).Span(8)).
		WithPanel(logs.NewPanelBuilder().Title("Logs of $service").Datasource(flowlensDS).
			WithTarget(fl("A", model.Query{QueryType: model.Logs, Service: "$service", Limit: 500})).
			ShowTime(true).EnableLogDetails(true).SortOrder(common.LogsSortOrderDescending).Height(10).Span(24)).
		WithPanel(newTable().Title("Slowest recent traces").Datasource(flowlensDS).
			Description("The slowest spans of $service in the range, one row per trace.").
			WithTarget(fl("A", model.Query{QueryType: model.Traces, Service: "$service", OrderBy: "slowest", Limit: 20})).
			OverrideByName("traceID", traceLinkOverride(UIDTrace)).
			Height(9).Span(24))
}

func pluginEdge() *dashboard.DashboardBuilder {
	e := model.Query{Client: "$client", Server: "$server"}
	nameVar := func(name, label string) *dashboard.QueryVariableBuilder {
		return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(flowlensDS).
			Query(dashboard.StringOrMap{Map: map[string]any{"refId": name, "queryType": model.Services}}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)
	}
	return base(UIDEdge, "flowlens: edge", TagPlugin,
		"One edge, client -> server: rate, errors, latency, delivery ratio, retries and breaker state over time, as the alert rules see them.").
		WithVariable(datasourceVar("datasource", "flowlens", FlowlensType)).
		WithVariable(nameVar("client", "Client")).
		WithVariable(nameVar("server", "Server")).
		WithPanel(timeseries.NewPanelBuilder().Title("Requests and errors").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "rate", e)).WithTarget(edgeQuery("B", "errors", e)).
			Unit("reqps").Legend(tableLegend("mean", "max")).Height(8).Span(12)).
		WithPanel(timeseries.NewPanelBuilder().Title("Latency").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "p50", e)).WithTarget(edgeQuery("B", "p95", e)).WithTarget(edgeQuery("C", "p99", e)).
			Unit("ms").Legend(tableLegend("mean", "max")).Height(8).Span(12)).
		WithPanel(timeseries.NewPanelBuilder().Title("Delivery ratio").Datasource(flowlensDS).
			Description("Messages $server received / everything $client sent (messaging edges).").
			WithTarget(edgeQuery("A", "delivery_ratio", e)).Unit("percentunit").Min(0).Max(1).Legend(legend()).Height(8).Span(8)).
		WithPanel(timeseries.NewPanelBuilder().Title("Retries").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "retries", e)).Unit("short").Legend(legend()).Height(8).Span(8)).
		WithPanel(statetimeline.NewPanelBuilder().Title("Breaker state").Datasource(flowlensDS).
			WithTarget(edgeQuery("A", "breaker_state", e)).Mappings(breakerStates).Height(8).Span(8))
}

func pluginTrace() *dashboard.DashboardBuilder {
	return base(UIDTrace, "flowlens: trace", TagPlugin, "One trace by ID: its spans in the trace view, and its log lines.").
		Time("now-24h", "now").
		WithVariable(datasourceVar("datasource", "flowlens", FlowlensType)).
		WithVariable(textVar("trace_id", "Trace ID", "32 hex digits")).
		WithPanel(dashboard.NewPanelBuilder().Type("traces").Title("Trace $trace_id").Datasource(flowlensDS).
			WithTarget(fl("A", model.Query{QueryType: model.Trace, TraceID: "$trace_id"})).Height(16).Span(24)).
		WithPanel(logs.NewPanelBuilder().Title("Logs of the trace").Datasource(flowlensDS).
			WithTarget(fl("A", model.Query{QueryType: model.Logs, TraceID: "$trace_id", Limit: 1000})).
			ShowTime(true).EnableLogDetails(true).SortOrder(common.LogsSortOrderAscending).Height(10).Span(24))
}
