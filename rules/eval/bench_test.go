package eval

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/flowlens/flowlens/rules/rulefile"
)

const (
	benchServices = 100
	benchEdges    = 2000
	benchStep     = 15 * time.Second
	benchSpan     = 30 * time.Minute
)

func benchEdge(e int) (string, string) {
	c := e % benchServices
	s := (c + 1 + e/benchServices) % benchServices
	return fmt.Sprintf("svc-%d", c), fmt.Sprintf("svc-%d", s)
}

// benchRules writes 1,000 shorthand rules in 10 groups: 400 ratios, 300
// error ratios, 200 latency thresholds, 100 breakers.
func benchRules(t testing.TB, dir string) string {
	var b strings.Builder
	b.WriteString("groups:\n")
	for g := 0; g < 10; g++ {
		fmt.Fprintf(&b, "  - name: g%d\n    rules:\n", g)
		for i := 0; i < 100; i++ {
			n := g*100 + i
			switch {
			case n < 400:
				c1, s1 := benchEdge(n)
				c2, s2 := benchEdge(n + 1000)
				fmt.Fprintf(&b, "      - ratio: {name: R%d, numerator: %s->%s, denominator: %s->%s, expected: 1, tolerance: 0.05}\n", n, c1, s1, c2, s2)
			case n < 700:
				c, s := benchEdge(n)
				fmt.Fprintf(&b, "      - errors: {name: E%d, edge: %s->%s, threshold: 0.05}\n", n, c, s)
			case n < 900:
				c, s := benchEdge(n)
				fmt.Fprintf(&b, "      - latency: {name: L%d, edge: %s->%s, threshold: 500ms}\n", n, c, s)
			default:
				fmt.Fprintf(&b, "      - breaker: {name: B%d, service: svc-%d, target: svc-%d}\n", n, n%benchServices, (n+1)%benchServices)
			}
		}
	}
	p := filepath.Join(dir, "bench.yml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var benchBounds = []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"}

// benchSeries appends 30 minutes of 15s samples for 2,000 edges (requests,
// failures, 9 buckets and a count each) and 100 breakers.
func benchSeries(t testing.TB, db *tsdb.DB) (end time.Time, series int) {
	type ser struct {
		ls   labels.Labels
		rate float64 // per step
	}
	var ss []ser
	for e := 0; e < benchEdges; e++ {
		c, s := benchEdge(e)
		edge := func(name string, extra ...string) labels.Labels {
			return labels.FromStrings(append([]string{"__name__", name, "client", c, "server", s, "connection_type", "", "instance", "a"}, extra...)...)
		}
		reqs := float64(10 + e%50)
		ss = append(ss, ser{edge("traces_service_graph_request_total"), reqs}, ser{edge("traces_service_graph_request_failed_total"), reqs / 100})
		for i, le := range benchBounds {
			ss = append(ss, ser{edge("traces_service_graph_request_server_seconds_bucket", "le", le), reqs * float64(i+1) / float64(len(benchBounds))})
		}
		ss = append(ss, ser{edge("traces_service_graph_request_server_seconds_count"), reqs})
	}
	for k := 0; k < benchServices; k++ {
		for _, st := range []string{"closed", "open", "half_open"} {
			v := 0.0
			if st == "closed" {
				v = 1
			}
			ss = append(ss, ser{labels.FromStrings("__name__", "flowlens_breaker_state", "service", fmt.Sprintf("svc-%d", k),
				"target", fmt.Sprintf("svc-%d", (k+1)%benchServices), "state", st, "instance", "a"), -v})
		}
	}
	start := time.Unix(1_700_000_000, 0)
	steps := int(benchSpan / benchStep)
	for i := 0; i <= steps; i++ {
		app := db.Appender(context.Background())
		ts := start.Add(time.Duration(i) * benchStep).UnixMilli()
		for _, s := range ss {
			v := s.rate * float64(i)
			if s.rate <= 0 { // gauge
				v = -s.rate
			}
			if _, err := app.Append(0, s.ls, ts, v); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return start.Add(time.Duration(steps) * benchStep), len(ss)
}

// BenchmarkEvaluate1000RulesOver2000Edges: one evaluation of every group
// (what happens each interval), one core, after loading 30 minutes of the
// flow metrics of 2,000 edges.
func BenchmarkEvaluate1000RulesOver2000Edges(b *testing.B) {
	dir := b.TempDir()
	db, err := tsdb.Open(filepath.Join(dir, "tsdb"), promslog.NewNopLogger(), nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	end, nseries := benchSeries(b, db)
	file := benchRules(b, dir)
	engine := promql.NewEngine(promql.EngineOpts{Logger: promslog.NewNopLogger(), MaxSamples: 50_000_000, Timeout: time.Minute})
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc: rules.EngineQueryFunc(engine, db), AppendableV2: db, Queryable: db,
		Context: context.Background(), NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
		Logger: promslog.NewNopLogger(), GroupLoader: rulefile.Loader{Strict: true},
	})
	groups, errs := m.LoadGroups(30*time.Second, labels.EmptyLabels(), "", nil, false, file)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	promRules := 0
	for _, g := range groups {
		promRules += len(g.Rules())
	}
	ctx := context.Background()
	// warm up: the first evaluation creates the recorded series
	at := end.Add(-4 * time.Minute)
	for _, g := range groups {
		g.Eval(ctx, at)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := float64(ms.HeapInuse) / (1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at = at.Add(100 * time.Millisecond)
		for _, g := range groups {
			g.Eval(ctx, at)
			for _, r := range g.Rules() {
				if err := r.LastError(); err != nil {
					b.Fatalf("%s: %v", r.Name(), err)
				}
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(heap, "heap-MB")
	b.ReportMetric(float64(nseries), "input-series")
	b.ReportMetric(float64(promRules), "prom-rules")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/interval")
}
