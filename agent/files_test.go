package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/flowlens/flowlens/agent/forward"
	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/flowlens/flowlens/internal/config"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// memAppender keeps appended records and acknowledges at once.
type memAppender struct{ recs [][]byte }

func (m *memAppender) Append(_ context.Context, recs [][]byte, _ bool, onDurable func()) error {
	for _, r := range recs {
		m.recs = append(m.recs, append([]byte(nil), r...))
	}
	if onDurable != nil {
		onDurable()
	}
	return nil
}

func loadTestConfig(t *testing.T, y string) Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.yaml")
	os.WriteFile(p, []byte(y), 0o644)
	var cfg Config
	if err := config.Load(p, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.compileServiceRules(); err != nil { // as New does
		t.Fatal(err)
	}
	return cfg
}

func TestServiceRulesAndEnrichment(t *testing.T) {
	cfg := loadTestConfig(t, `
host_name: h1
service_name: fallback
resource_attributes: {deployment.environment: prod}
kafka: {brokers: ["127.0.0.1:9092"]}
files:
  - name: apps
    include: [/var/log/apps/*/*.log]
    service: apps-default
    service_rules:
      - {path: '^/var/log/apps/(?P<svc>[a-z]+)/', service: '${svc}-svc'}
    attributes: {team: core}
    parse: {format: json}
`)
	fs := &cfg.Files[0]
	if got := fs.serviceFor("/var/log/apps/billing/x.log", "fallback"); got != "billing-svc" {
		t.Errorf("rule: %q", got)
	}
	if got := fs.serviceFor("/other/x.log", "fallback"); got != "apps-default" {
		t.Errorf("source service: %q", got)
	}
	if fs.ScanInterval == 0 || fs.Parse.Fields.Message == nil {
		t.Fatal("file source defaults not applied")
	}
	var app memAppender
	var counters fileCounters
	src, err := newFileSource(fs, &cfg, &app, &counters, "v0")
	if err != nil {
		t.Fatal(err)
	}
	h := src.handler(tail.File{Path: "/var/log/apps/billing/x.log"})
	ctx := context.Background()
	h.Line(ctx, []byte(`{"msg":"hello","level":"info"}`), 30, tail.Checkpoint{})
	h.Line(ctx, []byte(`{"msg":"per-line service","service":"other"}`), 41, tail.Checkpoint{})
	h.Line(ctx, []byte(`not json`), 100, tail.Checkpoint{}) // and cut from 100 bytes
	if err := h.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if len(app.recs) != 1 || counters.parseFailures.Load() != 1 || counters.truncated.Load() != 1 {
		t.Fatalf("%d buffer records, %d parse failures, %d truncated", len(app.recs), counters.parseFailures.Load(), counters.truncated.Load())
	}
	// buffer record: kind, count, key length 0, request
	rec := app.recs[0]
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(rec[3:]); err != nil {
		t.Fatal(err)
	}
	rls := req.Logs().ResourceLogs()
	if rls.Len() != 2 {
		t.Fatalf("%d resources", rls.Len())
	}
	attrs := rls.At(0).Resource().Attributes()
	for k, want := range map[string]string{"service.name": "billing-svc", "host.name": "h1", "team": "core", "deployment.environment": "prod"} {
		if v, ok := attrs.Get(k); !ok || v.Str() != want {
			t.Errorf("resource %s = %v, want %s", k, v.AsRaw(), want)
		}
	}
	if v, _ := rls.At(1).Resource().Attributes().Get("service.name"); v.Str() != "other" {
		t.Errorf("per-line service %q", v.Str())
	}
	lr := rls.At(0).ScopeLogs().At(0).LogRecords().At(1)
	if lr.Body().Str() != "not json" {
		t.Errorf("bad line body %q", lr.Body().Str())
	}
	if v, _ := lr.Attributes().Get("flowlens.parse_error"); v.Str() != parse.FormatJSON {
		t.Errorf("parse error mark %v", v.AsRaw())
	}
	if v, _ := lr.Attributes().Get("flowlens.original_size"); v.Int() != 100 {
		t.Errorf("original size %v", v.AsRaw())
	}
	if v, _ := lr.Attributes().Get("log.file.name"); v.Str() != "x.log" {
		t.Errorf("log.file.name %v", v.AsRaw())
	}
}

// File logs that carry a trace ID go to Kafka keyed by it, as spans are,
// when logs are partitioned by trace ID: one message per trace, and the
// lines without a trace ID in one message without a key. The batch's line
// count rides on the first message, so the forwarder counts each line once.
func TestFileLogsKeyedByTraceID(t *testing.T) {
	const traceA, traceB = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	lines := []string{
		`{"msg":"a1","trace_id":"` + traceA + `"}`,
		`{"msg":"no trace 1"}`,
		`{"msg":"b1 00-` + traceB + `-00f067aa0ba902b7-01"}`, // a W3C traceparent in the message
		`{"msg":"a2","trace_id":"` + traceA + `"}`,
		`not json`,
	}
	for _, keyed := range []bool{true, false} {
		cfg := loadTestConfig(t, fmt.Sprintf(`
kafka: {brokers: ["127.0.0.1:9092"]}
partition_logs_by_trace_id: %v
files:
  - {name: app, include: [/var/log/app.log], parse: {format: json}}
`, keyed))
		var app memAppender
		var counters fileCounters
		src, err := newFileSource(&cfg.Files[0], &cfg, &app, &counters, "v0")
		if err != nil {
			t.Fatal(err)
		}
		h := src.handler(tail.File{Path: "/var/log/app.log"})
		ctx := context.Background()
		for _, l := range lines {
			h.Line(ctx, []byte(l), len(l), tail.Checkpoint{})
		}
		if err := h.Flush(ctx, true); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{} // key -> bodies
		count := 0
		for _, rec := range app.recs {
			kind, n, key, value, err := forward.DecodeMessage(rec)
			if err != nil || kind != forward.KindLogs {
				t.Fatalf("buffer record: kind %v, %v", kind, err)
			}
			count += n
			req := plogotlp.NewExportRequest()
			if err := req.UnmarshalProto(value); err != nil {
				t.Fatal(err)
			}
			rls := req.Logs().ResourceLogs()
			for i := 0; i < rls.Len(); i++ {
				lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
				for j := 0; j < lrs.Len(); j++ {
					got[string(key)] = append(got[string(key)], lrs.At(j).Body().Str())
				}
			}
		}
		want := map[string][]string{traceA: {"a1", "a2"}, "": {"no trace 1", "not json"}, traceB: {"b1 00-" + traceB + "-00f067aa0ba902b7-01"}}
		if !keyed {
			want = map[string][]string{"": {"a1", "no trace 1", "b1 00-" + traceB + "-00f067aa0ba902b7-01", "a2", "not json"}}
		}
		if !reflect.DeepEqual(got, want) || count != len(lines) {
			t.Errorf("partition_logs_by_trace_id %v: messages by key %q (count %d), want %q (count %d)", keyed, got, count, want, len(lines))
		}
	}
}

// The other log sources (journald, containers, syslog) write their batches
// the same way: with partition_logs_by_trace_id a record with a trace ID is
// keyed by it.
func TestSourceRecordsKeyedByTraceID(t *testing.T) {
	var app memAppender
	b := logrec.NewBatch(nil, "svc", nil, "v0")
	w := newRecordWriter(&app, b, BatchConfig{MaxRecords: 10, MaxBytes: 1 << 20}, true, true, nil)
	var r logrec.Record
	for i, id := range []byte{1, 0, 1} {
		r.Reset()
		r.Body = []byte(fmt.Sprint("line ", i))
		if id != 0 {
			r.TraceID[15], r.HasTraceID = id, true
		}
		w.add(&r)
	}
	if err := w.flush(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	var keys []string
	count := 0
	for _, rec := range app.recs {
		_, n, key, _, err := forward.DecodeMessage(rec)
		if err != nil {
			t.Fatal(err)
		}
		keys, count = append(keys, string(key)), count+n
	}
	if want := []string{"00000000000000000000000000000001", ""}; !reflect.DeepEqual(keys, want) || count != 3 {
		t.Errorf("message keys %q (count %d), want %q (count 3)", keys, count, want)
	}
}

// BenchmarkFilePipeline: one ~330-byte JSON line through parse, OTLP
// encoding and batching into buffer records (no disk, no Kafka).
func BenchmarkFilePipeline(b *testing.B) {
	data, err := os.ReadFile("parse/testdata/lines.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	p := filepath.Join(b.TempDir(), "a.yaml")
	os.WriteFile(p, []byte("kafka: {brokers: ['127.0.0.1:9092']}\nhost_name: h\nfiles: [{name: a, include: [/x.log], parse: {format: json}}]\n"), 0o644)
	var cfg Config
	if err := config.Load(p, &cfg); err != nil {
		b.Fatal(err)
	}
	var sink discardAppender
	var counters fileCounters
	src, err := newFileSource(&cfg.Files[0], &cfg, &sink, &counters, "")
	if err != nil {
		b.Fatal(err)
	}
	h := src.handler(tail.File{Path: "/x.log"})
	ctx := context.Background()
	b.SetBytes(int64(len(data) / len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l := lines[i%len(lines)]
		if err := h.Line(ctx, l, len(l), tail.Checkpoint{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(sink.bytes)/float64(i), "buffer-bytes/line")
}

type discardAppender struct{ bytes int }

func (d *discardAppender) Append(_ context.Context, recs [][]byte, _ bool, _ func()) error {
	for _, r := range recs {
		d.bytes += len(r)
	}
	return nil
}

func TestExampleConfigLoads(t *testing.T) {
	var cfg Config
	if err := config.Load("testdata/agent.yaml", &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.compileServiceRules(); err != nil { // as New does
		t.Fatal(err)
	}
	if len(cfg.Files) != 2 || cfg.Files[1].serviceFor("/var/log/apps/cart/x.log", "") != "cart" {
		t.Fatalf("example config: %+v", cfg.Files)
	}
	if j := cfg.Journald; j == nil || j.Priority != "info" || len(j.Units) != 2 {
		t.Errorf("example journald: %+v", j)
	}
	if c := cfg.Containers; c == nil || len(c.Include) != 1 || c.Include[0] != "/var/log/pods/*/*/*.log" || c.Parse.Format != "json" {
		t.Errorf("example containers: %+v", c)
	}
	if s := cfg.Syslog; s == nil || s.TCP.Listen != "0.0.0.0:1514" || s.UDP.Listen != "0.0.0.0:1514" || s.MaxConnections != 256 {
		t.Errorf("example syslog: %+v", s)
	}
}
