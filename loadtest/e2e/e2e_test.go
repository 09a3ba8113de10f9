// Package e2e runs the synthetic shop through the whole one-machine pipeline
// (agent -> broker -> collector -> ClickHouse, and the flow analyzer) and
// checks what a user would: every span and log stored exactly once, traces
// complete with their logs, and the rolled-up graph equal to what was sent.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/allinone"
	"github.com/flowlens/flowlens/allinone/faultinject"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/loadtest"
	"github.com/flowlens/flowlens/loadtest/gen"
)

// The engine supports one data folder per process: every test here shares
// one, each with its own database.
var engineDir string

func TestMain(m *testing.M) { os.Exit(chtest.MainWithEngineDir(m, &engineDir)) }

type run struct {
	p      *allinone.Pipeline
	faults *faultinject.Injector
	logDir string
	db     string
}

func startPipeline(t *testing.T, db string) *run {
	t.Helper()
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs")
	cfg := allinone.Config{DataDir: dir}
	cfg.ClickHouse = chserver.Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}, DataDir: engineDir}
	cfg.Storage.Database = db
	cfg.Broker.Addr = "127.0.0.1:0"
	cfg.Collector.HTTP.Listen = listener.Off
	cfg.Flowgraph.HTTP.Listen = "127.0.0.1:0"
	cfg.Flowgraph.Instance = "e2e"
	cfg.Flowgraph.Store.Wait = 3 * time.Second
	cfg.Flowgraph.Rollup.FlushInterval = 5 * time.Second
	cfg.Agent.HostName = "e2e-host"
	cfg.Agent.OTLP.GRPC.Listen = "127.0.0.1:0"
	cfg.Agent.OTLP.HTTP.Listen = "127.0.0.1:0"
	cfg.Agent.Metrics.Listen = listener.Off
	cfg.Rules.RuleFiles = []string{"../../rules/examples/shop-flows.yml"}
	cfg.Rules.HTTP.Listen = "127.0.0.1:0"
	cfg.Console.HTTP.Listen = "127.0.0.1:0"
	src := demoSource(logDir)
	cfg.Agent.Files = append(cfg.Agent.Files, src)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	faults := &faultinject.Injector{}
	p, err := allinone.New(cfg, allinone.Settings{Logger: log, Faults: faults})
	if err != nil {
		t.Fatalf("pipeline config: %v", err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatalf("start pipeline: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &run{p: p, faults: faults, logDir: logDir, db: db}
}

// generate plays the shop with the standard fault schedule for a minute of
// synthetic time, flat out, into the pipeline's agent.
func (r *run) generate(t *testing.T, seed uint64, rate float64) *gen.Truth {
	t.Helper()
	cfg := loadtest.Config{
		Rate: rate, Duration: time.Minute, Seed: seed, NoPacing: true,
		Faults: "../testdata/faults.yaml", LogDir: r.logDir, LogsPerSpan: 1, ProgressInterval: -1,
	}
	cfg.OTLP.Endpoint = r.p.Addrs().AgentOTLP.GRPC
	cfg.SetDefaults()
	truth, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatalf("synthetic system: %v", err)
	}
	t.Logf("sent %d requests, %d spans, %d logs (run %s)", truth.Requests, truth.Spans, truth.Logs, truth.RunID)
	return truth
}

type seqCount struct{ rows, distinct, max uint64 }

func (c seqCount) exact(n uint64) bool { return c.rows == n && c.distinct == n && c.max == n }

func (r *run) spanSeqs(t *testing.T, runID string) seqCount {
	return r.count(t, `SELECT count(), uniqExact(SpanAttributes['flowlens.seq']), max(toUInt64OrZero(SpanAttributes['flowlens.seq']))
		FROM `+r.db+`.otel_traces WHERE ResourceAttributes['flowlens.run'] = {run:String}`, runID)
}

func (r *run) logSeqs(t *testing.T, runID string) seqCount {
	return r.count(t, `SELECT count(), uniqExact(LogAttributes['seq']), max(toUInt64OrZero(LogAttributes['seq']))
		FROM `+r.db+`.otel_logs WHERE LogAttributes['flowlens.run'] = {run:String}`, runID)
}

func (r *run) count(t *testing.T, q, runID string) seqCount {
	t.Helper()
	var c seqCount
	ctx := context.Background()
	row := r.p.Store().Conn().QueryRow(ctx, q, storageNamed("run", runID)...)
	if err := row.Scan(&c.rows, &c.distinct, &c.max); err != nil {
		t.Fatalf("count: %v", err)
	}
	return c
}

// waitStored waits until every span and log of the run is stored, and fails
// at once on a duplicate.
func (r *run) waitStored(t *testing.T, truth *gen.Truth, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, l := r.spanSeqs(t, truth.RunID), r.logSeqs(t, truth.RunID)
		if s.rows > s.distinct || l.rows > l.distinct {
			t.Fatalf("duplicates stored: spans %+v, logs %+v", s, l)
		}
		if s.exact(truth.Spans) && l.exact(truth.Logs) {
			t.Logf("stored exactly once: %d spans, %d logs", s.rows, l.rows)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: spans %+v of %d, logs %+v of %d", timeout, s, truth.Spans, l, truth.Logs)
		}
		time.Sleep(time.Second)
	}
}

// logsByTrace reads the log files the agent tailed: span IDs and log count per trace.
func (r *run) logsByTrace(t *testing.T) map[string]map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(r.logDir, "*.log"))
	out := map[string]map[string]int{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var rec struct {
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.TraceID == "" {
				continue
			}
			if out[rec.TraceID] == nil {
				out[rec.TraceID] = map[string]int{}
			}
			out[rec.TraceID][rec.SpanID]++
		}
		fh.Close()
	}
	return out
}

// checkTraces looks up n distinct random traces by ID: every span of the
// trace (each span writes a log line, so the log files name them all) and
// its logs.
func (r *run) checkTraces(t *testing.T, n int) {
	t.Helper()
	byTrace := r.logsByTrace(t)
	ids := make([]string, 0, len(byTrace))
	for id := range byTrace {
		ids = append(ids, id)
	}
	if len(ids) < n {
		t.Fatalf("the log files name %d traces, want at least %d to look up", len(ids), n)
	}
	sort.Strings(ids)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, i := range rng.Perm(len(ids))[:n] {
		id := ids[i]
		tr, err := r.p.Store().GetTrace(context.Background(), id)
		if err != nil {
			t.Fatalf("trace %s: %v", id, err)
		}
		want := byTrace[id]
		wantLogs := 0
		for _, c := range want {
			wantLogs += c
		}
		got := map[string]bool{}
		for _, s := range tr.Spans {
			got[s.SpanID] = true
		}
		if len(tr.Spans) != len(want) || len(tr.Logs) != wantLogs {
			t.Fatalf("trace %s: %d spans and %d logs, want %d and %d", id, len(tr.Spans), len(tr.Logs), len(want), wantLogs)
		}
		for sid := range want {
			if !got[sid] {
				t.Fatalf("trace %s lacks span %s", id, sid)
			}
		}
	}
}

type edgeKey struct{ client, server, conn string }
type edgeCounts struct{ requests, failed, retries uint64 }

// graph waits for the analyzer's rollups of the run and returns them summed
// per edge.
func (r *run) graph(t *testing.T, truth *gen.Truth, want map[edgeKey]edgeCounts, timeout time.Duration) (map[edgeKey]edgeCounts, []flowmodel.EdgeAggregate) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		aggs, err := r.p.Store().QueryEdges(context.Background(), truth.Start.Add(-time.Hour), truth.End.Add(time.Hour), "")
		if err != nil {
			t.Fatalf("query edges: %v", err)
		}
		got := map[edgeKey]edgeCounts{}
		for _, a := range aggs {
			got[edgeKey{a.Client, a.Server, a.ConnectionType}] = edgeCounts{a.Requests, a.Failed, a.Retries}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			return got, aggs
		}
		time.Sleep(2 * time.Second)
	}
}

func truthEdges(truth *gen.Truth) map[edgeKey]edgeCounts {
	want := map[edgeKey]edgeCounts{}
	for _, e := range truth.Edges {
		k := edgeKey{e.Client, e.Server, e.ConnectionType}
		c := want[k]
		c.requests += e.Requests
		c.failed += e.Failed
		c.retries += e.Retries
		want[k] = c
	}
	return want
}

func TestShopThroughThePipeline(t *testing.T) {
	r := startPipeline(t, "e2e_steady")
	truth := r.generate(t, 11, 30)
	r.waitStored(t, truth, 3*time.Minute)
	r.checkTraces(t, 20)

	want := truthEdges(truth)
	got, aggs := r.graph(t, truth, want, 2*time.Minute)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("edge %v: graph %+v, truth %+v", k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("graph edge %v %+v is not in the truth", k, g)
		}
	}
	checkQueueAndBreaker(t, truth, aggs)
	checkCallRatios(t, truth, got)
	checkAlertsAPI(t, r.p)
}

// checkAlertsAPI: the shop's rule file loads whole, and its alerts are
// served where `flowlens alerts` reads them.
func checkAlertsAPI(t *testing.T, p *allinone.Pipeline) {
	t.Helper()
	if bad := p.Rules().InvalidRules(); len(bad) > 0 {
		t.Errorf("shop rules skipped: %v", bad)
	}
	resp, err := http.Get("http://" + p.Addrs().Alerts + "/api/v1/alerts")
	if err != nil {
		t.Fatalf("alerts API: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Alerts []json.RawMessage `json:"alerts"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		t.Fatalf("alerts API answered %s", resp.Status)
	}
}

// checkCallRatios compares the graph with the topology itself: every edge the
// topology implies is drawn, with calls per root request near the topology's
// mean (faults and retries move some; the tolerance is statistical).
func checkCallRatios(t *testing.T, truth *gen.Truth, got map[edgeKey]edgeCounts) {
	t.Helper()
	perRequest := map[edgeKey]float64{}
	for _, e := range truth.Expected {
		perRequest[edgeKey{e.Client, e.Server, e.ConnectionType}] += e.PerRequest
	}
	for k, want := range perRequest {
		g, ok := got[k]
		if !ok {
			t.Errorf("topology edge %v is missing from the graph", k)
			continue
		}
		ratio := float64(g.requests) / float64(truth.Requests)
		// a binomial count over ~1,800 requests: 5 standard errors, plus
		// the share the fault schedule moves (a minute with ~10 s faults)
		tol := 5*math.Sqrt(want/float64(truth.Requests)) + 0.25*want
		if math.Abs(ratio-want) > tol {
			t.Errorf("edge %v: %.3f calls per request, topology says %.3f (tolerance %.3f)", k, ratio, want, tol)
		}
	}
}

// checkQueueAndBreaker: the injected queue drop shows as a received/sent
// ratio below 1 on the queue's edges, equal to the truth's; the forced-open
// breaker shows on its edge.
func checkQueueAndBreaker(t *testing.T, truth *gen.Truth, aggs []flowmodel.EdgeAggregate) {
	t.Helper()
	q := truth.Queue("orders")
	if q == nil || q.Dropped == 0 {
		t.Fatalf("the truth has no drops on the orders queue: %+v", q)
	}
	var truthReceived uint64
	for _, n := range q.Received {
		truthReceived += n
	}
	// A dropped message is a producer span with no consumer: a virtual edge
	// to the destination. The producer's delivered messages are on its
	// messaging edges. received/sent of the producer must be the truth's.
	var producer string
	var dropped uint64
	for _, a := range aggs {
		if a.Server == q.Destination && a.ConnectionType == "virtual_node" {
			producer, dropped = a.Client, a.MessagesSent
		}
	}
	var sent, received uint64
	for _, a := range aggs {
		if a.Client == producer && a.MessagesSent > 0 {
			sent += a.MessagesSent
			if a.ConnectionType == "messaging_system" {
				received += a.MessagesReceived
			}
		}
	}
	t.Logf("orders queue: truth sent %d dropped %d received %d; graph: producer %q sent %d received %d (ratio %.3f)",
		q.Sent, q.Dropped, truthReceived, producer, sent, received, float64(received)/float64(max(sent, 1)))
	if producer == "" || dropped != q.Dropped || sent != q.Sent || received != truthReceived {
		t.Errorf("the queue drop is not what was injected: graph sent %d dropped %d received %d, truth %d/%d/%d",
			sent, dropped, received, q.Sent, q.Dropped, truthReceived)
	}
	var open uint64
	for _, a := range aggs {
		if a.Client == "checkout" && a.Server == "payments" {
			open += a.Breaker.Open
		}
	}
	if open == 0 {
		t.Errorf("the forced-open breaker checkout -> payments is not in the graph")
	}
}

// The same with the collector killed once (no flush, no commit) and the
// broker stopped for 20 s in the middle: the agent buffers on disk, the
// collector's successor redoes the uncommitted batches under the same dedup
// tokens, and every sequence number is still stored exactly once.
func TestShopSurvivesCollectorKillAndBrokerOutage(t *testing.T) {
	r := startPipeline(t, "e2e_faults")
	type result struct {
		truth *gen.Truth
		err   error
	}
	done := make(chan result, 1)
	go func() {
		cfg := loadtest.Config{
			Rate: 30, Duration: 40 * time.Second, Seed: 12,
			Faults: "../testdata/faults.yaml", LogDir: r.logDir, LogsPerSpan: 1, ProgressInterval: -1,
		}
		cfg.OTLP.Endpoint = r.p.Addrs().AgentOTLP.GRPC
		cfg.OTLP.RetryFor = 2 * time.Minute
		cfg.SetDefaults()
		truth, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
		done <- result{truth, err}
	}()

	time.Sleep(8 * time.Second)
	t.Log("killing the collector")
	if err := r.faults.KillCollector(); err != nil {
		t.Fatalf("kill collector: %v", err)
	}
	time.Sleep(2 * time.Second)
	if err := r.faults.StartCollector(context.Background()); err != nil {
		t.Fatalf("restart collector: %v", err)
	}
	time.Sleep(3 * time.Second)
	t.Log("stopping the broker for 20 s")
	if err := r.faults.StopBroker(context.Background()); err != nil {
		t.Fatalf("stop broker: %v", err)
	}
	time.Sleep(20 * time.Second)
	if err := r.faults.StartBroker(context.Background()); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	t.Log("broker back")

	res := <-done
	if res.err != nil {
		t.Fatalf("synthetic system: %v", res.err)
	}
	truth := res.truth
	t.Logf("sent %d requests, %d spans, %d logs", truth.Requests, truth.Spans, truth.Logs)
	r.waitStored(t, truth, 4*time.Minute)
	r.checkTraces(t, 20)

	// The analyzer skips what it re-reads after a commit failed because the
	// broker went away (its rollups were already stored): the graph is exact.
	want := truthEdges(truth)
	got, _ := r.graph(t, truth, want, time.Minute)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("edge %v: graph %+v, truth %+v", k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("graph edge %v %+v is not in the truth", k, g)
		}
	}
}
