package ruletest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// A synthetic checkout system sampled every 30s: gateway -> checkout ->
// payments, checkout -> orders queue -> billing -> ledger (almost no
// traffic), and a breaker checkout -> payments. Knobs inject faults.
type system struct {
	steps      int
	step       time.Duration
	dropFrom   int     // from this step the queue loses dropShare of messages
	dropShare  float64 // 0.05 = 5 %
	slowFrom   int     // from this step gateway->checkout latency is slowBy times higher
	slowBy     float64
	openFrom   int // from this step the breaker checkout->payments is open
	ledgerRate float64
}

func newSystem(d time.Duration) *system {
	step := 30 * time.Second
	n := int(d / step)
	return &system{steps: n, step: step, dropFrom: n + 1, slowFrom: n + 1, openFrom: n + 1, ledgerRate: 1.0 / 60, slowBy: 1}
}

var bounds = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

func join(vals []float64) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = fmt.Sprintf("%g", v)
	}
	return strings.Join(s, " ")
}

func (sy *system) series() []Series {
	rng := rand.New(rand.NewPCG(1, 2))
	per := sy.step.Seconds()
	n := sy.steps + 1
	var (
		gw, pay, sent, recv, led, ledFail = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		buckets                           = make([][]float64, len(bounds)+1)
		count                             = make([]float64, n)
		brkOpen, brkClosed, brkTrans      = make([]float64, n), make([]float64, n), make([]float64, n)
	)
	for b := range buckets {
		buckets[b] = make([]float64, n)
	}
	var c struct{ gw, pay, sent, recv, led, ledFail, count, trans float64 }
	var cb = make([]float64, len(bounds)+1)
	ledAcc := 0.0
	for i := 0; i < n; i++ {
		if i > 0 {
			// 8 to 12 orders a second, each paid once and queued once
			orders := math.Round(per * (8 + 4*rng.Float64()))
			c.gw += orders
			c.pay += orders
			c.sent += orders
			if i >= sy.dropFrom {
				c.recv += math.Round(orders * (1 - sy.dropShare))
			} else {
				c.recv += orders
			}
			ledAcc += sy.ledgerRate * per
			for ledAcc >= 1 {
				ledAcc--
				c.led++
				c.ledFail++ // the few ledger calls all fail: too little traffic to judge
			}
			for k := 0; k < int(orders); k++ {
				lat := 0.08 * math.Exp(0.3*rng.NormFloat64())
				if i >= sy.slowFrom {
					lat *= sy.slowBy
				}
				for b, ub := range bounds {
					if lat <= ub {
						cb[b]++
					}
				}
				cb[len(bounds)]++
				c.count++
			}
			if i == sy.openFrom {
				c.trans++
			}
		}
		gw[i], pay[i], sent[i], recv[i], led[i], ledFail[i], count[i] = c.gw, c.pay, c.sent, c.recv, c.led, c.ledFail, c.count
		for b := range cb {
			buckets[b][i] = cb[b]
		}
		if i >= sy.openFrom {
			brkOpen[i], brkClosed[i] = 1, 0
		} else {
			brkOpen[i], brkClosed[i] = 0, 1
		}
		brkTrans[i] = c.trans
	}
	edge := func(metric, client, server string) string {
		return fmt.Sprintf(`%s{client=%q,server=%q,connection_type="",instance="a"}`, metric, client, server)
	}
	out := []Series{
		{edge("traces_service_graph_request_total", "gateway", "checkout"), join(gw)},
		{edge("traces_service_graph_request_failed_total", "gateway", "checkout"), join(make([]float64, n))},
		{edge("traces_service_graph_request_total", "checkout", "payments"), join(pay)},
		{edge("traces_service_graph_request_total", "billing", "ledger"), join(led)},
		{edge("traces_service_graph_request_failed_total", "billing", "ledger"), join(ledFail)},
		{edge("traces_service_graph_request_server_seconds_count", "gateway", "checkout"), join(count)},
		{`flowlens_flow_messages_sent_total{service="checkout",destination="orders",instance="a"}`, join(sent)},
		{`flowlens_flow_messages_received_total{service="billing",destination="orders",instance="a"}`, join(recv)},
		{`flowlens_breaker_state{service="checkout",target="payments",state="open",instance="a"}`, join(brkOpen)},
		{`flowlens_breaker_state{service="checkout",target="payments",state="closed",instance="a"}`, join(brkClosed)},
		{`flowlens_breaker_transitions_total{service="checkout",target="payments",state="open",instance="a"}`, join(brkTrans)},
	}
	for b := range buckets {
		le := "+Inf"
		if b < len(bounds) {
			le = fmt.Sprintf("%g", bounds[b])
		}
		out = append(out, Series{
			strings.TrimSuffix(edge("traces_service_graph_request_server_seconds_bucket", "gateway", "checkout"), "}") + fmt.Sprintf(",le=%q}", le),
			join(buckets[b]),
		})
	}
	return out
}

func (sy *system) run(t *testing.T) Timeline {
	t.Helper()
	sim, err := NewSimulation(SimConfig{
		RuleFiles: []string{"testdata/scenario_rules.yml"}, Series: sy.series(),
		SeriesInterval: sy.step, EvalInterval: sy.step,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	tl, err := sim.Run(context.Background(), time.Duration(sy.steps)*sy.step)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestSteadyTrafficFiresNothing(t *testing.T) {
	sy := newSystem(30 * time.Minute)
	tl := sy.run(t)
	for name, at := range tl.FirstFiring {
		t.Errorf("%s fired at %s on steady traffic: %v", name, at, tl.Fired[name])
	}
}

func TestQueueDropFiresWithinForPlusOneInterval(t *testing.T) {
	sy := newSystem(45 * time.Minute)
	sy.dropFrom, sy.dropShare = 60, 0.05 // from 30m on
	tl := sy.run(t)
	dropAt := time.Duration(sy.dropFrom) * sy.step
	at, ok := tl.FirstFiring["OrdersQueueDelivery"]
	if !ok {
		t.Fatalf("a 5%% queue drop did not fire OrdersQueueDelivery; fired: %v", tl.FirstFiring)
	}
	limit := dropAt + 2*time.Minute + sy.step // for + one evaluation interval
	t.Logf("drop at %s, fired at %s (limit %s)", dropAt, at, limit)
	if at > limit {
		t.Errorf("fired at %s, later than for + one interval after the drop (%s)", at, limit)
	}
	if at < dropAt {
		t.Errorf("fired at %s, before the drop at %s", at, dropAt)
	}
	assertOnly(t, tl, "OrdersQueueDelivery")
}

func TestLatencyStepFiresLatencyRules(t *testing.T) {
	sy := newSystem(45 * time.Minute)
	sy.slowFrom, sy.slowBy = 70, 4 // from 35m, 4 times slower
	tl := sy.run(t)
	for _, name := range []string{"GatewayCheckoutP99Drift"} {
		at, ok := tl.FirstFiring[name]
		if !ok {
			t.Fatalf("latency step did not fire %s; fired: %v", name, tl.FirstFiring)
		}
		t.Logf("%s fired at %s (step at 35m): %v", name, at, tl.Fired[name][0].Annotations.Get("summary"))
	}
	assertOnly(t, tl, "GatewayCheckoutP99Drift", "GatewayCheckoutP99")
}

func TestOpenBreakerFires(t *testing.T) {
	sy := newSystem(10 * time.Minute)
	sy.openFrom = 10 // from 5m
	tl := sy.run(t)
	at, ok := tl.FirstFiring["BreakerOpen"]
	if !ok {
		t.Fatalf("open breaker did not fire; fired: %v", tl.FirstFiring)
	}
	if want := 5*time.Minute + time.Minute; at < want || at > want+sy.step {
		t.Errorf("BreakerOpen fired at %s, want %s (open at 5m, for 1m)", at, want)
	}
	a := tl.Fired["BreakerOpen"][0]
	if a.Labels.Get("service") != "checkout" || a.Labels.Get("target") != "payments" {
		t.Errorf("labels %s", a.Labels)
	}
	assertOnly(t, tl, "BreakerOpen")
}

func TestNearZeroTrafficServiceFiresNothing(t *testing.T) {
	// billing -> ledger: one call a minute, every one failing and none
	// reaching the audit service: the error and ratio rules must not judge
	// it
	sy := newSystem(30 * time.Minute)
	tl := sy.run(t)
	for _, name := range []string{"LedgerErrors", "AuditPerLedgerCall"} {
		if at, ok := tl.FirstFiring[name]; ok {
			t.Errorf("%s fired at %s on a service with almost no traffic", name, at)
		}
	}
}

func assertOnly(t *testing.T, tl Timeline, allowed ...string) {
	t.Helper()
	for name := range tl.FirstFiring {
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			t.Errorf("%s fired too, at %s", name, tl.FirstFiring[name])
		}
	}
}
