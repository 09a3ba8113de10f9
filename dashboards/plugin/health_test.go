package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/porttest"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/storage"
)

// CheckHealth names what is wrong, one failure mode at a time, and what it
// checked when all is well.
func TestCheckHealthSaysWhatIsWrong(t *testing.T) {
	s := theShop(t)
	closed := porttest.Refused(t) // nothing listens there
	fresh := chtest.Database(t)
	with := func(mod func(c *settings)) settings {
		c := s.full()
		mod(&c)
		return c
	}
	all, err := storage.Migrations(storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	latest := fmt.Sprintf("schema version %d", all[len(all)-1].Version)
	for _, tc := range []struct {
		name string
		cfg  settings
		ok   bool
		want []string
	}{
		{"everything reachable", s.full(), true, []string{"Connected to ClickHouse at " + s.addr, "database " + s.st.Database(),
			latest, "flow analyzer at " + s.analyzer.URL, "alerts at " + s.alerts.URL}},
		{"clickhouse only", s.clickhouseOnly(), true, []string{"Connected to ClickHouse"}},
		{"address as a URL", with(func(c *settings) { c.JSON["address"] = "http://" + s.addr }), true, []string{"Connected to ClickHouse"}},
		{"bad address setting", with(func(c *settings) { c.JSON["address"] = "no port here" }), false,
			[]string{"settings", "address", "no port here"}},
		{"bad analyzer URL setting", with(func(c *settings) { c.JSON["analyzerUrl"] = "ftp://x" }), false,
			[]string{"settings", "analyzerUrl"}},
		{"engine unreachable", with(func(c *settings) { c.JSON["address"] = closed }), false,
			[]string{"ClickHouse at " + closed + " is unreachable"}},
		{"wrong password", with(func(c *settings) {
			c.Secure = map[string]string{"username": s.login["username"], "password": "guess"}
		}), false, []string{"refused the credentials of user \"" + s.login["username"] + "\"", "AUTHENTICATION_FAILED"}},
		{"no credentials", with(func(c *settings) { c.Secure = nil }), false, []string{"refused the credentials of user \"default\""}},
		{"database missing", with(func(c *settings) { c.JSON["database"] = "no_such_db" }), false,
			[]string{`database "no_such_db" does not exist`, "flowlens migrate"}},
		{"schema missing", with(func(c *settings) { c.JSON["database"] = fresh }), false,
			[]string{"lacks schema versions 1 (otel_traces)", "7 (flow_edges hourly tier)", "8 (flow_edges 10-minute, 6-hour and daily tiers)", "flowlens migrate"}},
		{"analyzer unreachable", with(func(c *settings) { c.JSON["analyzerUrl"] = "http://" + closed }), false,
			[]string{"flow analyzer API at http://" + closed + " is unreachable"}},
		{"alerts API unreachable", with(func(c *settings) { c.JSON["alertsUrl"] = "http://" + closed }), false,
			[]string{"alerts API at http://" + closed + " is unreachable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.checkHealth(t, tc.cfg)
			if (res.Status == backend.HealthStatusOk) != tc.ok {
				t.Fatalf("status %v, want ok=%v: %s", res.Status, tc.ok, res.Message)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Message, w) {
					t.Errorf("message %q does not say %q", res.Message, w)
				}
			}
			var details struct {
				Checks []plugin.HealthCheck `json:"checks"`
			}
			if err := json.Unmarshal(res.JSONDetails, &details); err != nil || len(details.Checks) == 0 {
				t.Fatalf("details %s: %v", res.JSONDetails, err)
			}
			if last := details.Checks[len(details.Checks)-1]; last.OK != tc.ok {
				t.Errorf("last check %+v", last)
			}
		})
	}
}

// A query through unusable settings fails with the same clear message and
// a status that puts the fault on the user's side.
func TestQueriesReportSettingsAndConnectionErrors(t *testing.T) {
	s := theShop(t)
	closed := porttest.Refused(t)
	for _, tc := range []struct {
		name   string
		cfg    settings
		status backend.Status
		want   string
	}{
		{"bad setting", settings{JSON: map[string]any{"address": "x", "timeoutSeconds": 5}}, backend.StatusBadRequest, "address"},
		{"unreachable", settings{JSON: map[string]any{"address": closed, "timeoutSeconds": 5}}, backend.StatusBadGateway, "is unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.query(t, tc.cfg, plugin.Query{QueryType: plugin.QueryNodeGraph})
			if r.Error == nil || r.Status != tc.status || !strings.Contains(r.Error.Error(), tc.want) {
				t.Errorf("status %d, error %v; want %d and %q", r.Status, r.Error, tc.status, tc.want)
			}
		})
	}
	// A new query of a panel has no query type: it draws the graph.
	r := s.query(t, s.clickhouseOnly(), plugin.Query{})
	if r.Error != nil || len(r.Frames) != 2 {
		t.Errorf("query without a type: %v, %d frames", r.Error, len(r.Frames))
	}
	r = s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: "flames"})
	if r.Error == nil || r.Status != backend.StatusBadRequest || !strings.Contains(r.Error.Error(), `unknown query type "flames"`) {
		t.Errorf("unknown query type: %d %v", r.Status, r.Error)
	}
}

// When a data source's settings change (Grafana sends a newer Updated), the
// SDK's instance manager builds a new instance from them: the next query
// reads the database the settings now name.
func TestChangedSettingsTakeEffect(t *testing.T) {
	s := theShop(t)
	pc := s.clickhouseOnly().pluginContext()
	q, _ := json.Marshal(plugin.Query{QueryType: plugin.QueryServices})
	services := func(pc backend.PluginContext) int {
		t.Helper()
		resp, err := s.plugin.Client.QueryData(context.Background(), &backend.QueryDataRequest{PluginContext: pc,
			Queries: []backend.DataQuery{{RefID: "A", QueryType: plugin.QueryServices, JSON: q,
				TimeRange: backend.TimeRange{From: s.from, To: s.to}}}})
		if err != nil || resp.Responses["A"].Error != nil {
			t.Fatalf("services: %v %v", err, resp.Responses["A"].Error)
		}
		return resp.Responses["A"].Frames[0].Rows()
	}
	if n := services(pc); n == 0 {
		t.Fatal("no services in the shop's database")
	}
	// the same data source, now pointing at an empty, migrated database
	empty := storetest.Migrated(t).Database()
	changed := pc
	ds := *pc.DataSourceInstanceSettings
	ds.JSONData, _ = json.Marshal(map[string]any{"address": s.addr, "database": empty})
	ds.Updated = ds.Updated.Add(time.Minute)
	changed.DataSourceInstanceSettings = &ds
	if n := services(changed); n != 0 {
		t.Errorf("after the settings changed: %d services, want those of the empty database", n)
	}
}
