package plugin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	sdklog "github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental/datasourcetest"

	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/oncetest"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) {
	sdklog.DefaultLogger = sdklog.NewWithLevel(sdklog.Warn) // the SDK logs every request at debug
	os.Exit(chtest.Main(m))
}

// shop is the synthetic shop (loadtest's generator, with the standard
// fault schedule) stored in the embedded engine once per test process,
// with the plugin served over gRPC as Grafana serves it, the flow
// analyzer's API over the analyzer that drew the graph, and the alerts API.
type shop struct {
	addr     string            // of the engine
	login    map[string]string // its reader, as Grafana's secureJsonData holds it
	st       *storage.Store
	res      *storeload.Result
	from, to time.Time // a range holding the whole run
	analyzer *httptest.Server
	alerts   *httptest.Server
	plugin   datasourcetest.TestPlugin
}

var shared oncetest.Value[*shop]

// firing are the alerts the alerts API serves: one names an edge by the
// service-graph labels, one by a breaker's labels, one is pending.
var firing = []alertapi.Alert{
	{Name: "CheckoutPaymentsErrors", State: "firing", Labels: map[string]string{"client": "checkout", "server": "payments"}},
	{Name: "BreakerOpen", State: "firing", Labels: map[string]string{"service": "checkout", "target": "payments"}},
	{Name: "GatewayCheckoutP99", State: "pending", Labels: map[string]string{"client": "gateway", "server": "checkout"}},
}

type alertSource []alertapi.Alert

func (a alertSource) Alerts() []alertapi.Alert { return a }
func (alertSource) InvalidRules() []string     { return nil }

func theShop(t *testing.T) *shop {
	t.Helper()
	return shared.Get(t, "shop fixture", func() (*shop, error) { return loadShop(t) })
}

func loadShop(t *testing.T) (*shop, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := storage.Config{Addr: chtest.Addr(t), Database: chtest.Database(t)}
	cfg.Username, cfg.Password = chtest.Admin(t)
	st, stored, err := storeload.StoreShop(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res := stored.Result
	user, password := chtest.Login(t, chserver.RoleReader)
	s := &shop{addr: chtest.Addr(t), login: map[string]string{"username": user, "password": password},
		st: st, res: res, from: stored.From, to: stored.To}
	s.analyzer = httptest.NewServer(api.New(api.Options{Live: res.Analyzer}))
	s.alerts = httptest.NewServer(alertapi.Handler(alertSource(firing)))
	s.plugin = pluginServer(t)
	return s, nil
}

// served is the plugin's gRPC server of this test process: the SDK's test
// server registers process-wide metrics, so there is one, and every data
// source (one per UID) is an instance of it.
var served oncetest.Value[datasourcetest.TestPlugin]

func pluginServer(t testing.TB) datasourcetest.TestPlugin {
	t.Helper()
	return served.Get(t, "serve the plugin", func() (datasourcetest.TestPlugin, error) {
		return datasourcetest.Manage(plugin.NewDatasource, datasourcetest.ManageOpts{Address: freeAddr(t)})
	})
}

// freeAddr is a port found free, for the SDK's test server, which binds the
// address it is given itself and can be started only once per process (it
// registers process-wide metrics), so neither a porttest listener nor a
// retry can be handed to it. Addresses that must refuse connections are
// porttest.Refused.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// settings is a data source's configuration as Grafana stores it.
type settings struct {
	JSON   map[string]any
	Secure map[string]string
}

// full is the shop's data source with every API configured.
func (s *shop) full() settings {
	return settings{JSON: map[string]any{"address": s.addr, "database": s.st.Database(),
		"analyzerUrl": s.analyzer.URL, "alertsUrl": s.alerts.URL}, Secure: s.login}
}

// clickhouseOnly is the shop's data source without the live APIs.
func (s *shop) clickhouseOnly() settings {
	return settings{JSON: map[string]any{"address": s.addr, "database": s.st.Database()}, Secure: s.login}
}

// pluginContext is what Grafana sends with each call. Instances are keyed
// by UID, so each distinct configuration gets its own UID.
func (c settings) pluginContext() backend.PluginContext {
	b, _ := json.Marshal(c.JSON)
	sec, _ := json.Marshal(c.Secure)
	h := sha256.Sum256(append(b, sec...))
	uid := "flowlens-" + hex.EncodeToString(h[:6])
	return backend.PluginContext{OrgID: 1, PluginID: plugin.ID, DataSourceInstanceSettings: &backend.DataSourceInstanceSettings{
		UID: uid, Name: "flowlens", Type: plugin.ID, JSONData: b, DecryptedSecureJSONData: c.Secure, Updated: time.Unix(1, 0)}}
}

func (s *shop) checkHealth(t *testing.T, c settings) *backend.CheckHealthResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := s.plugin.Client.CheckHealth(ctx, &backend.CheckHealthRequest{PluginContext: c.pluginContext()})
	if err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	return res
}

// query runs one query of the shop's time range through the plugin.
func (s *shop) query(t *testing.T, c settings, q plugin.Query) backend.DataResponse {
	t.Helper()
	return s.queryRange(t, c, q, s.from, s.to, 1000)
}

func (s *shop) queryRange(t *testing.T, c settings, q plugin.Query, from, to time.Time, maxPoints int64) backend.DataResponse {
	t.Helper()
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := s.plugin.Client.QueryData(ctx, &backend.QueryDataRequest{PluginContext: c.pluginContext(),
		Queries: []backend.DataQuery{{RefID: "A", QueryType: q.QueryType, JSON: b, MaxDataPoints: maxPoints,
			Interval: time.Minute, TimeRange: backend.TimeRange{From: from, To: to}}}})
	if err != nil {
		t.Fatalf("QueryData: %v", err)
	}
	r, ok := resp.Responses["A"]
	if !ok {
		t.Fatal("no response for refId A")
	}
	return r
}

// resource calls CallResource as the frontend's getResource does.
func (s *shop) resource(t *testing.T, c settings, path string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, _ := url.Parse(path)
	var got *backend.CallResourceResponse
	err := s.plugin.Client.CallResource(ctx, &backend.CallResourceRequest{PluginContext: c.pluginContext(),
		Path: strings.TrimPrefix(u.Path, "/"), Method: http.MethodGet, URL: path},
		backend.CallResourceResponseSenderFunc(func(r *backend.CallResourceResponse) error {
			if got == nil {
				got = r
			} else {
				got.Body = append(got.Body, r.Body...)
			}
			return nil
		}))
	if err != nil {
		t.Fatalf("CallResource %s: %v", path, err)
	}
	return got.Status, got.Body
}

// fieldTypes lists a frame's fields as name:type.
func fieldTypes(f *data.Frame) []string {
	var out []string
	for _, fl := range f.Fields {
		out = append(out, fl.Name+":"+fl.Type().ItemTypeString())
	}
	return out
}

func column[T any](t *testing.T, f *data.Frame, name string) []T {
	t.Helper()
	fl, _ := f.FieldByName(name)
	if fl == nil {
		t.Fatalf("frame %s has no field %s (fields %v)", f.Name, name, fieldTypes(f))
	}
	out := make([]T, fl.Len())
	for i := range out {
		v, ok := fl.At(i).(T)
		if !ok {
			t.Fatalf("field %s holds %T, want %T", name, fl.At(i), *new(T))
		}
		out[i] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
