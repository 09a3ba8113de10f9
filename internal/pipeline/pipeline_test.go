package pipeline

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

	"github.com/flowlens/flowlens/internal/config"
)

// The engine supports one data folder per process: every test here shares
// one, each with its own database.
var engineDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowlens-pipeline-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	engineDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

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

func TestShutdownWithoutStart(t *testing.T) {
	ctx := context.Background()
	var failed *Pipeline // what Start returns with an error
	if err := failed.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown of a nil pipeline: %v", err)
	}
	var never Pipeline
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

	p, err := Start(ctx, cfg, log)
	var inUse *AddrInUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("Start = %v, %v; want an *AddrInUseError", p, err)
	}
	if p != nil {
		t.Errorf("Start returned a pipeline with its error")
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
	p, err = Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start after the failed one: %v", err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// examples/flowlens.yaml, the file `flowlens up --help` points at, is valid
// and read as it says; the pipeline starts with it.
func TestExampleConfig(t *testing.T) {
	var cfg Config
	if err := config.Load("../../examples/flowlens.yaml", &cfg); err != nil {
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
		{"alerts_listen", cfg.AlertsListen, "127.0.0.1:9095"},
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
	cfg.Storage.Database = "pipeline_example"
	for i, f := range cfg.Rules.RuleFiles {
		cfg.Rules.RuleFiles[i] = filepath.Join("../..", f) // the example's paths are from the repository's root
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := Start(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
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
