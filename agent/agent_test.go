package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func appendJSONLines(t testing.TB, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"ts":"2026-11-25T12:00:00.%06dZ","level":"info","msg":"line %07d","user":"u%d"}`+"\n", i%1000000, i, i%97)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// exactlyOnce checks bodies "line N" for N in [0,n): each once.
func exactlyOnce(t *testing.T, c *consumed, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, bodies := range c.logBodies {
		for _, b := range bodies {
			seen[b]++
		}
	}
	missing, dup := 0, 0
	for i := 0; i < n; i++ {
		switch seen[fmt.Sprintf("line %07d", i)] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing != 0 || dup != 0 || c.logRecords != n {
		t.Fatalf("%d records at the broker: %d missing, %d duplicated, want exactly %d", c.logRecords, missing, dup, n)
	}
}

// TestFilesRotationExactCountsAtBroker: rename-and-create and copytruncate
// rotations and a truncation while lines keep coming; the broker holds every
// line exactly once.
func TestFilesRotationExactCountsAtBroker(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	logs := t.TempDir()
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), fmt.Sprintf(`
files:
  - name: app
    include: [%s/app.log*, %s/other.log]
    scan_interval: 50ms
    poll_interval: 10ms
    rotate_wait: 300ms
    parse: {format: json}
`, logs, logs))
	ra := startAgent(t, cfg)
	app := filepath.Join(logs, "app.log")
	n := 0
	write := func(k int) { appendJSONLines(t, app, n, n+k); n += k }
	c := newConsumed()
	waitN := func() {
		c.waitFor(t, b.Addrs()[0], kafkawire.DefaultLogsTopic, 30*time.Second, func(c *consumed) bool { return c.logRecords >= n })
	}
	write(5000)
	waitN()
	// rename and create; the writer still appends a little to the old file
	if err := os.Rename(app, app+".1"); err != nil {
		t.Fatal(err)
	}
	appendJSONLines(t, app+".1", n, n+100)
	n += 100
	write(3000)
	waitN()
	// copytruncate
	data, _ := os.ReadFile(app)
	os.WriteFile(app+".2", data, 0o644)
	os.Truncate(app, 0)
	write(2000)
	waitN()
	// truncation in place, then at once more lines than before
	os.Truncate(app, 0)
	write(4000)
	// a second file, with bad lines that must be kept
	other := filepath.Join(logs, "other.log")
	os.WriteFile(other, []byte("{not json\n\xff\xfe\x00binary\n   \n"), 0o644)
	c.waitFor(t, b.Addrs()[0], kafkawire.DefaultLogsTopic, 30*time.Second, func(c *consumed) bool { return c.logRecords >= n+3 })
	// duplicates would be read by now; stopping hands them to Kafka
	ra.stop(t)
	c.poll(t, b.Addrs()[0], kafkawire.DefaultLogsTopic)
	// remove the 3 bad lines from the count and check them
	var bad []string
	for p, bodies := range c.logBodies {
		kept := bodies[:0]
		for _, body := range bodies {
			if strings.HasPrefix(body, "line ") {
				kept = append(kept, body)
			} else {
				bad = append(bad, body)
			}
		}
		c.logBodies[p] = kept
	}
	c.logRecords -= len(bad)
	exactlyOnce(t, c, n)
	if len(bad) != 3 {
		t.Fatalf("bad lines at the broker: %q", bad)
	}
}

func newTraceRequest(seq0, n int) ptraceotlp.ExportRequest {
	return ptraceotlp.NewExportRequestFromTraces(wiretest.Traces(seq0, n, 4))
}

// TestOTLPToKafka sends traces and logs over gRPC and HTTP (protobuf and
// JSON) and malformed requests; spans arrive keyed by trace ID.
func TestOTLPToKafka(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), "")
	ra := startAgent(t, cfg)
	recv := ra.a.Receiver()

	conn, err := grpc.NewClient(recv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	tc := ptraceotlp.NewGRPCClient(conn)
	if _, err := tc.Export(ctx, newTraceRequest(0, 400)); err != nil {
		t.Fatalf("grpc traces: %v", err)
	}
	lc := plogotlp.NewGRPCClient(conn)
	if _, err := lc.Export(ctx, plogotlp.NewExportRequestFromLogs(wiretest.Logs(0, 50))); err != nil {
		t.Fatalf("grpc logs: %v", err)
	}
	post := func(path, ct string, body []byte) (int, string) {
		resp, err := http.Post("http://"+recv.HTTPAddr()+path, ct, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	pb, _ := newTraceRequest(400, 400).MarshalProto()
	if code, body := post("/v1/traces", "application/x-protobuf", pb); code != 200 {
		t.Fatalf("http protobuf traces: %d %s", code, body)
	}
	js, _ := newTraceRequest(800, 200).MarshalJSON()
	if code, body := post("/v1/traces", "application/json", js); code != 200 {
		t.Fatalf("http json traces: %d %s", code, body)
	}
	lj, _ := plogotlp.NewExportRequestFromLogs(wiretest.Logs(50, 50)).MarshalJSON()
	if code, body := post("/v1/logs", "application/json", lj); code != 200 {
		t.Fatalf("http json logs: %d %s", code, body)
	}
	// malformed requests: clear errors, the agent keeps going
	if code, _ := post("/v1/traces", "application/x-protobuf", []byte{0xff, 0xff, 0xff}); code != 400 {
		t.Errorf("malformed protobuf: %d, want 400", code)
	}
	if code, _ := post("/v1/logs", "application/json", []byte(`{"resourceLogs":[`)); code != 400 {
		t.Errorf("malformed json: %d, want 400", code)
	}
	if code, _ := post("/v1/logs", "text/plain", []byte(`x`)); code != 415 {
		t.Errorf("wrong content type: %d, want 415", code)
	}
	var raw []byte
	err = conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", rawMsg{0xff, 0x01}, &raw, grpc.ForceCodec(rawCodec{}))
	if code := status.Code(err); code != codes.InvalidArgument {
		t.Errorf("malformed grpc: %v, want InvalidArgument", err)
	}

	c := newConsumed()
	c.waitFor(t, b.Addrs()[0], kafkawire.DefaultSpansTopic, 30*time.Second, func(c *consumed) bool { return c.spanCount >= 1000 })
	if c.spanCount != 1000 || c.keyErrors != 0 {
		t.Fatalf("%d spans (want 1000), %d with a key other than their trace ID", c.spanCount, c.keyErrors)
	}
	cl := newConsumed()
	cl.waitFor(t, b.Addrs()[0], kafkawire.DefaultLogsTopic, 30*time.Second, func(c *consumed) bool { return c.logRecords >= 100 })
	if cl.logRecords != 100 {
		t.Fatalf("%d log records, want 100", cl.logRecords)
	}
	// metrics and health
	resp, err := http.Get("http://" + ra.a.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`flowlens_agent_otlp_requests_total{outcome="malformed"} 4`, `flowlens_agent_records_received_total{input="otlp_spans"} 1000`, "flowlens_agent_kafka_records_sent_total 1100"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	resp, err = http.Get("http://" + ra.a.MetricsAddr() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
}

type rawMsg []byte
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(rawMsg), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = data
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestBadInputEndToEnd: a 10 MB line, NUL bytes, invalid UTF-8, whitespace
// and malformed JSON reach Kafka as marked records; nothing is dropped.
func TestBadInputEndToEnd(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	logs := t.TempDir()
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), fmt.Sprintf(`
files:
  - name: app
    include: [%s/*.log]
    parse: {format: json}
`, logs))
	startAgent(t, cfg)
	content := `{"msg":"ok","level":"info"}` + "\n" +
		`{"msg":"truncated json"` + "\n" +
		"{\"msg\":\"nul\x00inside\"}\n" +
		"bad utf8 \xff\xfe here\n" +
		"   \t  \n" +
		`{"msg":"` + strings.Repeat("y", 10<<20) + `"}` + "\n" +
		`{"msg":"after"}` + "\n"
	os.WriteFile(filepath.Join(logs, "bad.log"), []byte(content), 0o644)

	type rec struct {
		body  string
		attrs map[string]any
	}
	var got []rec
	deadline := time.Now().Add(30 * time.Second)
	next := map[int]int64{}
	for len(got) < 7 && time.Now().Before(deadline) {
		c := newConsumed()
		c.next = next
		c.poll(t, b.Addrs()[0], kafkawire.DefaultLogsTopic)
		next = c.next
		for _, msgs := range c.raw {
			for _, m := range msgs {
				ld, err := (kafkawire.Decoder{}).DecodeLogs(m.Value, m.Headers)
				if err != nil {
					t.Fatal(err)
				}
				rls := ld.ResourceLogs()
				for i := 0; i < rls.Len(); i++ {
					lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
					for k := 0; k < lrs.Len(); k++ {
						got = append(got, rec{lrs.At(k).Body().AsString(), lrs.At(k).Attributes().AsRaw()})
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got) != 7 {
		t.Fatalf("%d records at the broker, want 7", len(got))
	}
	byBody := map[string]map[string]any{}
	for _, r := range got {
		key := r.body
		if len(key) > 20 {
			key = key[:20]
		}
		byBody[key] = r.attrs
	}
	check := func(body, attr string, want any) {
		t.Helper()
		a, ok := byBody[body]
		if !ok {
			t.Errorf("record %q missing (have %d)", body, len(byBody))
			return
		}
		if attr != "" && a[attr] != want {
			t.Errorf("record %q: %s = %v, want %v", body, attr, a[attr], want)
		}
	}
	check("ok", "", nil)
	check(`{"msg":"truncated js`, "flowlens.parse_error", "json")
	check("nul\x00inside", "", nil) // raw control bytes inside a JSON string are accepted as they are
	check("bad utf8 \uFFFD\uFFFD here", "flowlens.invalid_utf8", true)
	check("   \t  ", "flowlens.parse_error", "json")
	check(`{"msg":"yyyyyyyyyyyy`, "flowlens.truncated", true)
	check("after", "", nil)
}

// New checks the config as `flowlens-agent check-config` does, reporting
// every mistake, and compiles the service rules (flowlens up, which
// builds its agent's config in code, used to skip both).
func TestNewValidates(t *testing.T) {
	cfg := agent.Config{DataDir: t.TempDir(), HostName: "h"}
	cfg.Kafka.Brokers = []string{"127.0.0.1:9092"}
	cfg.Files = []agent.FileSource{{Name: "apps", Config: tail.Config{Include: []string{"/var/log/*.log"}},
		ServiceRules: []agent.ServiceRule{{Path: "(", Service: "x"}, {Path: "ok"}}}}
	cfg.Metrics.Listen = "nowhere"
	_, err := agent.New(cfg, agent.Settings{})
	for _, want := range []string{"files[0].service_rules[0].path", "files[0].service_rules[1].service", "metrics.listen"} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// /metrics and /healthz take the listener's TLS (mutual here) and bearer
// token like every flowlens listener.
func TestMetricsListenerTLSAndToken(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	pki := listenertest.NewPKI(t)
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), "")
	cfg.Metrics.TLS = pki.ServerTLS(true)
	cfg.Metrics.Auth.TokenFile = listenertest.TokenFile(t, "s3cret")
	ra := startAgent(t, cfg)
	for _, path := range []string{"/metrics", "/healthz"} {
		url := "https://" + ra.a.MetricsAddr() + path
		listenertest.CheckBearer(t, pki.Client(listenertest.WithCert), url, "s3cret", http.StatusOK)
		pki.CheckMutualTLS(t, url, "s3cret", http.StatusOK)
	}
}

// The component contract: Shutdown is safe without Start and twice, and
// releases what New took (the buffer's folder can be opened again).
func TestShutdownWithoutStart(t *testing.T) {
	cfg := loadConfig(t, t.TempDir(), []string{"127.0.0.1:9"}, "")
	for i := 0; i < 2; i++ {
		a, err := agent.New(cfg, agent.Settings{})
		if err != nil {
			t.Fatalf("New (%d): %v", i, err)
		}
		for j := 0; j < 2; j++ {
			if err := a.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown (%d, %d): %v", i, j, err)
			}
		}
	}
}
