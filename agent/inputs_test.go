package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// gotLog is one log record as it arrived in Kafka, with its resource.
type gotLog struct {
	Body     string
	Severity plog.SeverityNumber
	SevText  string
	Time     time.Time
	TraceID  string
	SpanID   string
	Attrs    map[string]any
	Res      map[string]any
}

// allLogs decodes every log record c holds.
func allLogs(t testing.TB, c *consumed) []gotLog {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []gotLog
	var dec kafkawire.Decoder
	parts := make([]int, 0, len(c.raw))
	for p := range c.raw {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	for _, p := range parts {
		for _, m := range c.raw[p] {
			ld, err := dec.DecodeLogs(m.Value, m.Headers)
			if err != nil {
				t.Fatalf("decode logs: %v", err)
			}
			for res, lr := range wiretest.LogRecords(ld) {
				g := gotLog{Body: lr.Body().AsString(), Severity: lr.SeverityNumber(), SevText: lr.SeverityText(),
					Time: lr.Timestamp().AsTime(), Attrs: lr.Attributes().AsRaw(), Res: res.Attributes().AsRaw()}
				if !lr.TraceID().IsEmpty() {
					g.TraceID = lr.TraceID().String()
				}
				if !lr.SpanID().IsEmpty() {
					g.SpanID = lr.SpanID().String()
				}
				out = append(out, g)
			}
		}
	}
	return out
}

func bodies(logs []gotLog) []string {
	var b []string
	for _, l := range logs {
		b = append(b, l.Body)
	}
	sort.Strings(b)
	return b
}

func findLog(t testing.TB, logs []gotLog, body string) gotLog {
	t.Helper()
	for _, l := range logs {
		if l.Body == body {
			return l
		}
	}
	t.Fatalf("no record %q among %q", body, bodies(logs))
	return gotLog{}
}

// journalRemote is Debian's systemd-journal-remote, which writes journal
// files from export format: the tests read files the real tools wrote.
const journalRemote = "/lib/systemd/systemd-journal-remote"

// journalEntry is one entry to write; its timestamps are set by
// writeJournal.
type journalEntry map[string]string

// writeJournal writes entries into a new journal file in dir with
// systemd-journal-remote, timestamped relative to now.
func writeJournal(t testing.TB, dir, name string, entries ...journalEntry) {
	t.Helper()
	if _, err := os.Stat(journalRemote); err != nil {
		t.Fatalf("systemd-journal-remote not installed: run `make tools-journal-remote` (%v)", err)
	}
	var b bytes.Buffer
	now := time.Now()
	for i, e := range entries {
		ts := now.Add(time.Duration(i-len(entries)) * time.Millisecond)
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n", ts.UnixMicro(), ts.UnixMicro())
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, e[k])
		}
		b.WriteString("\n")
	}
	out := filepath.Join(dir, name+".journal")
	cmd := exec.Command(journalRemote, "--output="+out, "-")
	cmd.Stdin = &b
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v: %s", err, msg)
	}
}

func journaldConfigBody(dir string, extra string) string {
	return fmt.Sprintf("journald:\n  directory: %s\n  restart_delay: 100ms\n%s", dir, extra)
}

func waitLogs(t testing.TB, c *consumed, addr string, n int) []gotLog {
	t.Helper()
	c.waitFor(t, addr, kafkawire.DefaultLogsTopic, 30*time.Second, func(c *consumed) bool { return c.logRecords >= n })
	return allLogs(t, c)
}

func wantBodies(t testing.TB, logs []gotLog, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := bodies(logs); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("records\n got %q\nwant %q", got, want)
	}
}

// Mistakes in the journald, containers and syslog sections are reported
// together, each naming its key.
func TestNewSourcesValidate(t *testing.T) {
	y := `data_dir: /tmp/x
kafka: {brokers: [127.0.0.1:9092]}
journald: {priority: loud, directory: /j, files: [/f], journalctl: /nonexistent/journalctl}
containers: {pods_dir: relative, multiline: {start_pattern: "^x"}}
files: [{name: containers, include: [/var/log/x.log]}]
syslog: {format: cisco, tcp: {listen: 127.0.0.1:0, auth: {token: x}}, max_connections: -1, max_message_size: 1MiB}
`
	var cfg agent.Config
	err := config.Load(writeTemp(t, y), &cfg)
	for _, want := range []string{"journald.priority:", "journald.directory:", "containers.pods_dir:", "containers.multiline:", `named "containers"`,
		"syslog.format:", "syslog.tcp.auth:", "syslog.max_connections:", "syslog.max_message_size:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	// both syslog sockets off is a mistake too; a missing journalctl stops New
	if err := config.Load(writeTemp(t, "data_dir: /tmp/x\nkafka: {brokers: [127.0.0.1:9092]}\nsyslog: {}\n"), &agent.Config{}); err == nil || !strings.Contains(err.Error(), "syslog.tcp.listen:") {
		t.Errorf("syslog with nothing on: %v", err)
	}
	cfg = loadConfig(t, t.TempDir(), []string{"127.0.0.1:9092"}, "journald: {journalctl: /nonexistent/journalctl}\n")
	if _, err := agent.New(cfg, agent.Settings{}); err == nil || !strings.Contains(err.Error(), "journalctl") {
		t.Errorf("missing journalctl: %v", err)
	}
}

func writeTemp(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The contract with every new source on: Shutdown without Start and twice,
// and after Start twice.
func TestNewSourcesShutdownContract(t *testing.T) {
	body := "files: [{name: journald, include: [/nonexistent/*.log]}]\njournald: {directory: " + t.TempDir() + "}\ncontainers: {pods_dir: " + t.TempDir() + "}\nsyslog: {udp: {listen: 127.0.0.1:0}, tcp: {listen: 127.0.0.1:0}}\n"
	cfg := loadConfig(t, t.TempDir(), []string{"127.0.0.1:9"}, body)
	a, err := agent.New(cfg, agent.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := a.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown without Start (%d): %v", i, err)
		}
	}
	a, err = agent.New(cfg, agent.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// /metrics serves the new sources' counters (a clash of label sets
	// would fail the scrape)
	resp, err := http.Get("http://" + a.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`flowlens_agent_records_received_total{input="journald"}`, `flowlens_agent_records_received_total{input="syslog"}`,
		`flowlens_agent_records_received_total{input="containers"}`, `flowlens_agent_file_open{source="containers"}`, `flowlens_agent_syslog_messages_total`} {
		if resp.StatusCode != 200 || !strings.Contains(string(text), want) {
			t.Errorf("/metrics (%d) has no %s", resp.StatusCode, want)
		}
	}
	for i := 0; i < 2; i++ {
		if err := a.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown (%d): %v", i, err)
		}
	}
}
