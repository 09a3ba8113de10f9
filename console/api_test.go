package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/query"
)

// get asks the shop's console for path and decodes the JSON answer.
func (s *shop) get(t *testing.T, path string, v any) (int, http.Header) {
	t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %d %s: %v", path, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// The map's graph is the shop's: every edge of the truth with its
// requests, failures and retries, the queue's delivery ratio, the injected
// open breaker and the edges of firing alerts.
func TestGraphIsTheShop(t *testing.T) {
	s := theShop(t)
	var g query.Graph
	if code, _ := s.get(t, "/api/v1/graph?"+s.rangeQuery(), &g); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	want := map[string]gen.EdgeTruth{}
	for _, e := range s.Truth.Edges {
		k := e.Client + "->" + e.Server + "|" + e.ConnectionType
		w := want[k]
		w.Requests, w.Failed, w.Retries = w.Requests+e.Requests, w.Failed+e.Failed, w.Retries+e.Retries
		want[k] = w
	}
	got := map[string]query.Edge{}
	for _, e := range g.Edges {
		got[e.ID] = e
	}
	if len(got) != len(want) {
		t.Errorf("%d edges, the truth has %d", len(got), len(want))
	}
	for k, w := range want {
		e, ok := got[k]
		if !ok || e.Requests != w.Requests || e.Failed != w.Failed || e.Retries != w.Retries {
			t.Errorf("edge %s: %+v, truth %+v", k, e.Edge, w)
		}
	}
	q := s.Truth.Queue("orders")
	fulfil := got["checkout->fulfilment|"+flowmodel.ConnectionMessaging]
	if fulfil.DeliveryRatio == nil || math.Abs(*fulfil.DeliveryRatio-float64(q.Received["fulfilment"])/float64(q.Sent)) > 1e-9 {
		t.Errorf("orders delivery ratio %v, truth %d of %d", fulfil.DeliveryRatio, q.Received["fulfilment"], q.Sent)
	}
	if e := got["payments->payment-provider|virtual_node"]; e.BreakerState != "open" {
		t.Errorf("injected open breaker: %q", e.BreakerState)
	}
	if e := got["checkout->payments|"]; strings.Join(e.Alerts, ",") != "CheckoutPaymentsErrors" {
		t.Errorf("checkout->payments alerts %v", e.Alerts)
	}
	if len(g.Notices) != 0 {
		t.Errorf("notices %v", g.Notices)
	}
}

// Each queue of the shop, read back over the stored range: what was sent
// to it and what each consumer received, as the generator recorded them.
func TestDestinationsAreTheShopsQueues(t *testing.T) {
	s := theShop(t)
	var got []query.Destination
	if code, _ := s.get(t, "/api/v1/destinations?"+s.rangeQuery(), &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	byName := map[string]query.Destination{}
	for _, d := range got {
		byName[d.Name] = d
	}
	if len(s.Truth.Queues) == 0 {
		t.Fatal("the shop has no queue to check")
	}
	if len(got) != len(s.Truth.Queues) {
		t.Errorf("%d destinations, the shop has %d queues: %+v", len(got), len(s.Truth.Queues), got)
	}
	for _, q := range s.Truth.Queues {
		d, ok := byName[q.Destination]
		if !ok || d.Sent != q.Sent || len(d.Consumers) != len(q.Received) {
			t.Errorf("queue %s: %+v, truth sent %d received %v", q.Destination, d, q.Sent, q.Received)
			continue
		}
		for _, c := range d.Consumers {
			want := q.Received[c.Service]
			if c.Received != want || c.DeliveryRatio == nil || math.Abs(*c.DeliveryRatio-float64(want)/float64(q.Sent)) > 1e-9 {
				t.Errorf("queue %s, consumer %s: received %d (ratio %v), truth %d of %d", q.Destination, c.Service, c.Received, c.DeliveryRatio, want, q.Sent)
			}
		}
	}
}

// The rules watching an edge: those whose labels name it with their alerts
// about it first, then those that name no single flow.
func TestRulesWatchingAnEdge(t *testing.T) {
	s := theShop(t)
	var got struct {
		Configured bool                 `json:"configured"`
		Rules      []query.WatchingRule `json:"rules"`
	}
	s.get(t, "/api/v1/edges/checkout/payments/rules", &got)
	var names []string
	for _, r := range got.Rules {
		names = append(names, fmt.Sprintf("%s/%s/%d", r.Name, r.Scope, len(r.Alerts)))
	}
	if !got.Configured || strings.Join(names, " ") != "CheckoutPaymentsErrors/edge/1 BreakerOpen/all/0" || got.Rules[0].Expr == "" {
		t.Errorf("rules watching checkout -> payments: %v", names)
	}
	s.get(t, "/api/v1/edges/checkout/orders/rules?connection_type=virtual_node", &got)
	if len(got.Rules) == 0 || got.Rules[0].Name != "OrdersQueueDelivery" || len(got.Rules[0].Alerts) != 1 {
		t.Errorf("rules watching the undelivered orders: %+v", got.Rules)
	}
}

// The console is read-only, bounded and says what is wrong with a request;
// what it cannot answer does not leak its internals.
func TestRequestsThatAreRefused(t *testing.T) {
	s := theShop(t)
	for _, c := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"POST", "/api/v1/graph", http.StatusMethodNotAllowed, "read-only"},
		{"DELETE", "/map", http.StatusMethodNotAllowed, "read-only"},
		{"GET", "/api/v1/graph?services=x", http.StatusBadRequest, `unknown parameter`},
		{"GET", "/api/v1/graph?from=now-9000h", http.StatusBadRequest, "at most"},
		{"GET", "/api/v1/graph?from=now&to=now-1h", http.StatusBadRequest, "empty time range"},
		{"GET", "/api/v1/graph?depth=99", http.StatusBadRequest, "depth 99"},
		{"GET", "/api/v1/graph?depth=two", http.StatusBadRequest, "whole number"},
		{"GET", "/api/v1/series?metric=vibes", http.StatusBadRequest, "metric"},
		{"GET", "/api/v1/traces/" + url.PathEscape("' OR 1=1 --"), http.StatusBadRequest, "invalid trace ID"},
		{"GET", "/api/v1/traces/0123456789abcdef0123456789abcdef", http.StatusNotFound, "trace not found"},
		{"GET", "/api/v1/traces?min_duration=soon", http.StatusBadRequest, "minimum duration"},
		{"GET", "/api/v1/traces?limit=100000", http.StatusBadRequest, "limit"},
		{"GET", "/api/v1/logs?service=" + strings.Repeat("x", 2000), http.StatusBadRequest, "limit 1024"},
		{"GET", "/api/v1/conformance?target=1.5", http.StatusBadRequest, "target 1.5"},
		{"GET", "/api/v1/conformance?target=most", http.StatusBadRequest, "want a number"},
		{"GET", "/api/v1/conformance?fields=all", http.StatusBadRequest, "unknown parameter"},
		{"GET", "/api/v1/ledger?grace=soon", http.StatusBadRequest, "grace"},
		{"GET", "/api/v1/ledger?host=" + strings.Repeat("x", 2000), http.StatusBadRequest, "limit 1024"},
		{"GET", "/api/v1/catalog?compare_to=yesterday", http.StatusBadRequest, "compare_to"},
		{"GET", "/api/v1/catalog?service=" + strings.Repeat("x", 2000), http.StatusBadRequest, "limit 1024"},
		{"GET", "/api/v1/suggestions?window=90s", http.StatusBadRequest, "whole minutes"},
		{"GET", "/api/v1/suggestions?min_rate=-1", http.StatusBadRequest, "min_rate"},
		{"GET", "/api/v1/suggestions?from=now-400d", http.StatusBadRequest, "at most"},
		{"GET", "/api/v1/nothing", http.StatusNotFound, "no such API route"},
		{"GET", "/etc/passwd", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(c.method, s.base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, resp.StatusCode, body, c.status, c.want)
		}
	}
	// a hostile name is data: nothing found
	var cat query.CatalogAnswer
	if code, _ := s.get(t, "/api/v1/catalog?service="+url.QueryEscape("' OR 1=1 --")+"&"+s.rangeQuery(), &cat); code != http.StatusOK || len(cat.Services) != 0 {
		t.Errorf("hostile catalog entry: %d, %d services", code, len(cat.Services))
	}
	// a hostile name is data: no edges, and a notice saying so
	var g query.Graph
	s.get(t, "/api/v1/graph?service="+url.QueryEscape("' OR 1=1 --")+"&"+s.rangeQuery(), &g)
	if len(g.Edges) != 0 || len(g.Notices) != 1 {
		t.Errorf("hostile service: %d edges, notices %v", len(g.Edges), g.Notices)
	}
}

// Every answer carries a policy that lets the page run only its own
// scripts and styles, and the page names no address or credential.
func TestPageHeadersAndSecrets(t *testing.T) {
	s := theShop(t)
	for _, path := range []string{"/", "/map", "/traces/0123456789abcdef0123456789abcdef", "/api/v1/about", "/assets/app.js"} {
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: CSP %q, nosniff %q", path, csp, resp.Header.Get("X-Content-Type-Options"))
		}
		for _, secret := range []string{s.st.Database(), "127.0.0.1", "clickhouse"} {
			if path != "/assets/app.js" && strings.Contains(string(body), secret) {
				t.Errorf("%s names %q:\n%s", path, secret, body)
			}
		}
	}
}

// The console is a component: Shutdown is safe without Start and twice, an
// address in use fails Start, a bad setting fails New by name.
func TestLifecycle(t *testing.T) {
	s := theShop(t)
	ctx := context.Background()
	c, err := console.New(console.Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}}, console.Settings{Store: s.st})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown without Start: %v", err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	used := addrInUse(t)
	c, _ = console.New(console.Config{HTTP: listener.Config{Listen: used}}, console.Settings{Store: s.st})
	if err := c.Start(ctx); err == nil || !strings.Contains(err.Error(), used) {
		t.Errorf("Start on %s in use: %v", used, err)
	}
	for cfg, want := range map[console.Config]string{
		{HTTP: listener.Config{Listen: "nowhere"}}:                     "listen",
		{AnalyzerURL: "ftp://x"}:                                       "analyzer_url",
		{AlertsURL: "127.0.0.1:9095"}:                                  "alerts_url",
		{Timeout: 2 * time.Hour, HTTP: listener.Config{Listen: "off"}}: "timeout",
	} {
		if _, err := console.New(cfg, console.Settings{Store: s.st}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, want)
		}
	}
}

// The console takes the listener's TLS (mutual here) and bearer token like
// every flowlens listener, for its API, its page and its /metrics.
func TestListenerTLSAndToken(t *testing.T) {
	s := theShop(t)
	pki := listenertest.NewPKI(t)
	cfg := console.Config{HTTP: listener.Config{Listen: "127.0.0.1:0", TLS: pki.ServerTLS(true), Auth: listener.AuthConfig{Token: "s3cret"}}}
	c, err := console.New(cfg, console.Settings{Store: s.st})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	if !strings.HasPrefix(c.URL(), "https://") {
		t.Errorf("URL %s", c.URL())
	}
	for _, path := range []string{"/api/v1/about", "/", "/metrics"} {
		listenertest.CheckBearer(t, pki.Client(listenertest.WithCert), c.URL()+path, "s3cret", http.StatusOK)
		pki.CheckMutualTLS(t, c.URL()+path, "s3cret", http.StatusOK)
	}
}
