package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) {
	// a child flowlens started by the flowlens under test (up's broker)
	if args, ok := childArgs(); ok {
		os.Exit(run(args, os.Stdout, os.Stderr))
	}
	os.Exit(chtest.Main(m))
}

// storageCLI runs the storage commands against a test database, as a
// person would: with the data folder of the running endpoint, whose
// generated credentials the commands read themselves.
type storageCLI struct {
	t       *testing.T
	addr    string
	dataDir string
	db      string
}

func newStorageCLI(t *testing.T) *storageCLI {
	return &storageCLI{t: t, addr: chtest.Addr(t), dataDir: chtest.DataDir(t), db: chtest.Database(t)}
}

func (c *storageCLI) run(args ...string) (string, string, error) {
	c.t.Helper()
	g := &globalFlags{}
	root := &cobra.Command{Use: "flowlens", SilenceUsage: true, SilenceErrors: true}
	g.register(root)
	root.AddCommand(newMigrateCmd(g), newTraceCmd(g), newSpansCmd(g), newLogsCmd(g), newLoadCmd(g), newGraphCmd(g),
		newConformanceCmd(g), newRulesCmd(g), newServicesCmd(g), newLedgerCmd(g))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"--clickhouse", c.addr, "--data-dir", c.dataDir, "--database", c.db, "--log-level", "warn"}, args...))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func (c *storageCLI) mustRun(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("flowlens %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

const (
	fixtureTrace = "5b8efff798038103d269b633813fc60c"
	fixtureFrom  = "2025-11-24T09:00:00Z"
	fixtureTo    = "2025-11-24T11:00:00Z"
)

func TestStorageCommands(t *testing.T) {
	c := newStorageCLI(t)
	ms, err := storage.Migrations(storage.Config{Database: "flowlens"})
	if err != nil {
		t.Fatal(err)
	}
	versions := make([]int, len(ms))
	for i, m := range ms {
		versions[i] = m.Version
	}
	if out := c.mustRun("migrate"); !strings.Contains(out, fmt.Sprintf("applied migrations %v", versions)) {
		t.Errorf("first migrate: %q, want every migration %v", out, versions)
	}
	if out := c.mustRun("migrate"); !strings.Contains(out, "up to date") {
		t.Errorf("second migrate: %q", out)
	}

	// JSON traces, JSON-lines logs; loading twice stores once.
	out := c.mustRun("load", "testdata/otlp_traces.json", "testdata/otlp_logs.jsonl")
	if !strings.Contains(out, "otlp_traces.json: stored 4 spans") || !strings.Contains(out, "otlp_logs.jsonl: stored 3 logs") {
		t.Errorf("load: %q", out)
	}
	c.mustRun("load", "testdata/otlp_traces.json")

	out = c.mustRun("trace", fixtureTrace)
	for _, want := range []string{"Trace " + fixtureTrace, "4 spans, 2 services, 2 logs", "GET /checkout", "    charge",
		"ERROR", "! card declined", "» log", "card declined for order 1234", "█"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "unrelated") {
		t.Errorf("trace output shows another trace's log:\n%s", out)
	}
	// The log of span "charge" comes right after it, before the later DB span.
	if i, j := strings.Index(out, "card declined for order"), strings.Index(out, "SELECT accounts"); i < 0 || j < 0 || i > j {
		t.Errorf("logs not interleaved by time:\n%s", out)
	}
	t.Log("\n" + out)

	var tr storage.Trace
	if err := json.Unmarshal([]byte(c.mustRun("trace", strings.ToUpper(fixtureTrace), "-o", "json")), &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Spans) != 4 || len(tr.Logs) != 2 {
		t.Errorf("trace json: %d spans %d logs (a loaded file twice must be stored once)", len(tr.Spans), len(tr.Logs))
	}

	out = c.mustRun("spans", "--from", fixtureFrom, "--to", fixtureTo, "--service", "payment", "--min-duration", "100ms")
	if !strings.Contains(out, "charge") || strings.Contains(out, "SELECT accounts") || strings.Contains(out, "GET /checkout") {
		t.Errorf("spans: %s", out)
	}
	var spans []storage.Span
	if err := json.Unmarshal([]byte(c.mustRun("spans", "--from", fixtureFrom, "--to", fixtureTo,
		"--attr", "http.route=/checkout", "--status", "error", "-o", "json")), &spans); err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 || spans[0].Name != "GET /checkout" {
		t.Errorf("spans --attr: %+v", spans)
	}
	out = c.mustRun("logs", "--from", fixtureFrom, "--to", fixtureTo, "--severity", "warn", "--contains", "DECLINED")
	if !strings.Contains(out, "card declined for order 1234") || strings.Contains(out, "checkout returned 500") {
		t.Errorf("logs: %s", out)
	}
	if out := c.mustRun("logs", "--from", fixtureFrom, "--to", fixtureTo, "--service", "' OR 1=1 --"); !strings.Contains(out, "no log records") {
		t.Errorf("hostile service: %s", out)
	}
	if _, _, err := c.run("trace", "' OR 1=1 --"); err == nil || !strings.Contains(err.Error(), "invalid trace ID") {
		t.Errorf("hostile trace ID: %v", err)
	}
	if _, _, err := c.run("spans", "--attr", "novalue"); err == nil {
		t.Error("--attr without = accepted")
	}
}

func TestLoadProtobufDetectsKind(t *testing.T) {
	c := newStorageCLI(t)
	// No schema yet: reads say what to do, load creates it.
	if _, _, err := c.run("trace", fixtureTrace); err == nil || !strings.Contains(err.Error(), "flowlens migrate") {
		t.Errorf("trace without schema: %v", err)
	}
	dir := t.TempDir()
	js, _ := os.ReadFile("testdata/otlp_traces.json")
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(js)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	tracesPB := filepath.Join(dir, "traces.pb")
	os.WriteFile(tracesPB, pb, 0o644)

	lines, _ := os.ReadFile("testdata/otlp_logs.jsonl")
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(bytes.Split(lines, []byte("\n"))[0])
	if err != nil {
		t.Fatal(err)
	}
	pb, _ = (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	logsPB := filepath.Join(dir, "logs.bin")
	os.WriteFile(logsPB, pb, 0o644)

	out := c.mustRun("load", tracesPB, logsPB, "-o", "json")
	var res []loadResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Kind != "spans" || res[0].Stored != 4 || res[1].Kind != "logs" || res[1].Stored != 1 {
		t.Errorf("load protobuf: %+v", res)
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("\x00\x01not otlp at all"), 0o644)
	if _, _, err := c.run("load", garbage); err == nil {
		t.Error("garbage loaded")
	}
}

func TestMigratePrintCluster(t *testing.T) {
	g := &globalFlags{}
	root := &cobra.Command{Use: "flowlens"}
	g.register(root)
	root.AddCommand(newMigrateCmd(g))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"migrate", "--print", "--cluster", "prod", "--ttl-traces", "7", "--trace-id-projection"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ON CLUSTER `prod`") || !strings.Contains(out.String(), "toIntervalDay(7)") ||
		!strings.Contains(out.String(), "PROJECTION by_trace_id") || !strings.Contains(out.String(), "index_granularity = 1024") {
		t.Errorf("migrate --print:\n%s", out.String())
	}
}

// Without the data folder whose credentials `flowlens up` wrote, a command
// says where they are instead of failing with a bare authentication error;
// with them (newStorageCLI) the commands log in by themselves.
func TestCLIWithoutCredentials(t *testing.T) {
	c := newStorageCLI(t)
	c.dataDir = t.TempDir()
	_, _, err := c.run("spans", "--limit", "1")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(c.dataDir, "clickhouse", "credentials.yaml")) {
		t.Fatalf("want an error naming the credentials file, got %v", err)
	}
}

// The generated passwords go to this machine only: for another address
// the CLI sends no credentials from the file.
func TestCLILoginStaysLocal(t *testing.T) {
	g := &globalFlags{DataDir: chtest.DataDir(t)}
	for addr, local := range map[string]bool{
		"127.0.0.1:8123": true, "localhost:8123": true, "http://[::1]:8123": true,
		"clickhouse.example.org:8123": false, "https://10.1.2.3:8443": false, "http://u:p@127.0.0.1:8123": false,
	} {
		cfg := g.login(storage.Config{Addr: addr}, nil, chserver.RoleReader)
		if got := cfg.Username == "reader" && cfg.Password != ""; got != local {
			t.Errorf("%s: logged in with the file's credentials: %v, want %v", addr, got, local)
		}
	}
}
