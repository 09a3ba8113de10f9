package flowgraph

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowlens/flowlens/flowgraph/metrics"
)

// series flattens gathered families into "name{k=v,...}" -> value.
func series(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsExposition(t *testing.T) {
	a := run(t, topology{Traces: 400, DropEvery: 20, Retries: 7}, 9, 5)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(a, metrics.Options{Instance: "fg-1"}))
	got := series(t, reg)
	edge := func(name, client, server, conn string) string {
		return name + "{client=" + client + ",connection_type=" + conn + ",instance=fg-1,server=" + server + "}"
	}
	want := map[string]float64{
		edge("traces_service_graph_request_total", "checkout", "payments", ""):                                      407,
		edge("traces_service_graph_request_failed_total", "checkout", "payments", ""):                               40,
		edge("traces_service_graph_request_server_seconds", "checkout", "payments", ""):                             407,
		edge("traces_service_graph_request_client_seconds", "checkout", "payments", ""):                             407,
		edge("flowlens_flow_retries_total", "checkout", "payments", ""):                                             7,
		edge("traces_service_graph_request_total", "user", "gateway", ""):                                           400,
		edge("traces_service_graph_request_total", "checkout", "fulfilment", "messaging_system"):                    380,
		edge("traces_service_graph_request_messaging_system_seconds", "checkout", "fulfilment", "messaging_system"): 380,
		edge("traces_service_graph_request_total", "checkout", "orders", "virtual_node"):                            20,
		edge("traces_service_graph_unpaired_spans_total", "checkout", "orders", "virtual_node"):                     20,
		edge("traces_service_graph_request_total", "checkout", "api.stripe.com", "virtual_node"):                    400,
		edge("traces_service_graph_request_total", "fulfilment", "orders_db", "database"):                           380,
		"flowlens_flow_messages_sent_total{destination=orders,instance=fg-1,service=checkout}":                      400,
		"flowlens_flow_messages_received_total{destination=orders,instance=fg-1,service=fulfilment}":                380,
		"flowlens_breaker_state{instance=fg-1,service=checkout,state=closed,target=payments}":                       1,
		"flowlens_breaker_state{instance=fg-1,service=checkout,state=open,target=payments}":                         0,
		"flowlens_breaker_state{instance=fg-1,service=checkout,state=half_open,target=payments}":                    0,
		"flowlens_breaker_transitions_total{instance=fg-1,service=checkout,state=open,target=payments}":             1,
		"flowlens_breaker_transitions_total{instance=fg-1,service=checkout,state=half_open,target=payments}":        1,
		"flowlens_breaker_transitions_total{instance=fg-1,service=checkout,state=closed,target=payments}":           1,
		"flowlens_flowgraph_span_outcomes_total{instance=fg-1,outcome=evicted}":                                     0,
		// the logging policy: checkout's calls to payments and to fulfilment
		// (through the queue) were recorded on both sides, those to the
		// uninstrumented api.stripe.com and the dropped messages on its side only
		conformanceCalls("checkout", "client", "both"):     787,
		conformanceCalls("checkout", "client", "one_side"): 420,
		conformanceCalls("checkout", "server", "both"):     400,
		conformanceCalls("gateway", "client", "both"):      400,
		conformanceCalls("payments", "server", "both"):     407,
		conformanceCalls("fulfilment", "server", "both"):   380,
		// fulfilment's three breaker log lines have its name and a time, no
		// instance, severity or trace ID
		"flowlens_conformance_log_records_total{instance=fg-1,service=fulfilment}":                         3,
		"flowlens_conformance_log_records_with_total{field=service_name,instance=fg-1,service=fulfilment}": 3,
		"flowlens_conformance_log_records_with_total{field=instance,instance=fg-1,service=fulfilment}":     0,
		"flowlens_conformance_log_records_with_total{field=timestamp,instance=fg-1,service=fulfilment}":    3,
		"flowlens_conformance_log_records_with_total{field=severity,instance=fg-1,service=fulfilment}":     0,
		"flowlens_conformance_log_records_with_total{field=trace_id,instance=fg-1,service=fulfilment}":     0,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing series %s", k)
			continue
		}
		if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if got["flowlens_flowgraph_span_outcomes_total{instance=fg-1,outcome=duplicate}"] == 0 {
		t.Errorf("duplicates not counted")
	}
	// root requests have no client side, database calls no server side:
	// the policy says nothing of them
	for k := range got {
		if strings.HasPrefix(k, "flowlens_conformance_calls_total") && (strings.Contains(k, "service=user") ||
			strings.Contains(k, "service=orders_db") || strings.Contains(k, "service=gateway,side=server")) {
			t.Errorf("%s is counted", k)
		}
	}
}

func conformanceCalls(service, side, recorded string) string {
	return "flowlens_conformance_calls_total{instance=fg-1,recorded=" + recorded + ",service=" + service + ",side=" + side + "}"
}
