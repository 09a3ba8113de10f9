package plugin_test

import (
	"reflect"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowlens/flowlens/dashboards/plugin"
)

// The rules evaluator's alerts as a table, firing first; a state filters.
func TestAlertsQuery(t *testing.T) {
	s := theShop(t)
	r := s.query(t, s.full(), plugin.Query{QueryType: plugin.QueryAlerts})
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	f := r.Frames[0]
	want := []string{"state:string", "alertname:string", "labels:string", "value:float64", "activeAt:time.Time", "summary:string"}
	if got := fieldTypes(f); !reflect.DeepEqual(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	if got := column[string](t, f, "alertname"); !reflect.DeepEqual(got, []string{"BreakerOpen", "CheckoutPaymentsErrors", "GatewayCheckoutP99"}) {
		t.Errorf("alerts %v", got)
	}
	if got := column[string](t, f, "labels"); got[0] != `{service="checkout", target="payments"}` {
		t.Errorf("labels %v", got)
	}
	r = s.query(t, s.full(), plugin.Query{QueryType: plugin.QueryAlerts, Status: "pending"})
	if got := column[string](t, r.Frames[0], "alertname"); !reflect.DeepEqual(got, []string{"GatewayCheckoutP99"}) {
		t.Errorf("pending alerts %v", got)
	}
	r = s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryAlerts})
	if r.Error == nil || r.Status != backend.StatusBadRequest {
		t.Errorf("alerts without an alerts API: %d %v", r.Status, r.Error)
	}
}
