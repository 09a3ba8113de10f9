package console_test

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/oncetest"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// shop is the synthetic shop (storeload.LoadShop) stored in the embedded
// engine once per test process, with the flow analyzer's API over the
// analyzer that drew the graph (and one breaker injected open), the alerts
// API, and a console over them.
type shop struct {
	*storeload.Shop
	st      *storage.Store
	console *console.Console
	base    string // the console's URL
}

// injected is the breaker the analyzer says is open now, whatever the
// run left it in: payments' breaker towards the payment provider.
var injected = breaker.Key{Service: "payments", Target: "payment-provider"}

// openBreaker is the analyzer with the injected breaker open.
type openBreaker struct{ *flowgraph.Analyzer }

func (a openBreaker) Breakers() []breaker.Status {
	out := []breaker.Status{{Key: injected, State: breaker.Open, SinceNs: time.Now().Add(-time.Minute).UnixNano()}}
	for _, b := range a.Analyzer.Breakers() {
		if b.Key != injected {
			out = append(out, b)
		}
	}
	return out
}

// firing are the alerts the alerts API serves: one names an edge by the
// service-graph labels, one a queue by its destination, one is pending.
var firing = []alertapi.Alert{
	{Name: "CheckoutPaymentsErrors", State: "firing", Labels: map[string]string{"client": "checkout", "server": "payments"},
		Annotations: map[string]string{"summary": "12% of requests checkout->payments fail (threshold 0.1)"}, Value: 0.12, ActiveAt: time.Now().Add(-3 * time.Minute)},
	{Name: "OrdersQueueDelivery", State: "firing", Labels: map[string]string{"destination": "orders"}, Value: 0.7, ActiveAt: time.Now().Add(-5 * time.Minute)},
	{Name: "GatewayCheckoutP99", State: "pending", Labels: map[string]string{"client": "gateway", "server": "checkout"}, Value: 1.2, ActiveAt: time.Now().Add(-time.Minute)},
}

// rules are the rules behind them, and one quiet rule that names no flow.
var rules = []alertapi.Rule{
	{Name: "BreakerOpen", Expr: `max by (service, target) (flowlens_breaker_state{state="open"}) > 0`, For: "1m", State: "inactive", Health: "ok"},
	{Name: "CheckoutPaymentsErrors", Expr: "flowlens:checkout_payments_errors:error_ratio > 0.1", For: "2m",
		Labels: map[string]string{"client": "checkout", "server": "payments"}, State: "firing", Health: "ok"},
	{Name: "GatewayCheckoutP99", Expr: "flowlens:gateway_checkout_p99:quantile > 1", For: "2m",
		Labels: map[string]string{"client": "gateway", "server": "checkout"}, State: "pending", Health: "ok"},
	{Name: "OrdersQueueDelivery", Expr: "flowlens:orders_delivery:ratio < 0.999", For: "2m",
		Labels: map[string]string{"destination": "orders"}, State: "firing", Health: "ok"},
}

// alertSource is an evaluator's API: its alerts, with their rules'
// expressions, and its rules.
type alertSource []alertapi.Alert

func (a alertSource) Alerts() []alertapi.Alert {
	out := make([]alertapi.Alert, len(a))
	for i, x := range a {
		for _, r := range rules {
			if r.Name == x.Name {
				x.Expr = r.Expr
			}
		}
		out[i] = x
	}
	return out
}
func (alertSource) InvalidRules() []string { return nil }
func (alertSource) Rules() []alertapi.Rule { return rules }

var shared oncetest.Value[*shop]

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
	analyzer := httptest.NewServer(api.New(api.Options{Live: openBreaker{stored.Analyzer}}))
	alerts := httptest.NewServer(alertapi.Handler(alertSource(firing)))
	reader, err := readerStore(t, cfg)
	if err != nil {
		return nil, err
	}
	c, err := console.New(console.Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}, AnalyzerURL: analyzer.URL, AlertsURL: alerts.URL},
		console.Settings{Store: reader})
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return &shop{Shop: stored, st: st, console: c, base: c.URL()}, nil
}

// readerStore is cfg's database as the endpoint's reader sees it: what the
// console reads with in flowlens up.
func readerStore(t testing.TB, cfg storage.Config) (*storage.Store, error) {
	cfg.Username, cfg.Password = chtest.Login(t, chserver.RoleReader)
	cfg.SetDefaults()
	return storage.Open(context.Background(), cfg, zap.NewNop())
}

// rangeQuery is the shop's time range as the console's URLs take it.
func (s *shop) rangeQuery() string {
	return "from=" + s.From.Format(time.RFC3339) + "&to=" + s.To.Format(time.RFC3339)
}

// freeAddrInUse is an address something listens on for the test's life.
func addrInUse(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}
