package allinone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
	"github.com/flowlens/flowlens/internal/polltest"
	"github.com/flowlens/flowlens/storage"
)

// The engine supports one data folder per process: every test here shares
// one, each with its own database.
var engineDir string

func TestMain(m *testing.M) { os.Exit(chtest.MainWithEngineDir(m, &engineDir)) }

// testConfig is a pipeline on free ports and temporary folders, writing to
// database db of the shared engine.
func testConfig(t *testing.T, db string) Config {
	t.Helper()
	cfg := Config{DataDir: t.TempDir()}
	cfg.SetDefaults()
	for _, l := range cfg.Listeners() {
		*l.Addr = "127.0.0.1:0"
	}
	cfg.ClickHouse.DataDir = engineDir
	cfg.Storage.Database = db
	cfg.Agent.HostName = "pipeline-test"
	return cfg
}

// start starts a pipeline of cfg and stops it when the test ends.
func start(t *testing.T, ctx context.Context, cfg Config, set Settings) *Pipeline {
	t.Helper()
	if set.Logger == nil {
		set.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	p, err := New(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return p
}

func TestShutdownWithoutStart(t *testing.T) {
	ctx := context.Background()
	never, err := New(testConfig(t, "allinone_never"), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := never.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown without Start: %v", err)
	}
	if err := never.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// A part that cannot listen stops the start with an error that names the
// address and the setting that moves it, and what had started is stopped:
// its ports are free and the engine's folder can be opened again.
func TestStartOnAPortInUseStopsWhatItStarted(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := testConfig(t, "pipeline_port_in_use")
	cfg.Agent.OTLP.GRPC.Listen = held.Addr().String()
	// the ClickHouse endpoint binds port 0; its log line says which it got
	started, logs := observer.New(zap.InfoLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Core(), started))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	p, err := New(cfg, Settings{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Start(ctx)
	var inUse *AddrInUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("Start = %v; want an *AddrInUseError", err)
	}
	want := held.Addr().String() + " is in use (another flowlens?)"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "agent.otlp.grpc.listen") || inUse.Key != "agent.otlp.grpc.listen" {
		t.Errorf("error %q does not say %q and name agent.otlp.grpc.endpoint", err, want)
	}

	// the ClickHouse endpoint that had started listens no more
	lines := logs.FilterMessage("ClickHouse HTTP endpoint listening").All()
	if len(lines) != 1 {
		t.Fatalf("%d ClickHouse endpoint start lines, want 1", len(lines))
	}
	chAddr, _ := lines[0].ContextMap()["addr"].(string)
	ln, err := net.Listen("tcp", chAddr)
	if err != nil {
		t.Fatalf("the ClickHouse endpoint's port is still taken after the failed start: %v", err)
	}
	ln.Close()
	// and everything starts on the same folders once the port is free
	cfg.Agent.OTLP.GRPC.Listen = "127.0.0.1:0"
	start(t, ctx, cfg, Settings{Logger: log})
}

// examples/flowlens.yaml, the file `flowlens up --help` points at, is valid
// and read as it says; the pipeline starts with it.
func TestExampleConfig(t *testing.T) {
	var cfg Config
	if err := config.Load("../examples/flowlens.yaml", &cfg); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"data_dir", cfg.DataDir, "data"},
		{"clickhouse.listen", cfg.ClickHouse.HTTP.Listen, "127.0.0.1:8123"},
		{"storage.ttl.edges", cfg.Storage.TTL.Edges, 30},
		{"broker.addr", cfg.Broker.Addr, "127.0.0.1:9092"},
		{"collector.batch.max_rows", cfg.Collector.Batch.MaxRows, 100000},
		{"flowgraph.instance", cfg.Flowgraph.Instance, "local"},
		{"rules.rule_files", strings.Join(cfg.Rules.RuleFiles, ","), "rules/examples/shop-flows.yml"},
		{"rules.listen", cfg.Rules.HTTP.Listen, "127.0.0.1:9095"},
		{"agent.otlp.http.listen", cfg.Agent.OTLP.HTTP.Listen, "127.0.0.1:4318"},
		{"agent.metrics.listen", cfg.Agent.Metrics.Listen, "127.0.0.1:9464"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// The defaults the file shows are the defaults.
	var defaults Config
	defaults.SetDefaults()
	for i, l := range cfg.Listeners() {
		if d := *defaults.Listeners()[i].Addr; *l.Addr != d {
			t.Errorf("%s is %s in the example, %s by default", l.Key, *l.Addr, d)
		}
	}

	// Started on free ports and temporary folders, it runs every part.
	for _, l := range cfg.Listeners() {
		*l.Addr = "127.0.0.1:0"
	}
	cfg.DataDir = t.TempDir()
	cfg.ClickHouse.DataDir = engineDir
	cfg.Storage.Database = "allinone_example"
	for i, f := range cfg.Rules.RuleFiles {
		cfg.Rules.RuleFiles[i] = filepath.Join("..", f) // the example's paths are from the repository's root
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := start(t, ctx, cfg, Settings{})
	a := p.Addrs()
	if a.Alerts == "" || a.AgentOTLP.GRPC == "" || a.Agent == "" || p.Rules() == nil || len(p.Rules().InvalidRules()) > 0 {
		t.Errorf("parts missing: %+v, rules %v", a, p.Rules())
	}
	// the console answers over the pipeline's store (as its reader) and APIs
	resp, err := http.Get(a.Console + "/api/v1/graph?from=now-5m")
	if err != nil {
		t.Fatalf("the console: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var about struct{ Analyzer, Alerts bool }
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"nodes"`) {
		t.Errorf("the console's graph: %s %s", resp.Status, body)
	}
	if resp, err := http.Get(a.Console + "/api/v1/about"); err != nil || json.NewDecoder(resp.Body).Decode(&about) != nil || !about.Analyzer || !about.Alerts {
		t.Errorf("the console does not know the pipeline's analyzer and alerts APIs: %+v %v", about, err)
	}
}

// data_dir in a file moves every part's data, though config.Load fills the
// defaults before it reads the file.
func TestDataDirFromAFileMovesThePartsData(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flowlens.yaml")
	if err := os.WriteFile(p, []byte("data_dir: /srv/flowlens\nbroker: {data_dir: /fast/kafka}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := config.Load(p, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	cfg.placeFolders()
	for _, c := range []struct{ part, got, want string }{
		{"clickhouse", cfg.ClickHouse.DataDir, "/srv/flowlens/clickhouse"},
		{"broker", cfg.Broker.DataDir, "/fast/kafka"},
		{"agent", cfg.Agent.DataDir, "/srv/flowlens/agent"},
		{"rules", cfg.Rules.DataDir, "/srv/flowlens/rules"},
	} {
		if c.got != c.want {
			t.Errorf("%s data in %s, want %s", c.part, c.got, c.want)
		}
	}
}

// The parts' configs are checked as their own commands check them: a
// mistake in the agent's or the analyzer's section stops the start with
// an error naming the field, instead of being ignored.
func TestStartValidatesEveryPartsConfig(t *testing.T) {
	for _, c := range []struct {
		name  string
		set   func(*Config)
		field string
	}{
		{"agent service rule", func(c *Config) {
			c.Agent.Files = []agent.FileSource{{Name: "apps", Config: tail.Config{Include: []string{"/nonexistent/*.log"}},
				ServiceRules: []agent.ServiceRule{{Path: "(", Service: "x"}}}}
		}, "agent.files[0].service_rules[0].path"},
		{"analyzer bucket", func(c *Config) { c.Flowgraph.Rollup.Bucket = 10 * time.Second }, "flowgraph.rollup.bucket"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "allinone_validates")
			c.set(&cfg)
			_, err := New(cfg, Settings{})
			if err == nil {
				t.Fatalf("built; want an error naming %s", c.field)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("error %q does not name %s", err, c.field)
			}
		})
	}
}

// The agent of flowlens up names a file's service by its service_rules,
// as flowlens-agent does.
func TestUpAppliesTheAgentsServiceRules(t *testing.T) {
	cfg := testConfig(t, "allinone_service_rules")
	dir := t.TempDir()
	cfg.Agent.Files = []agent.FileSource{{Name: "apps", Config: tail.Config{Include: []string{filepath.Join(dir, "*.log")}},
		Parse: parse.Config{Format: parse.FormatJSON}, Service: "apps-default",
		ServiceRules: []agent.ServiceRule{{Path: `/(?P<svc>[a-z]+)\.log$`, Service: "${svc}-svc"}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := start(t, ctx, cfg, Settings{})
	line := fmt.Sprintf(`{"time":%q,"level":"info","msg":"service rule marker"}`+"\n", time.Now().UTC().Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(dir, "billing.log"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []storage.LogRecord
	var err error
	polltest.Until(t, "the log record to be stored", time.Minute, func() bool {
		got, err = p.Store().SearchLogs(ctx, storage.LogQuery{Contains: "service rule marker", From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
		return err == nil && len(got) > 0
	})
	if got[0].ServiceName != "billing-svc" {
		t.Errorf("service %q, want billing-svc (from the file's service rule)", got[0].ServiceName)
	}
}

// Every part's metrics are served: the storage client's beside the
// collector's, the rules evaluator's beside its alerts API.
func TestEveryPartsMetricsAreServed(t *testing.T) {
	cfg := testConfig(t, "allinone_metrics")
	dir := t.TempDir()
	cfg.Agent.Files = []agent.FileSource{{Name: "apps", Config: tail.Config{Include: []string{filepath.Join(dir, "*.log")}}}}
	cfg.Rules.RuleFiles = []string{"../rules/examples/shop-flows.yml"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := start(t, ctx, cfg, Settings{})
	if err := os.WriteFile(filepath.Join(dir, "app.log"), []byte("metrics marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, "the log record to be stored", time.Minute, func() bool {
		got, err := p.Store().SearchLogs(ctx, storage.LogQuery{Contains: "metrics marker", From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
		return err == nil && len(got) > 0
	})
	a := p.Addrs()
	if resp, err := http.Get(a.Console + "/api/v1/services?from=now-5m"); err == nil { // a read, for the console's storage metrics
		resp.Body.Close()
	}
	for _, c := range []struct{ what, addr, metric string }{
		{"collector", a.Collector, "flowlens_collector_rows_stored_total"},
		{"collector", a.Collector, `flowlens_storage_insert_rows_total{table="otel_logs"}`},
		{"alerts API", a.Alerts, "flowlens_rules_gathered_samples"},
		{"alerts API", a.Alerts, "flowlens_rules_invalid"},
		{"flow analyzer", a.Flowgraph, "flowlens_flowgraph_spans_total"},
		{"console", strings.TrimPrefix(a.Console, "http://"), "flowlens_storage_query_duration_seconds"},
		{"agent", a.Agent, "flowlens_agent_"},
	} {
		resp, err := http.Get("http://" + c.addr + "/metrics")
		if err != nil {
			t.Errorf("%s metrics: %v", c.what, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), c.metric) {
			t.Errorf("the %s's /metrics (%s) has no %s", c.what, resp.Status, c.metric)
		}
	}
}

// A key of an earlier version is named with what replaced it.
func TestRenamedKeys(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flowlens.yaml")
	y := "alerts_listen: 127.0.0.1:9095\ncollector: {http_addr: off}\nagent: {otlp: {grpc: {enabled: false}}, kafka: {retry_backoff_max: 1s}}\nclickhouse: {addr: 127.0.0.1:8123}\nrules: {notify: {backoff_max: 1m}}\n"
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	err := config.Load(p, &cfg)
	for _, want := range []string{
		"alerts_listen: unknown key (line 1); it is rules.listen now",
		"collector.http_addr: unknown key (line 2); it is collector.listen now",
		"agent.otlp.grpc.enabled: unknown key (line 3); it is agent.otlp.grpc.listen: off now",
		"agent.kafka.retry_backoff_max: unknown key (line 3); it is agent.kafka.retry.max now",
		"clickhouse.addr: unknown key (line 4); it is clickhouse.listen now",
		"rules.notify.backoff_max: unknown key (line 5); it is rules.notify.retry.max now",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// With clickhouse.tls the endpoint speaks HTTPS only, and the pipeline's
// own clients (the collector's, the analyzer's, the console's) trust its
// certificate: a log record still reaches storage and the console.
func TestClickHouseOverTLS(t *testing.T) {
	pki := listenertest.NewPKI(t)
	cfg := testConfig(t, "allinone_tls")
	cfg.ClickHouse.HTTP.TLS = pki.ServerTLS(false)
	dir := t.TempDir()
	cfg.Agent.Files = []agent.FileSource{{Name: "apps", Config: tail.Config{Include: []string{filepath.Join(dir, "*.log")}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := start(t, ctx, cfg, Settings{})
	if code, err := listenertest.Get(pki.Client(listenertest.NoCert), "https://"+p.Addrs().ClickHouse+"/ping", ""); err != nil || code != http.StatusOK {
		t.Errorf("the endpoint over HTTPS: %d %v", code, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.log"), []byte("tls marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, "the log record to be stored", time.Minute, func() bool {
		got, err := p.Store().SearchLogs(ctx, storage.LogQuery{Contains: "tls marker", From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
		return err == nil && len(got) > 0
	})
	resp, err := http.Get(p.Addrs().Console + "/api/v1/logs?contains=tls+marker")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "tls marker") {
		t.Errorf("the console's logs over the endpoint's TLS: %s %s", resp.Status, body)
	}
}
