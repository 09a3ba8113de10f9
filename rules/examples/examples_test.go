// Package examples holds the shipped example rule files; its test plays the
// demo shop of `make run` through the real flow analyzer and rules engine.
package examples

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/flowlens/flowlens/loadtest"
	"github.com/flowlens/flowlens/loadtest/flowsim"
	"github.com/flowlens/flowlens/loadtest/topology"
	"github.com/flowlens/flowlens/rules/rulefile"
	"github.com/flowlens/flowlens/rules/ruletest"
)

const (
	shopRules = "shop-flows.yml"
	// demoRate is what `make run` sends: the default of `flowlens up --demo-rate`.
	demoRate = 20
	// scrapeEvery is how often `flowlens up` copies the analyzer's metrics
	// into the rules TSDB (rules/eval's default gather_interval).
	scrapeEvery = 15 * time.Second
	// evalEvery is the interval of the example file's group.
	evalEvery = 30 * time.Second
)

// shop is the demo shop (the topology `flowlens up --demo` plays) feeding
// the flow analyzer on simulated time (loadtest/flowsim), its metrics in a
// registry as `flowlens up` exposes them to its rules evaluator.
type shop struct {
	top *topology.Topology
	sim *flowsim.System
}

func newShop(t *testing.T, faults string, seed uint64) *shop {
	t.Helper()
	top, err := loadtest.LoadTopology("", faults) // "": the embedded shop, as in the demo
	if err != nil {
		t.Fatal(err)
	}
	sim, err := flowsim.New(flowsim.Options{Topology: top, Rate: demoRate, Seed: seed, Start: ruletest.Epoch, Instance: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	return &shop{top: top, sim: sim}
}

// runUntil plays the requests arriving before offset at and hands their
// spans to the analyzer, processed at at.
func (s *shop) runUntil(ctx context.Context, at time.Duration) error {
	return s.sim.RunUntil(ctx, ruletest.Epoch.Add(at))
}

// watched are the values the example rules judge. Their spread over a run
// is logged, so that a threshold can be set from the demo's own
// distribution: go test ./rules/examples -run Healthy -v -healthy-for 6h
var watched = []string{
	"flowlens:payments_per_checkout:ratio",
	"flowlens:orders_queue_delivery:ratio",
	"flowlens:gateway_checkout_p99:quantile",
	"flowlens:checkout_payments_errors:error_ratio",
	`max(flowlens_breaker_state{state="open"})`,
	`max(increase(flowlens_breaker_transitions_total{state="open"}[10m]))`,
}

var healthyFor = flag.Duration("healthy-for", 30*time.Minute, "how long to play the healthy demo shop, per seed")

// evaluation is what happened to the example rules over a run.
type evaluation struct {
	active map[string][]string               // alert name -> "state at offset (value, labels)"
	firing map[string]map[time.Duration]bool // alert name -> the offsets it was firing at
	values map[string][]float64              // watched query -> its values at every evaluation
	slower map[float64]float64               // bucket bound -> share of gateway->checkout requests slower
}

// evaluate plays the shop for d and evaluates the example rules every
// evalEvery, recording every pending or firing alert.
func evaluate(t *testing.T, s *shop, d time.Duration) evaluation {
	t.Helper()
	ctx := context.Background()
	sim, err := ruletest.NewSimulation(ruletest.SimConfig{RuleFiles: []string{shopRules}, EvalInterval: evalEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ev := evaluation{active: map[string][]string{}, firing: map[string]map[time.Duration]bool{}, values: map[string][]float64{}}
	query := func(q string, at time.Duration) promql.Vector {
		vec, err := sim.Query(ctx, q, at)
		if err != nil {
			t.Fatal(err)
		}
		return vec
	}
	run := func(at time.Duration) error { return s.runUntil(ctx, at) }
	if err := sim.Play(ctx, d, scrapeEvery, s.sim.Registry(), run, func(at time.Duration) {
		for _, a := range sim.Alerts() {
			ev.active[a.Name] = append(ev.active[a.Name], fmt.Sprintf("%s at %s (%.4g, %s)", a.State, at, a.Value, a.Labels))
			if a.State == "firing" {
				if ev.firing[a.Name] == nil {
					ev.firing[a.Name] = map[time.Duration]bool{}
				}
				ev.firing[a.Name][at] = true
			}
		}
		for _, q := range watched {
			for _, smp := range query(q, at) {
				ev.values[q] = append(ev.values[q], smp.F)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	buckets := query(`sum by (le) (traces_service_graph_request_server_seconds_bucket{client="gateway", server="checkout"})`, d)
	var total float64
	for _, b := range buckets {
		if b.Metric.Get("le") == "+Inf" {
			total = b.F
		}
	}
	ev.slower = map[float64]float64{}
	for _, b := range buckets {
		if le, err := strconv.ParseFloat(b.Metric.Get("le"), 64); err == nil && total > 0 && le >= 0.2 && le <= 2 {
			ev.slower[le] = 1 - b.F/total
		}
	}
	return ev
}

// logValues logs the spread of the watched values.
func (ev evaluation) logValues(t *testing.T) {
	t.Helper()
	for _, q := range watched {
		v := slices.Sorted(slices.Values(ev.values[q]))
		if len(v) == 0 {
			t.Logf("%s: never defined", q)
			continue
		}
		at := func(p float64) float64 { return v[int(p*float64(len(v)-1))] }
		t.Logf("%s: min %.4g, median %.4g, p99 %.4g, max %.4g (%d evaluations)", q, v[0], at(0.5), at(0.99), v[len(v)-1], len(v))
	}
	for _, le := range slices.Sorted(maps.Keys(ev.slower)) {
		t.Logf("gateway->checkout requests slower than %gs: %.3f%%", le, 100*ev.slower[le])
	}
}

// On the healthy demo of `make run`, no example rule is ever pending, let
// alone firing: a user's first look at `flowlens alerts` must not show a
// false alarm.
func TestExamplesSilentOnHealthyDemo(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			ev := evaluate(t, newShop(t, "", seed), *healthyFor)
			ev.logValues(t)
			for _, name := range slices.Sorted(maps.Keys(ev.active)) {
				t.Errorf("%s is active on the healthy demo: %s", name, strings.Join(ev.active[name], "; "))
			}
		})
	}
}

// Each example rule fires when the failure it watches for is injected into
// the demo, so the silence above is not that of rules that never fire.
func TestExamplesFireOnFaults(t *testing.T) {
	const faults = "testdata/faults.yaml"
	fires := map[string][]string{ // fault -> the example alerts it must fire
		"drop-orders":           {"OrdersQueueDelivery"},
		"slow-payments":         {"GatewayCheckoutP99"},
		"open-payments-breaker": {"BreakerOpen"},
		"payments-errors":       {"CheckoutPaymentsErrors", "PaymentsPerCheckout"},
		"payments-down":         {"BreakerOpenFlapping"},
	}
	s := newShop(t, faults, 3)
	var last time.Duration
	for _, f := range s.top.Faults {
		last = max(last, f.At+f.For)
	}
	// the rate window (5m) of each alert after the last fault ends
	ev := evaluate(t, s, last+10*time.Minute)
	ev.logValues(t)

	covered := map[string]bool{}
	for _, f := range s.top.Faults {
		want, ok := fires[f.Name]
		if !ok {
			t.Errorf("fault %s: no alert expected of it", f.Name)
		}
		// fired by this fault: not firing as it starts, firing before its
		// effect has left the 5m rate windows
		for _, name := range want {
			covered[name] = true
			fired := false
			for at := f.At + evalEvery; at <= f.At+f.For+5*time.Minute; at += evalEvery {
				fired = fired || ev.firing[name][at]
			}
			if ev.firing[name][f.At] || !fired {
				t.Errorf("fault %s (%s to %s) did not fire %s; it was active: %s", f.Name, f.At, f.At+f.For, name, strings.Join(ev.active[name], "; "))
			}
		}
	}
	for _, name := range alertNames(t) {
		if !covered[name] {
			t.Errorf("example alert %s: no fault of %s shows that it can fire", name, faults)
		}
	}
}

// alertNames are the alerts the example file compiles to.
func alertNames(t *testing.T) []string {
	t.Helper()
	groups, diags := rulefile.LoadFile(shopRules, rulefile.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	var names []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	return names
}
