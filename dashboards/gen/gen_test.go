package gen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/prometheus/prometheus/promql/parser"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/dashboards/gen"
	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/storage"
)

var update = flag.Bool("update", false, "rewrite dashboards/json from the generator")

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

const jsonDir = "../json"

// The committed JSON is what the generator makes (go test ./dashboards/gen
// -update rewrites it), and nothing else is in the folder.
func TestDashboardsGolden(t *testing.T) {
	ds, err := gen.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := gen.Write(jsonDir); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, d := range ds {
		want = append(want, d.File)
		got, err := gen.JSON(d.Board)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join(jsonDir, d.File))
		if err != nil {
			t.Fatalf("%v (run go test ./dashboards/gen -run TestDashboardsGolden -update)", err)
		}
		if !bytes.Equal(got, committed) {
			t.Errorf("dashboards/json/%s differs from the generator; review and run with -update", d.File)
		}
	}
	files, _ := filepath.Glob(filepath.Join(jsonDir, "*.json"))
	for _, f := range files {
		if !slices.Contains(want, filepath.Base(f)) {
			t.Errorf("dashboards/json/%s is not generated", filepath.Base(f))
		}
	}
}

// loaded is a committed dashboard read back through the foundation SDK's types.
type loaded struct {
	file string
	raw  []byte
	d    dashboard.Dashboard
}

func loadAll(t *testing.T) []loaded {
	t.Helper()
	gen.Register()
	files, err := filepath.Glob(filepath.Join(jsonDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", jsonDir, err)
	}
	var out []loaded
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// json.Unmarshal, as the SDK's README does: its strict reader (v0.0.22)
		// drops every panel (a nil cog.BuildErrors returned as an error).
		// Writing the dashboard again must give the same bytes: nothing is lost.
		var d dashboard.Dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s does not load through the SDK's types: %v", f, err)
		}
		out = append(out, loaded{filepath.Base(f), raw, d})
	}
	return out
}

// The JSON loads back into the SDK's typed dashboard (queries typed by their
// data source) and writes out the same.
func TestDashboardsLoadBack(t *testing.T) {
	for _, l := range loadAll(t) {
		again, err := gen.JSON(l.d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, l.raw) {
			t.Errorf("%s: loading and writing it again changes it", l.file)
		}
	}
}

func variables(d dashboard.Dashboard) map[string]dashboard.VariableModel {
	out := map[string]dashboard.VariableModel{}
	for _, v := range d.Templating.List {
		out[v.Name] = v
	}
	return out
}

func panels(d dashboard.Dashboard) []*dashboard.Panel {
	var out []*dashboard.Panel
	for _, p := range d.Panels {
		if p.Panel != nil {
			out = append(out, p.Panel)
		}
		if p.RowPanel != nil {
			for i := range p.RowPanel.Panels {
				out = append(out, &p.RowPanel.Panels[i])
			}
		}
	}
	return out
}

var varRef = regexp.MustCompile(`^\$\{([a-z_]+)\}$`)

// Every panel (and every query) names a data source through a data source
// variable of the plugin type it is written for; every query is of a type
// that data source answers.
func TestEveryPanelHasAKnownDataSourceAndQueryType(t *testing.T) {
	known := []string{gen.FlowlensType, gen.ClickHouseType, gen.PrometheusType}
	panelTypes := []string{"nodeGraph", "table", "timeseries", "state-timeline", "logs", "traces"}
	for _, l := range loadAll(t) {
		vars := variables(l.d)
		ps := panels(l.d)
		if len(ps) == 0 {
			t.Errorf("%s has no panels", l.file)
		}
		for _, p := range ps {
			title := l.file + ": " + deref(p.Title)
			if !slices.Contains(panelTypes, p.Type) {
				t.Errorf("%s: panel type %q", title, p.Type)
			}
			if p.Datasource == nil || p.Datasource.Type == nil || !slices.Contains(known, *p.Datasource.Type) {
				t.Errorf("%s: data source %+v", title, p.Datasource)
				continue
			}
			typ := *p.Datasource.Type
			m := varRef.FindStringSubmatch(deref(p.Datasource.Uid))
			if m == nil {
				t.Errorf("%s: data source uid %q is not a variable", title, deref(p.Datasource.Uid))
				continue
			}
			if v, ok := vars[m[1]]; !ok || v.Type != "datasource" || v.Query == nil || deref(v.Query.String) != typ {
				t.Errorf("%s: variable %s is not a data source variable of type %s", title, m[1], typ)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", title)
			}
			for _, q := range p.Targets {
				switch q := q.(type) {
				case gen.FlowlensQuery:
					if typ != gen.FlowlensType || !slices.Contains(plugin.QueryTypes, q.QueryType) {
						t.Errorf("%s: flowlens query type %q on a %s panel", title, q.QueryType, typ)
					}
				case gen.ClickHouseQuery:
					if f, ok := gen.ClickHouseFormats[q.QueryType]; typ != gen.ClickHouseType || !ok || f != q.Format || q.EditorType != "sql" {
						t.Errorf("%s: ClickHouse query %s/%d/%s on a %s panel", title, q.QueryType, q.Format, q.EditorType, typ)
					}
				case *prometheus.Dataquery:
					if typ != gen.PrometheusType {
						t.Errorf("%s: Prometheus query on a %s panel", title, typ)
					}
					if _, err := parser.NewParser(parser.Options{}).ParseExpr(substitute(q.Expr)); err != nil {
						t.Errorf("%s: PromQL %q: %v", title, q.Expr, err)
					}
				default:
					t.Errorf("%s: query of type %T", title, q)
				}
			}
		}
	}
}

// Every variable is used somewhere outside the variable list.
func TestEveryVariableIsUsed(t *testing.T) {
	for _, l := range loadAll(t) {
		var doc map[string]any
		if err := json.Unmarshal(l.raw, &doc); err != nil {
			t.Fatal(err)
		}
		templating := doc["templating"]
		delete(doc, "templating")
		rest, _ := json.Marshal(doc)
		// variables may use each other (server's query names $client)
		lists, _ := json.Marshal(templating)
		for name := range variables(l.d) {
			used := regexp.MustCompile(`\$\{?` + name + `\b`)
			if !used.Match(rest) && !used.Match(bytes.ReplaceAll(lists, []byte(`"name":"`+name+`"`), nil)) {
				t.Errorf("%s: variable %s is never used", l.file, name)
			}
		}
	}
}

// substitute replaces Grafana's macros and the dashboards' variables with
// values, as Grafana would before a query runs.
func substitute(s string) string {
	timeFilter := regexp.MustCompile(`\$__timeFilter\((\w+)\)`)
	s = timeFilter.ReplaceAllString(s, "$1 >= now() - INTERVAL 1 HOUR AND $1 <= now()")
	return strings.NewReplacer(
		"$__rate_interval", "5m", "$__range", "1h",
		"${service:sqlstring}", "'checkout'", "${trace_id:sqlstring}", "'0123456789abcdef0123456789abcdef'",
		"$service", "checkout", "$client", "gateway", "$server", "checkout", "$trace_id", "0123456789abcdef0123456789abcdef",
	).Replace(s)
}

// Every query runs: the flowlens queries through the plugin, the
// ClickHouse SQL on the engine, over flowlens's schema.
func TestEveryQueryRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := storage.Config{Addr: chtest.Addr(t), Database: chtest.Database(t)}
	cfg.Username, cfg.Password = chtest.Admin(t)
	cfg.SetDefaults()
	if err := storage.MigrateAs(ctx, cfg, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	// Grafana reads as the reader, through the plugin and its SQL alike.
	cfg.Username, cfg.Password = chtest.Login(t, chserver.RoleReader)
	st, err := storage.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	settings, _ := json.Marshal(map[string]any{"address": cfg.Addr, "database": cfg.Database})
	inst, err := plugin.NewDatasource(ctx, backend.DataSourceInstanceSettings{UID: "flowlens", JSONData: settings,
		DecryptedSecureJSONData: map[string]string{"username": cfg.Username, "password": cfg.Password}})
	if err != nil {
		t.Fatal(err)
	}
	ds := inst.(*plugin.Datasource)
	defer ds.Dispose()
	now := time.Now()
	for _, l := range loadAll(t) {
		for _, p := range panels(l.d) {
			title := l.file + ": " + deref(p.Title)
			for _, q := range p.Targets {
				switch q := q.(type) {
				case gen.FlowlensQuery:
					raw, _ := json.Marshal(q.Query)
					resp, err := ds.QueryData(ctx, &backend.QueryDataRequest{Queries: []backend.DataQuery{{RefID: q.RefID,
						QueryType: q.QueryType, JSON: []byte(substitute(string(raw))), MaxDataPoints: 500, Interval: time.Minute,
						TimeRange: backend.TimeRange{From: now.Add(-time.Hour), To: now}}}})
					if err != nil {
						t.Fatalf("%s: %v", title, err)
					}
					r := resp.Responses[q.RefID]
					// an empty database has no trace; there is no alerts API here
					if r.Error != nil && r.Status != backend.StatusNotFound && q.QueryType != plugin.QueryAlerts {
						t.Errorf("%s: %s query: %v", title, q.QueryType, r.Error)
					}
				case gen.ClickHouseQuery:
					sql := strings.ReplaceAll(substitute(q.RawSQL), "${database}", "`"+cfg.Database+"`")
					rows, err := st.Conn().Query(ctx, sql)
					if err != nil {
						t.Errorf("%s: SQL does not run: %v\n%s", title, err, sql)
						continue
					}
					rows.Close()
				}
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
