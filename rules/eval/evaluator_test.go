package eval

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
	"github.com/flowlens/flowlens/internal/polltest"
	"github.com/flowlens/flowlens/rules/alertapi"
)

// breakerSystem is a registry exposing one breaker like flowgraph/metrics.
type breakerSystem struct {
	reg   *prometheus.Registry
	state *prometheus.GaugeVec
}

func newBreakerSystem(t *testing.T) *breakerSystem {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flowlens_breaker_state", Help: "h",
		ConstLabels: prometheus.Labels{"instance": "a"}}, []string{"service", "target", "state"})
	reg.MustRegister(g)
	return &breakerSystem{reg: reg, state: g}
}

func (b *breakerSystem) set(state string) {
	for _, s := range []string{"closed", "open", "half_open"} {
		v := 0.0
		if s == state {
			v = 1
		}
		b.state.WithLabelValues("checkout", "payments", s).Set(v)
	}
}

func testConfig(dir string) Config {
	return Config{
		RuleFiles: []string{"testdata/breaker.yml"}, DataDir: dir,
		Interval: 300 * time.Millisecond, GatherInterval: 100 * time.Millisecond, ResendDelay: 200 * time.Millisecond,
		HTTP: listener.Config{Listen: "127.0.0.1:0"},
	}
}

func startEvaluator(t *testing.T, cfg Config, g prometheus.Gatherer, log *zap.Logger) *Evaluator {
	t.Helper()
	e, err := New(cfg, Settings{Settings: component.Settings{Logger: log}, FlowMetrics: g})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

func find(alerts []alertapi.Alert, name, state string) *alertapi.Alert {
	for i := range alerts {
		if alerts[i].Name == name && alerts[i].State == state {
			return &alerts[i]
		}
	}
	return nil
}

// The valid rule of a partly broken file runs and fires; the API shows it
// and the problems; a firing alert is still firing, with the same start,
// after a restart.
func TestInvalidRulesSkippedAndStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	sys := newBreakerSystem(t)
	sys.set("open")
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	e := startEvaluator(t, testConfig(dir), sys.reg, log)

	polltest.Until(t, "BreakerOpen to fire", 10*time.Second, func() bool { return find(e.Alerts(), "BreakerOpen", "firing") != nil })
	first := *find(e.Alerts(), "BreakerOpen", "firing")
	if first.Labels["service"] != "checkout" || first.Labels["target"] != "payments" {
		t.Errorf("labels %v", first.Labels)
	}
	inv := strings.Join(e.InvalidRules(), "\n")
	for _, want := range []string{`breaker.yml:9:15: group "breakers": rule "Broken": could not parse expression`, `breaker.yml:13:24: group "breakers": rule "Same"`, "identical series"} {
		if !strings.Contains(inv, want) {
			t.Errorf("invalid rules lack %q:\n%s", want, inv)
		}
	}

	// the API
	srv := httptest.NewServer(e.Handler())
	data, err := alertapi.Fetch(context.Background(), srv.Client(), srv.URL)
	srv.Close()
	if err != nil {
		t.Fatal(err)
	}
	if find(data.Alerts, "BreakerOpen", "firing") == nil || len(data.InvalidRules) != 2 {
		t.Errorf("API: %+v", data)
	}
	// with the expression of its rule, and every rule that runs listed: what
	// the console shows as the rules watching a flow
	if a := find(data.Alerts, "BreakerOpen", "firing"); a == nil || !strings.Contains(a.Expr, "flowlens_breaker") {
		t.Errorf("the firing alert's expression: %+v", a)
	}
	var listed []string
	for _, r := range data.Rules {
		listed = append(listed, r.Name+"/"+r.State+"/"+r.Health)
		if r.Expr == "" {
			t.Errorf("rule %s without its expression", r.Name)
		}
	}
	if !slices.Contains(listed, "BreakerOpen/firing/ok") {
		t.Errorf("rules listed %v, want BreakerOpen firing", listed)
	}

	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)

	e2 := startEvaluator(t, testConfig(dir), sys.reg, log)
	defer e2.Shutdown(context.Background())
	// restored state is applied after the second evaluation
	polltest.Until(t, "BreakerOpen restored", 10*time.Second, func() bool {
		a := find(e2.Alerts(), "BreakerOpen", "firing")
		return a != nil && a.ActiveAt.Unix() == first.ActiveAt.Unix()
	})

	// and it resolves
	sys.set("closed")
	polltest.Until(t, "BreakerOpen to resolve", 10*time.Second, func() bool { return find(e2.Alerts(), "BreakerOpen", "resolved") != nil })
}

func TestRemoteQueryEndpoint(t *testing.T) {
	// a Prometheus-compatible API whose breaker is open
	var queries []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		queries = append(queries, r.Form.Get("query"))
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Form.Get("query"), "flowlens_breaker_state") {
			json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector",
				"result": []any{map[string]any{"metric": map[string]string{"service": "checkout", "target": "payments"}, "value": []any{1.7e9, "1"}}}}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": []any{}}})
	}))
	defer api.Close()
	cfg := testConfig(t.TempDir())
	cfg.QueryURL = api.URL
	e := startEvaluator(t, cfg, nil, zap.NewNop())
	defer e.Shutdown(context.Background())
	polltest.Until(t, "BreakerOpen to fire from the remote endpoint", 10*time.Second, func() bool { return find(e.Alerts(), "BreakerOpen", "firing") != nil })
}

// A pending alert keeps the pending time it accumulated before a restart
// (the downtime itself does not count, as in Prometheus).
func TestPendingStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	sys := newBreakerSystem(t)
	sys.set("open")
	cfg := testConfig(dir)
	cfg.RuleFiles = []string{"testdata/pending.yml"}
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	e := startEvaluator(t, cfg, sys.reg, log)
	polltest.Until(t, "BreakerOpen pending", 10*time.Second, func() bool { return find(e.Alerts(), "BreakerOpen", "pending") != nil })
	time.Sleep(3 * time.Second)
	pendingFor := time.Since(find(e.Alerts(), "BreakerOpen", "pending").ActiveAt)
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	restart := time.Now()
	e2 := startEvaluator(t, cfg, sys.reg, log)
	defer e2.Shutdown(context.Background())
	// after the restore (second evaluation) the alert is pending since
	// before the restart
	polltest.Until(t, "pending state restored", 10*time.Second, func() bool {
		a := find(e2.Alerts(), "BreakerOpen", "pending")
		return a != nil && restart.Sub(a.ActiveAt) >= pendingFor-1500*time.Millisecond
	})
}

// The evaluator serves its alerts and its own metrics (notifications,
// gathers, the TSDB's) on one listener, with the listener's TLS and bearer
// token like every flowlens listener.
func TestServesAlertsAndMetrics(t *testing.T) {
	pki := listenertest.NewPKI(t)
	sys := newBreakerSystem(t)
	cfg := testConfig(t.TempDir())
	cfg.HTTP.TLS = pki.ServerTLS(true)
	cfg.HTTP.Auth.Token = "s3cret"
	e := startEvaluator(t, cfg, sys.reg, zap.NewNop())
	defer e.Shutdown(context.Background())
	client := pki.Client(listenertest.WithCert)
	for _, path := range []string{alertapi.Path, "/metrics"} {
		listenertest.CheckBearer(t, client, e.URL()+path, "s3cret", http.StatusOK)
		pki.CheckMutualTLS(t, e.URL()+path, "s3cret", http.StatusOK)
	}
	req, _ := http.NewRequest(http.MethodGet, e.URL()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"flowlens_rules_gathered_samples", "flowlens_rules_invalid", "prometheus_tsdb_head_series"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := listenertest.Get(client, e.URL()+"/metrics", "s3cret"); err == nil {
		t.Errorf("the alerts API still answers after Shutdown")
	}
}

// The component contract: Shutdown is safe without Start and twice, for
// the evaluator and its notifier.
func TestShutdownWithoutStart(t *testing.T) {
	e, err := New(testConfig(t.TempDir()), Settings{FlowMetrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := e.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown (%d): %v", i, err)
		}
	}
	if e.URL() != "" {
		t.Errorf("an evaluator never started serves at %q", e.URL())
	}
}
