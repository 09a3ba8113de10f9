package eval

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/metrics"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/rules/gather"
	"github.com/flowlens/flowlens/rules/rulefile"
)

// hxFlow is one run of the flow analyzer as flowgraph/metrics reads it:
// hx-orders sends to hx-invoices and hx-billing consumes 21 messages of
// every 22; the 22nd is never consumed and ends on the virtual edge
// hx-orders -> hx-invoices. Its counters start at 0 with the run.
type hxFlow struct {
	started time.Time
	mu      sync.Mutex
	bursts  uint64
}

// burst counts 22 messages sent and 21 received.
func (f *hxFlow) burst() {
	f.mu.Lock()
	f.bursts++
	f.mu.Unlock()
}

func (f *hxFlow) Edges() []edges.Edge {
	f.mu.Lock()
	n := f.bursts
	f.mu.Unlock()
	if n == 0 {
		return nil
	}
	return []edges.Edge{
		{Client: "hx-orders", Server: "hx-billing", Destination: "hx-invoices", Conn: flowmodel.ConnMessaging,
			Counters: edges.Counters{Requests: 21 * n, Sent: 21 * n, Received: 21 * n}},
		{Client: "hx-orders", Server: "hx-invoices", Destination: "hx-invoices", Conn: flowmodel.ConnVirtualNode,
			Counters: edges.Counters{Requests: n, Unpaired: n, Sent: n}},
	}
}

func (f *hxFlow) Breakers() []breaker.Status   { return nil }
func (f *hxFlow) SelfStats() metrics.SelfStats { return metrics.SelfStats{} }
func (f *hxFlow) Started() time.Time           { return f.started }

// steppedRules is the evaluator's local mode on a simulated clock: the same
// TSDB (openTSDB) and copier as Evaluator.Start, and the rules engine's
// groups evaluated at given times instead of on tickers.
type steppedRules struct {
	t      *testing.T
	db     *tsdb.DB
	copier *gather.Copier
	groups []*rules.Group
}

func startSteppedRules(t *testing.T, cfg Config, g prometheus.Gatherer) *steppedRules {
	t.Helper()
	cfg.SetDefaults()
	db, err := openTSDB(cfg, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	engine := promql.NewEngine(promql.EngineOpts{Logger: promslog.NewNopLogger(), MaxSamples: 50_000_000, Timeout: time.Minute})
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc: rules.EngineQueryFunc(engine, db), AppendableV2: db, Queryable: db,
		Context: context.Background(), NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
		Logger: promslog.NewNopLogger(), GroupLoader: rulefile.Loader{Strict: true},
	})
	groups, errs := m.LoadGroups(cfg.Interval, labels.EmptyLabels(), "", nil, false, cfg.RuleFiles...)
	if len(errs) > 0 {
		db.Close()
		t.Fatal(errs)
	}
	s := &steppedRules{t: t, db: db, copier: gather.NewCopier(g, db)}
	for _, g := range groups {
		s.groups = append(s.groups, g)
	}
	return s
}

func (s *steppedRules) gather(at time.Time) {
	s.t.Helper()
	if _, err := s.copier.Copy(context.Background(), at.UnixMilli()); err != nil {
		s.t.Fatal(err)
	}
}

// eval evaluates every group at at and returns the values of the active
// (pending or firing) alerts named name.
func (s *steppedRules) eval(at time.Time, name string) []float64 {
	s.t.Helper()
	var active []float64
	for _, g := range s.groups {
		g.Eval(context.Background(), at)
		for _, r := range g.Rules() {
			if err := r.LastError(); err != nil {
				s.t.Fatalf("rule %s: %v", r.Name(), err)
			}
			if ar, ok := r.(*rules.AlertingRule); ok && ar.Name() == name {
				for _, a := range ar.ActiveAlerts() {
					active = append(active, a.Value)
				}
			}
		}
	}
	return active
}

// history is every sample of the series named metric, "value@seconds since
// epoch" ("stale@s" for a stale marker), in time order.
func (s *steppedRules) history(metric string, epoch time.Time) string {
	s.t.Helper()
	q, err := s.db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		s.t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, metric))
	var out []string
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			ts, v := it.At()
			at := time.UnixMilli(ts).Sub(epoch).Seconds()
			if value.IsStaleNaN(v) {
				out = append(out, fmt.Sprintf("stale@%g", at))
			} else {
				out = append(out, fmt.Sprintf("%g@%g", v, at))
			}
		}
	}
	if err := set.Err(); err != nil {
		s.t.Fatal(err)
	}
	return strings.Join(out, " ")
}

func (s *steppedRules) stop() {
	if err := s.db.Close(); err != nil {
		s.t.Fatal(err)
	}
}

// The scenario of issue 14, on a simulated clock: the flow analyzer is
// gathered every 15 s and the rules evaluated right after; a burst of 22
// messages sent and 21 received follows each gather. `flowlens up` starts
// fresh, counts one burst and restarts (analyzer and evaluator, the TSDB
// kept). Then the analyzer alone restarts, as with `flowlens rules
// --scrape`, and is gathered once before the flow comes back (the evaluator
// marks its series stale). Each time the new run's counters come back to
// exactly the old values. Last, the evaluator alone restarts while the
// analyzer keeps counting. At every evaluation from the first burst on, the
// alert must be active (pending: the rule's `for` has not passed yet) with
// the true ratio 21/22 as its value, and the TSDB must hold the counters'
// true history: from 0 at each analyzer start, with no reset where there
// was none.
func TestRatioJudgedFromFirstBurstAndAcrossRestarts(t *testing.T) {
	for _, mode := range []string{"in-process", "scraped"} {
		t.Run(mode, func(t *testing.T) { testRatioAcrossRestarts(t, mode == "scraped") })
	}
}

func testRatioAcrossRestarts(t *testing.T, scraped bool) {
	const (
		alert = "HxBillingReceivesInvoices"
		want  = 21.0 / 22
	)
	step := 15 * time.Second
	epoch := time.Now().Truncate(time.Minute) // under the TSDB's retention
	var now time.Time
	clock := func() time.Time { return now }
	cfg := Config{RuleFiles: []string{"testdata/hx_ratio.yml"}, DataDir: t.TempDir(), Interval: step}

	// the evaluator gathers whichever analyzer runs: its registry, or the
	// /metrics page at the same address
	var reg atomic.Pointer[prometheus.Registry]
	var gatherer prometheus.Gatherer = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return reg.Load().Gather() })
	if scraped {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			promhttp.HandlerFor(reg.Load(), promhttp.HandlerOpts{}).ServeHTTP(w, r)
		}))
		defer srv.Close()
		gatherer = ScrapeGatherer{URL: srv.URL}
	}
	startAnalyzer := func() *hxFlow {
		flow := &hxFlow{started: now}
		r := prometheus.NewRegistry()
		r.MustRegister(metrics.New(flow, metrics.Options{Instance: "hx", Now: clock}))
		reg.Store(r)
		return flow
	}

	type slot struct {
		analyzer  string // "start": a new run starts; "stop": the run ends after this slot
		evaluator string // "start", "stop", or "down"
		burst     bool   // a burst follows the gather
	}
	script := []slot{
		0:  {analyzer: "start", evaluator: "start", burst: true}, // fresh instance; first burst
		1:  {analyzer: "stop", evaluator: "stop"},                // `flowlens up` restarts
		2:  {evaluator: "down"},
		3:  {analyzer: "start", evaluator: "start", burst: true},
		4:  {analyzer: "stop"}, // 22 and 21 again; the analyzer alone restarts
		5:  {analyzer: "start", burst: true},
		6:  {burst: true},                    // 22 and 21 again
		7:  {evaluator: "stop", burst: true}, // the evaluator alone restarts
		8:  {evaluator: "down", burst: true},
		9:  {evaluator: "start", burst: true},
		10: {burst: true},
		11: {},
	}
	var (
		flow   *hxFlow
		ev     *steppedRules
		judged bool
	)
	for i, s := range script {
		now = epoch.Add(time.Duration(i) * step)
		if s.analyzer == "start" {
			flow = startAnalyzer()
		}
		if s.evaluator == "start" {
			ev = startSteppedRules(t, cfg, gatherer)
		}
		if s.evaluator != "down" {
			ev.gather(now)
			active := ev.eval(now, alert)
			switch {
			case judged && len(active) == 0:
				t.Errorf("at %s: no %s alert: the flow was not judged", now.Sub(epoch), alert)
			case len(active) > 1:
				t.Errorf("at %s: %d %s alerts: %v", now.Sub(epoch), len(active), alert, active)
			case len(active) == 1 && math.Abs(active[0]-want) > 1e-9:
				t.Errorf("at %s: %s has value %.4g, the true ratio is %.4g", now.Sub(epoch), alert, active[0], want)
			}
		}
		if s.burst {
			flow.burst()
			judged = true // from the next gather on, there is always a burst in the window
		}
		if s.analyzer == "stop" {
			flow = nil
		}
		if s.evaluator == "stop" {
			ev.stop()
		}
	}
	history := ev.history("flowlens_flow_messages_sent_total", epoch) + " | " + ev.history("flowlens_flow_messages_received_total", epoch)
	ev.stop()
	// 0 just after each run's start (the reset), before its first count;
	// nothing at 120 s, while the evaluator was down
	wantHistory := "0@0.001 22@15 0@45.001 22@60 stale@75 0@75.001 22@90 44@105 88@135 110@150 132@165 | " +
		"0@0.001 21@15 0@45.001 21@60 stale@75 0@75.001 21@90 42@105 84@135 105@150 126@165"
	if history != wantHistory {
		t.Errorf("messages sent | received, value@seconds, as the rules see them:\n got %s\nwant %s", history, wantHistory)
	}
}
