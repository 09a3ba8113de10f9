package gen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/loadtest/logfile"
	"github.com/flowlens/flowlens/loadtest/topology"
)

var testStart = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type run struct {
	spans  tracetest.SpanStubs
	truth  *Truth
	logDir string
}

func generate(t testing.TB, top *topology.Topology, opts Options) run {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	sp := sdktrace.NewSimpleSpanProcessor(exp)
	dir := t.TempDir()
	lw, err := logfile.New(logfile.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Start.IsZero() {
		opts.Start = testStart
	}
	g, err := New(top, sp, lw, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans() // before Shutdown, which empties the exporter
	if err := sp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return run{spans: spans, truth: g.Truth(), logDir: dir}
}

func attr(s *tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func str(s *tracetest.SpanStub, key string) string {
	v, _ := attr(s, key)
	return v.AsString()
}

func svcOf(s *tracetest.SpanStub) string {
	for _, kv := range s.Resource.Attributes() {
		if kv.Key == "service.name" {
			return kv.Value.AsString()
		}
	}
	return ""
}

// fingerprint is everything a run's span carries that must repeat with the seed.
func fingerprint(s *tracetest.SpanStub) string {
	return fmt.Sprintf("%s %s %s %s %s %d %d %v %v %d %d", s.SpanContext.TraceID(), s.SpanContext.SpanID(), s.Parent.SpanID(),
		svcOf(s), s.Name, s.StartTime.UnixNano(), s.EndTime.UnixNano(), s.Attributes, s.Status, len(s.Events), len(s.Links))
}

func faultyShop(t testing.TB) *topology.Topology {
	t.Helper()
	top := topology.Default()
	fs, err := topology.LoadFaults("../testdata/faults.yaml", top)
	if err != nil {
		t.Fatal(err)
	}
	top.Faults = fs
	return top
}

func TestDeterministicWithSeed(t *testing.T) {
	opts := Options{Rate: 200, Count: 300, Seed: 42, LogsPerSpan: 2}
	a := generate(t, faultyShop(t), opts)
	b := generate(t, faultyShop(t), opts)
	if len(a.spans) != len(b.spans) || len(a.spans) == 0 {
		t.Fatalf("span counts %d and %d", len(a.spans), len(b.spans))
	}
	for i := range a.spans {
		if fa, fb := fingerprint(&a.spans[i]), fingerprint(&b.spans[i]); fa != fb {
			t.Fatalf("span %d differs:\n%s\n%s", i, fa, fb)
		}
	}
	if diff := cmp.Diff(a.truth, b.truth); diff != "" {
		t.Fatalf("truths differ (-first +second):\n%s", diff)
	}
	for _, svc := range []string{"gateway", "checkout", "email"} {
		la, _ := os.ReadFile(filepath.Join(a.logDir, svc+".log"))
		lb, _ := os.ReadFile(filepath.Join(b.logDir, svc+".log"))
		if len(la) == 0 || !bytes.Equal(la, lb) {
			t.Fatalf("%s logs differ (%d and %d bytes)", svc, len(la), len(lb))
		}
	}
	opts.Seed = 43
	c := generate(t, faultyShop(t), opts)
	if len(c.spans) > 0 && fingerprint(&c.spans[0]) == fingerprint(&a.spans[0]) {
		t.Fatal("another seed gave the same first span")
	}
}

// pairEdges derives the edges from the spans the way the service-graph
// conventions do, independently of the generator's bookkeeping.
func pairEdges(t *testing.T, spans tracetest.SpanStubs) map[EdgeKey]*EdgeTruth {
	t.Helper()
	type key struct {
		trace trace.TraceID
		span  trace.SpanID
	}
	byID := map[key]*tracetest.SpanStub{}
	children := map[key]int{}
	for i := range spans {
		s := &spans[i]
		byID[key{s.SpanContext.TraceID(), s.SpanContext.SpanID()}] = s
		if s.Parent.IsValid() {
			children[key{s.Parent.TraceID(), s.Parent.SpanID()}]++
		}
	}
	edges := map[EdgeKey]*EdgeTruth{}
	add := func(k EdgeKey, failed, retry bool) {
		e := edges[k]
		if e == nil {
			e = &EdgeTruth{EdgeKey: k}
			edges[k] = e
		}
		e.Requests++
		if failed {
			e.Failed++
		}
		if retry {
			e.Retries++
		}
	}
	for i := range spans {
		s := &spans[i]
		failed := s.Status.Code == codes.Error
		_, retry := attr(s, AttrResendCount)
		nkids := children[key{s.SpanContext.TraceID(), s.SpanContext.SpanID()}]
		switch s.SpanKind {
		case trace.SpanKindServer:
			if !s.Parent.IsValid() {
				add(EdgeKey{User, svcOf(s), flowmodel.ConnectionUnset, ""}, failed, false)
				continue
			}
			p := byID[key{s.Parent.TraceID(), s.Parent.SpanID()}]
			if p == nil || p.SpanKind != trace.SpanKindClient {
				t.Fatalf("server span %s has no client parent", s.Name)
			}
			if str(p, "peer.service") != svcOf(s) {
				t.Fatalf("client peer.service %q, server %q", str(p, "peer.service"), svcOf(s))
			}
			_, pr := attr(p, AttrResendCount)
			add(EdgeKey{svcOf(p), svcOf(s), flowmodel.ConnectionUnset, ""}, failed || p.Status.Code == codes.Error, pr)
		case trace.SpanKindConsumer:
			p := byID[key{s.Parent.TraceID(), s.Parent.SpanID()}]
			if p == nil || p.SpanKind != trace.SpanKindProducer {
				t.Fatalf("consumer span %s has no producer parent", s.Name)
			}
			if len(s.Links) != 1 || s.Links[0].SpanContext.SpanID() != p.SpanContext.SpanID() || s.Links[0].SpanContext.TraceID() != p.SpanContext.TraceID() {
				t.Fatalf("consumer span %s does not link to its producer: %+v", s.Name, s.Links)
			}
			if str(s, "messaging.destination.name") != str(p, "messaging.destination.name") || str(s, "messaging.system") == "" {
				t.Fatalf("consumer messaging attributes differ from the producer's")
			}
			add(EdgeKey{svcOf(p), svcOf(s), flowmodel.ConnectionMessaging, str(p, "messaging.destination.name")}, failed, false)
		case trace.SpanKindProducer:
			if nkids == 0 {
				d := str(s, "messaging.destination.name")
				add(EdgeKey{svcOf(s), d, flowmodel.ConnectionVirtual, d}, failed, false)
			}
		case trace.SpanKindClient:
			if _, db := attr(s, "db.system"); db {
				if nkids != 0 {
					t.Fatalf("database span %s has children", s.Name)
				}
				add(EdgeKey{svcOf(s), str(s, "peer.service"), flowmodel.ConnectionDatabase, ""}, failed, retry)
			} else if nkids == 0 {
				add(EdgeKey{svcOf(s), str(s, "peer.service"), flowmodel.ConnectionVirtual, ""}, failed, retry)
			}
		default:
			t.Fatalf("span %s of kind %v", s.Name, s.SpanKind)
		}
	}
	return edges
}

func TestTruthMatchesEmittedSpans(t *testing.T) {
	r := generate(t, faultyShop(t), Options{Rate: 100, Duration: 60 * time.Second, Seed: 7, LogsPerSpan: 2})
	tr := r.truth
	if tr.Requests != 6000 {
		t.Fatalf("requests = %d, want 60s at 100/s", tr.Requests)
	}
	if uint64(len(r.spans)) != tr.Spans {
		t.Fatalf("exported %d spans, truth says %d", len(r.spans), tr.Spans)
	}
	// flowlens.seq is unique and dense
	seen := make([]bool, tr.Spans+1)
	perService := map[string]uint64{}
	for i := range r.spans {
		s := &r.spans[i]
		v, ok := attr(s, AttrSeq)
		if !ok || v.AsInt64() < 1 || uint64(v.AsInt64()) > tr.Spans || seen[v.AsInt64()] {
			t.Fatalf("span %s: bad or repeated %s %v", s.Name, AttrSeq, v.AsInt64())
		}
		seen[v.AsInt64()] = true
		perService[svcOf(s)]++
		if run, _ := s.Resource.Set().Value(AttrRun); run.AsString() != tr.RunID {
			t.Fatalf("span of run %q, truth run %q", run.AsString(), tr.RunID)
		}
		if !s.EndTime.After(s.StartTime) && !s.EndTime.Equal(s.StartTime) {
			t.Fatalf("span %s ends before it starts", s.Name)
		}
	}
	for svc, n := range tr.SpansByService {
		if perService[svc] != n {
			t.Errorf("%s: %d spans, truth %d", svc, perService[svc], n)
		}
	}
	// edges derived from the spans equal the truth's
	got := pairEdges(t, r.spans)
	if len(got) != len(tr.Edges) {
		t.Errorf("%d edges from spans, %d in truth", len(got), len(tr.Edges))
	}
	for _, e := range tr.Edges {
		g := got[e.EdgeKey]
		if g == nil || *g != e {
			t.Errorf("edge %+v: truth %+v, spans %+v", e.EdgeKey, e, g)
		}
	}
	for _, want := range []EdgeKey{
		{User, "gateway", flowmodel.ConnectionUnset, ""},
		{"checkout", "payments", flowmodel.ConnectionUnset, ""},
		{"checkout", "payments", flowmodel.ConnectionVirtual, ""}, // short-circuited by the open breaker
		{"checkout", "postgres", flowmodel.ConnectionDatabase, ""},
		{"auth", "redis", flowmodel.ConnectionDatabase, ""},
		{"payments", "payment-provider", flowmodel.ConnectionVirtual, ""},
		{"checkout", "fulfilment", flowmodel.ConnectionMessaging, "orders"},
		{"checkout", "orders", flowmodel.ConnectionVirtual, "orders"}, // dropped messages
		{"fulfilment", "email", flowmodel.ConnectionMessaging, "notifications"},
	} {
		if tr.Edge(want).Requests == 0 {
			t.Errorf("no calls on edge %+v", want)
		}
	}
	if tr.Edge(EdgeKey{"checkout", "payments", flowmodel.ConnectionUnset, ""}).Retries == 0 {
		t.Error("no retries on checkout -> payments")
	}
}

func TestFaultsVisibleInSpans(t *testing.T) {
	r := generate(t, faultyShop(t), Options{Rate: 100, Duration: 60 * time.Second, Seed: 11, LogsPerSpan: -1})
	tr := r.truth
	faults := map[string]FaultTruth{}
	for _, f := range tr.Faults {
		faults[f.Kind] = f
		if !f.Active || f.Affected == 0 {
			t.Errorf("fault %s never acted: %+v", f.Name, f)
		}
	}
	drop := faults[topology.FaultQueueDrop]
	in := func(s *tracetest.SpanStub, f FaultTruth) bool {
		return !s.StartTime.Before(f.Start) && s.StartTime.Before(f.End)
	}
	// the queue drop: producer spans in the window without a consumer
	consumed := map[trace.SpanID]bool{}
	for i := range r.spans {
		if s := &r.spans[i]; s.SpanKind == trace.SpanKindConsumer {
			consumed[s.Parent.SpanID()] = true
		}
	}
	var sentIn, droppedIn, droppedOut uint64
	for i := range r.spans {
		s := &r.spans[i]
		if s.SpanKind != trace.SpanKindProducer || str(s, "messaging.destination.name") != "orders" {
			continue
		}
		if in(s, drop) {
			sentIn++
			if !consumed[s.SpanContext.SpanID()] {
				droppedIn++
			}
		} else if !consumed[s.SpanContext.SpanID()] {
			droppedOut++
		}
	}
	q := tr.Queue("orders")
	if q.Dropped != droppedIn || droppedOut != 0 || q.Sent-q.Dropped != q.Received["fulfilment"] {
		t.Fatalf("orders: truth %+v; spans: %d dropped in the window, %d outside", q, droppedIn, droppedOut)
	}
	if ratio := float64(droppedIn) / float64(sentIn); sentIn < 100 || math.Abs(ratio-drop.Ratio) > 0.1 {
		t.Fatalf("dropped %d of %d orders in the window (%.2f), want %.2f", droppedIn, sentIn, ratio, drop.Ratio)
	}

	// the forced breaker: open short-circuits in the window, no server span
	brk := faults[topology.FaultBreakerOpen]
	var shortIn, wentOutIn int
	parents := map[trace.SpanID]bool{}
	for i := range r.spans {
		parents[r.spans[i].Parent.SpanID()] = true
	}
	for i := range r.spans {
		s := &r.spans[i]
		if s.SpanKind != trace.SpanKindClient || svcOf(s) != "checkout" || str(s, "peer.service") != "payments" {
			continue
		}
		state := str(s, AttrBreakerState)
		if str(s, AttrBreakerName) != "payments" || state == "" {
			t.Fatalf("protected call without breaker attributes: %v", s.Attributes)
		}
		short := !parents[s.SpanContext.SpanID()]
		if short && (state != StateOpen || s.Status.Code != codes.Error) {
			t.Fatalf("short-circuited call in state %q, status %v", state, s.Status)
		}
		if in(s, brk) {
			if short {
				shortIn++
			} else {
				wentOutIn++
			}
		}
	}
	if shortIn == 0 || wentOutIn != 0 {
		t.Fatalf("forced-open window: %d short-circuited, %d went out", shortIn, wentOutIn)
	}
	// the transitions are span events and truth entries, in the same order
	var events []string
	for i := range r.spans {
		for _, ev := range r.spans[i].Events {
			if ev.Name != EventBreakerStateChange {
				continue
			}
			var from, to, name string
			for _, kv := range ev.Attributes {
				switch kv.Key {
				case AttrBreakerPreviousState:
					from = kv.Value.AsString()
				case AttrBreakerState:
					to = kv.Value.AsString()
				case AttrBreakerName:
					name = kv.Value.AsString()
				}
			}
			events = append(events, fmt.Sprintf("%d %s %s %s>%s", ev.Time.UnixNano(), svcOf(&r.spans[i]), name, from, to))
		}
	}
	var want []string
	for _, b := range tr.Breakers {
		want = append(want, fmt.Sprintf("%d %s %s %s>%s", b.Time.UnixNano(), b.Service, b.Name, b.From, b.To))
	}
	sort.Strings(events)
	sort.Strings(want)
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Fatalf("breaker events in spans:\n%v\ntruth:\n%v", events, want)
	}
	if !containsAll(want, "checkout payments closed>open", "checkout payments open>half_open", "checkout payments half_open>closed") {
		t.Fatalf("the forced open did not go closed > open > half_open > closed: %v", want)
	}

	// the service error: payments fails at about the injected rate in the window
	svcErr := faults[topology.FaultServiceError]
	var n, failed float64
	for i := range r.spans {
		s := &r.spans[i]
		if s.SpanKind == trace.SpanKindServer && svcOf(s) == svcErr.Target && in(s, svcErr) {
			n++
			if s.Status.Code == codes.Error {
				failed++
			}
		}
	}
	if n < 50 || math.Abs(failed/n-svcErr.ErrorRate) > 0.15 {
		t.Fatalf("%s failed %v of %v in the window, want about %v", svcErr.Target, failed, n, svcErr.ErrorRate)
	}

	// the latency fault: client spans in the window are at least that slow
	lat := faults[topology.FaultLatency]
	for i := range r.spans {
		s := &r.spans[i]
		if s.SpanKind == trace.SpanKindClient && svcOf(s) == "checkout" && str(s, "peer.service") == "inventory" && in(s, lat) {
			if d := s.EndTime.Sub(s.StartTime); d < lat.Add {
				t.Fatalf("checkout -> inventory took %s in the latency window, want >= %s", d, lat.Add)
			}
		}
	}
}

func containsAll(list []string, subs ...string) bool {
	for _, sub := range subs {
		found := false
		for _, l := range list {
			if bytes.Contains([]byte(l), []byte(sub)) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestLogFilesMatchSpans(t *testing.T) {
	r := generate(t, faultyShop(t), Options{Rate: 100, Duration: 40 * time.Second, Seed: 3, LogsPerSpan: 3})
	spanIDs := map[string]string{} // span id -> trace id
	for i := range r.spans {
		sc := r.spans[i].SpanContext
		spanIDs[sc.SpanID().String()] = sc.TraceID().String()
	}
	files, _ := filepath.Glob(filepath.Join(r.logDir, "*.log"))
	if len(files) != 12 {
		t.Errorf("%d log files, want one per instrumented service (12)", len(files))
	}
	seqs := make([]bool, r.truth.Logs+1)
	var total, breakerLines uint64
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("%s: %v: %s", f, err, sc.Text())
			}
			if _, err := time.Parse(time.RFC3339Nano, l["time"].(string)); err != nil {
				t.Fatal(err)
			}
			if l["service"].(string)+".log" != filepath.Base(f) || l["msg"] == "" || l["level"] == "" {
				t.Fatalf("bad line %s", sc.Text())
			}
			if l[AttrRun] != r.truth.RunID || r.truth.RunID != "0000000000000003" {
				t.Fatalf("line of run %v, truth run %q", l[AttrRun], r.truth.RunID)
			}
			if tid, ok := spanIDs[l["span_id"].(string)]; !ok || tid != l["trace_id"] {
				t.Fatalf("line with unknown trace/span: %s", sc.Text())
			}
			seq := uint64(l["seq"].(float64))
			if seq < 1 || seq > r.truth.Logs || seqs[seq] {
				t.Fatalf("bad or repeated seq %d", seq)
			}
			seqs[seq] = true
			total++
			if _, ok := l[AttrBreakerState]; ok {
				breakerLines++
			}
		}
		fh.Close()
	}
	if total != r.truth.Logs || total != 3*r.truth.Spans+uint64(len(r.truth.Breakers)) {
		t.Fatalf("%d log lines, truth %d, spans %d, transitions %d", total, r.truth.Logs, r.truth.Spans, len(r.truth.Breakers))
	}
	if breakerLines != uint64(len(r.truth.Breakers)) || breakerLines == 0 {
		t.Fatalf("%d breaker log lines, %d transitions", breakerLines, len(r.truth.Breakers))
	}
}

func TestTruthFileRoundTrip(t *testing.T) {
	r := generate(t, faultyShop(t), Options{Rate: 50, Count: 200, Seed: 1})
	p := filepath.Join(t.TempDir(), "truth.json")
	if err := r.truth.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTruth(p)
	if err != nil {
		t.Fatal(err)
	}
	// compared as structs: a field the codec drops would vanish from both
	// sides of a comparison of encodings
	if diff := cmp.Diff(r.truth, back, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("truth changed on the way through the file (-written +read):\n%s", diff)
	}
}

func TestOptionsRejected(t *testing.T) {
	sp := sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter())
	for _, o := range []Options{{Rate: 0}, {Rate: -1}, {Rate: math.Inf(1)}, {Rate: 1, Duration: -time.Second}} {
		if _, err := New(topology.Default(), sp, nil, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// cpuTime is the CPU time of the process so far (all threads: GC included),
// so benchmarks can report work per CPU-second on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

type nullLogs struct{ buf []byte }

func (n *nullLogs) Write(r *logfile.Record) error {
	n.buf = logfile.AppendJSON(n.buf[:0], r)
	return nil
}

// BenchmarkGenerate measures the generator with the SDK but no exporter:
// spans/s on one core, with one encoded log line per span.
func BenchmarkGenerate(b *testing.B) {
	for _, logs := range []int{-1, 1} {
		b.Run(fmt.Sprintf("logs_per_span=%d", max(logs, 0)), func(b *testing.B) {
			g, err := New(topology.Default(), discard{}, &nullLogs{}, Options{Rate: 1000, Seed: 1, Start: testStart, LogsPerSpan: logs})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				g.Next()
			}
			sec, cpu := time.Since(start).Seconds(), (cpuTime() - cpu0).Seconds()
			g.Flush()
			st := g.Stats()
			b.ReportMetric(float64(st.Spans)/sec, "spans/s")
			b.ReportMetric(float64(st.Spans)/cpu, "spans/cpu-s")
			b.ReportMetric(float64(st.Spans)/float64(b.N), "spans/op")
		})
	}
}

type countingSink struct {
	nullLogs
	writes, flushes int
	unflushed       int
	maxUnflushed    int
}

func (c *countingSink) Write(r *logfile.Record) error {
	c.writes++
	c.unflushed++
	c.maxUnflushed = max(c.maxUnflushed, c.unflushed)
	return c.nullLogs.Write(r)
}

func (c *countingSink) Flush() error {
	c.flushes++
	c.unflushed = 0
	return nil
}

// A paced run flushes its logs while it waits, so a tailer is never more
// than one request behind at low rates.
func TestPacedRunFlushesLogs(t *testing.T) {
	sink := &countingSink{}
	g, err := New(topology.Default(), discard{}, sink, Options{Rate: 100, Count: 30, Seed: 1, Realtime: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 30 requests at 100/s last at least 290ms: ahead of the pace every
	// request is flushed, behind it (a busy machine) every
	// LogFlushInterval, so at least twice before the last flush
	if sink.flushes < 3 || sink.unflushed != 0 {
		t.Fatalf("%d flushes for 30 paced requests, %d lines left unflushed", sink.flushes, sink.unflushed)
	}
}

// Without faults, the call ratios of a long run approach the topology's.
func TestCallRatiosApproachTheTopology(t *testing.T) {
	top := topology.Default()
	sp := sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter())
	g, err := New(top, sp, nil, Options{Rate: 1000, Count: 20000, Seed: 8, Start: testStart})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := g.Truth()
	want := Expected(top)
	if len(want) < 25 {
		t.Fatalf("only %d expected edges", len(want))
	}
	for _, e := range want {
		got := float64(tr.Edge(e.EdgeKey).Requests) / float64(tr.Requests)
		// binomial-ish noise, plus a few percent of retries on failing calls
		tol := 0.05*e.PerRequest + 4*math.Sqrt(e.PerRequest/float64(tr.Requests))
		if math.Abs(got-e.PerRequest) > tol {
			t.Errorf("%+v: %.4f calls per request, topology says %.4f (tolerance %.4f)", e.EdgeKey, got, e.PerRequest, tol)
		}
	}
	// and nothing the topology does not have, but for failure-made edges
	for _, e := range tr.Edges {
		found := false
		for _, w := range want {
			found = found || w.EdgeKey == e.EdgeKey
		}
		if !found && !(e.ConnectionType == flowmodel.ConnectionVirtual && e.Failed == e.Requests) {
			t.Errorf("edge %+v (%d calls) is not in the topology", e.EdgeKey, e.Requests)
		}
	}
}

// A service with several instances serves in turn, each instance's spans
// under its own service.instance.id and with the service's version; a
// logs_without_trace_id fault takes the trace ID off its share of the
// service's lines, and the truth counts them.
func TestInstancesVersionsAndLogsWithoutTraceID(t *testing.T) {
	top, err := topology.Parse([]byte(`
name: small
entry: {service: front}
services:
  - name: front
    version: "2.1.0"
    instances: 3
    endpoints:
      - name: "GET /a"
        calls: [{service: back}]
  - name: back
    endpoints: [{name: "GET /b"}]
faults:
  - {kind: logs_without_trace_id, service: back, ratio: 0.3, at: 0s, for: 1h}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := generate(t, top, Options{Rate: 100, Count: 600, Seed: 5})
	instances := map[string]map[string]int{}
	for i := range r.spans {
		s := &r.spans[i]
		var inst, version string
		for _, kv := range s.Resource.Attributes() {
			switch kv.Key {
			case "service.instance.id":
				inst = kv.Value.AsString()
			case "service.version":
				version = kv.Value.AsString()
			}
		}
		if want := map[string]string{"front": "2.1.0", "back": ""}[svcOf(s)]; version != want {
			t.Fatalf("%s span with version %q, want %q", svcOf(s), version, want)
		}
		if instances[svcOf(s)] == nil {
			instances[svcOf(s)] = map[string]int{}
		}
		instances[svcOf(s)][inst]++
	}
	// front's server span and its client span come from the same instance
	want := map[string]map[string]int{"front": {"front-0": 400, "front-1": 400, "front-2": 400}, "back": {"back-0": 600}}
	if diff := cmp.Diff(want, instances); diff != "" {
		t.Errorf("spans per instance (-want +got):\n%s", diff)
	}

	without := map[string]uint64{}
	files, _ := filepath.Glob(filepath.Join(r.logDir, "*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var l map[string]any
			if err := json.Unmarshal(line, &l); err != nil {
				t.Fatal(err)
			}
			if l["trace_id"] == nil || l["trace_id"] == "" {
				without[l["service"].(string)]++
			}
		}
	}
	fault := r.truth.Faults[0]
	if without["front"] != 0 || without["back"] != fault.Affected || fault.Affected == 0 {
		t.Errorf("lines without trace ID %v; the fault's truth says %d of back's", without, fault.Affected)
	}
	if got := float64(fault.Affected) / float64(r.truth.LogsByService["back"]); math.Abs(got-0.3) > 0.05 {
		t.Errorf("back wrote %.3f of its lines without a trace ID, want about 0.3", got)
	}
	if r.truth.LogsByService["front"]+r.truth.LogsByService["back"] != r.truth.Logs {
		t.Errorf("logs by service %v do not add up to %d", r.truth.LogsByService, r.truth.Logs)
	}
}
