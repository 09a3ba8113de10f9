package conformance_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/conformance"
	"github.com/flowlens/flowlens/conformance/policy"
	"github.com/flowlens/flowlens/flowgraph/metrics"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// stored is testdata/policy.yaml played into a fresh database: a minute
// at 20 requests a second, ending 5 minutes ago.
func stored(t *testing.T) (*storage.Store, *storeload.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st := storetest.Migrated(t)
	res, err := storeload.Load(ctx, st, storeload.Options{Topology: "testdata/policy.yaml", Rate: 20, Duration: time.Minute,
		Seed: 3, Start: time.Now().Add(-6 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return st, res
}

// A system where orders writes 30 % of its log lines without a trace ID
// and front calls a peer that records nothing is reported exactly as the
// generator made it: the lines without a trace ID, and the calls to the
// uninstrumented peer, each counted to the one.
func TestReportIsTheTruth(t *testing.T) {
	st, res := stored(t)
	tr := res.Truth
	rep, err := conformance.Read(context.Background(), st, conformance.Request{From: tr.Start.Add(-time.Minute), To: tr.End.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	untraced := tr.Faults[0].Affected
	toOrders := tr.Edge(gen.EdgeKey{Client: "front", Server: "orders"}).Requests
	toGeo := tr.Edge(gen.EdgeKey{Client: "front", Server: "geo-api", ConnectionType: flowmodel.ConnectionVirtual}).Requests
	if untraced == 0 || toGeo == 0 || toOrders != tr.Requests {
		t.Fatalf("the system did not break the policy: %d untraced lines, %d calls to geo-api, %d of %d requests to orders",
			untraced, toGeo, toOrders, tr.Requests)
	}
	logs := func(records, traced uint64) *conformance.Logs {
		share := func(n uint64) float64 { return float64(n) / float64(records) }
		return &conformance.Logs{Records: records, Fields: []conformance.Field{
			{Name: policy.FieldServiceName, Known: true, With: records, Share: 1},
			{Name: policy.FieldInstance, Known: true, With: records, Share: 1}, // the agent's host.name
			{Name: policy.FieldTimestamp},
			{Name: policy.FieldSeverity, Known: true, With: records, Share: 1},
			{Name: policy.FieldTraceID, Known: true, With: traced, Share: share(traced)},
		}}
	}
	front, orders := tr.LogsByService["front"], tr.LogsByService["orders"]
	want := []conformance.Service{
		{
			Name: "front",
			Logs: logs(front, front),
			Client: &conformance.Calls{Calls: toOrders + toGeo, Both: toOrders, Share: float64(toOrders) / float64(toOrders+toGeo),
				OneSided: []conformance.Peer{{Name: "geo-api", Calls: toGeo, Instrumented: false,
					Meaning: "geo-api records nothing: an uninstrumented peer"}}},
			Below: []string{"client calls"},
		},
		{
			Name:   "orders",
			Logs:   logs(orders, orders-untraced),
			Server: &conformance.Calls{Calls: toOrders, Both: toOrders, Share: 1},
			Below:  []string{policy.FieldTraceID},
		},
	}
	if diff := cmp.Diff(want, rep.Services); diff != "" {
		t.Errorf("report (-truth +got):\n%s", diff)
	}
	if got := rep.Services[1].Logs.Fields[4].Share; got < 0.65 || got > 0.75 {
		t.Errorf("orders' share of lines with a trace ID is %.3f, the fault takes it off 30 %%", got)
	}

	// the flow analyzer that read the same stream says the same live, and
	// counts the timestamps the stored records cannot show
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(res.Analyzer, metrics.Options{Instance: "a"}))
	live := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "flowlens_conformance_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				if l.GetName() != "instance" {
					ls = append(ls, l.GetValue())
				}
			}
			live[mf.GetName()+"/"+strings.Join(ls, "/")] = m.GetCounter().GetValue()
		}
	}
	wantLive := map[string]float64{
		"flowlens_conformance_log_records_total/front":                 float64(front),
		"flowlens_conformance_log_records_total/orders":                float64(orders),
		"flowlens_conformance_log_records_with_total/trace_id/orders":  float64(orders - untraced),
		"flowlens_conformance_log_records_with_total/trace_id/front":   float64(front),
		"flowlens_conformance_log_records_with_total/timestamp/orders": float64(orders),
		"flowlens_conformance_calls_total/both/front/client":           float64(toOrders),
		"flowlens_conformance_calls_total/one_side/front/client":       float64(toGeo),
		"flowlens_conformance_calls_total/both/orders/server":          float64(toOrders),
	}
	for k, v := range wantLive {
		if live[k] != v {
			t.Errorf("the analyzer's %s is %v, want %v", k, live[k], v)
		}
	}
}
