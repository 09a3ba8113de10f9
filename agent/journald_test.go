package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
)

// The journal's entries arrive with their fields; entries written while
// the agent runs follow; after a restart the agent goes on after the last
// entry it had, neither losing nor repeating any.
func TestJournaldFieldsFollowAndCursorAcrossRestart(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	journal, data := t.TempDir(), t.TempDir()
	writeJournal(t, journal, "a",
		journalEntry{"MESSAGE": "payment failed", "_SYSTEMD_UNIT": "cart.service", "PRIORITY": "3", "_PID": "4242", "_HOSTNAME": "web-1",
			"TRACE_ID": "0af7651916cd43dd8448eb211c80319c", "SPAN_ID": "b7ad6b7169203331", "CODE_FILE": "pay.go"},
		journalEntry{"MESSAGE": "started", "SYSLOG_IDENTIFIER": "cron", "PRIORITY": "6"},
		journalEntry{"MESSAGE": "three", "_SYSTEMD_UNIT": "db.service"},
	)
	cfg := loadConfig(t, data, b.Addrs(), journaldConfigBody(journal, ""))
	ra := startAgent(t, cfg)
	c := newConsumed()
	logs := waitLogs(t, c, b.Addrs()[0], 3)
	wantBodies(t, logs, "payment failed", "started", "three")

	pay := findLog(t, logs, "payment failed")
	if pay.Severity != plog.SeverityNumberError || pay.SevText != "err" {
		t.Errorf("severity %v %q", pay.Severity, pay.SevText)
	}
	if pay.TraceID != "0af7651916cd43dd8448eb211c80319c" || pay.SpanID != "b7ad6b7169203331" {
		t.Errorf("trace %q span %q", pay.TraceID, pay.SpanID)
	}
	for k, v := range map[string]any{"_SYSTEMD_UNIT": "cart.service", "_PID": "4242", "process.pid": int64(4242), "_HOSTNAME": "web-1", "CODE_FILE": "pay.go"} {
		if pay.Attrs[k] != v {
			t.Errorf("attribute %s = %v, want %v (all %v)", k, pay.Attrs[k], v, pay.Attrs)
		}
	}
	if pay.Res["service.name"] != "cart" || pay.Res["host.name"] != "testhost" {
		t.Errorf("resource %v", pay.Res)
	}
	if d := time.Since(pay.Time); d < 0 || d > time.Minute {
		t.Errorf("time %v is not the entry's", pay.Time)
	}
	if cron := findLog(t, logs, "started"); cron.Res["service.name"] != "cron" || cron.Severity != plog.SeverityNumberInfo {
		t.Errorf("identifier as service, info: %v %v", cron.Res, cron.Severity)
	}

	// followed while running
	writeJournal(t, journal, "b", journalEntry{"MESSAGE": "four", "_SYSTEMD_UNIT": "db.service"})
	waitLogs(t, c, b.Addrs()[0], 4)
	if src := wantSourceStatus(t, ra.a, "journald", "journald", 4); src.Cursor == "" {
		t.Errorf("status of journald has no cursor: %+v", src)
	}
	ra.stop(t)
	if cur, err := os.ReadFile(filepath.Join(data, "checkpoints", "journald.cursor")); err != nil || len(cur) < 10 {
		t.Fatalf("no cursor checkpoint after a stop: %q %v", cur, err)
	}

	// written while stopped: read after the restart, the rest not again
	writeJournal(t, journal, "c", journalEntry{"MESSAGE": "five", "_SYSTEMD_UNIT": "db.service"})
	startAgent(t, cfg)
	logs = waitLogs(t, c, b.Addrs()[0], 5)
	// give a repeat the time to show (the first run took well under this)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		c.poll(t, b.Addrs()[0], "otlp_logs")
		time.Sleep(200 * time.Millisecond)
	}
	logs = allLogs(t, c)
	wantBodies(t, logs, "payment failed", "started", "three", "four", "five")
}

// units and priority narrow what is read.
func TestJournaldFilters(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	journal := t.TempDir()
	writeJournal(t, journal, "a",
		journalEntry{"MESSAGE": "cart error", "_SYSTEMD_UNIT": "cart.service", "PRIORITY": "3"},
		journalEntry{"MESSAGE": "cart info", "_SYSTEMD_UNIT": "cart.service", "PRIORITY": "6"},
		journalEntry{"MESSAGE": "db error", "_SYSTEMD_UNIT": "db.service", "PRIORITY": "3"},
		journalEntry{"MESSAGE": "cart warning", "_SYSTEMD_UNIT": "cart.service", "PRIORITY": "4"},
		journalEntry{"MESSAGE": "last", "_SYSTEMD_UNIT": "cart.service", "PRIORITY": "0"},
	)
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), journaldConfigBody(journal, "  units: [cart.service]\n  priority: warning\n"))
	ra := startAgent(t, cfg)
	c := newConsumed()
	waitLogs(t, c, b.Addrs()[0], 3)
	ra.stop(t) // what was read is in Kafka after the stop
	c.poll(t, b.Addrs()[0], "otlp_logs")
	wantBodies(t, allLogs(t, c), "cart error", "cart warning", "last")
}

// A cursor checkpoint journalctl refuses (damaged, or of another
// journal) does not stop the source: it reads from start_at.
func TestJournaldBadCursorCheckpoint(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	journal, data := t.TempDir(), t.TempDir()
	writeJournal(t, journal, "a", journalEntry{"MESSAGE": "one"}, journalEntry{"MESSAGE": "two"})
	if err := os.MkdirAll(filepath.Join(data, "checkpoints"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "checkpoints", "journald.cursor"), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgent(t, loadConfig(t, data, b.Addrs(), journaldConfigBody(journal, "")))
	wantBodies(t, waitLogs(t, newConsumed(), b.Addrs()[0], 2), "one", "two")
}

// kill -9 while the journal is read: after the restart every entry is in
// Kafka, the restarted agent reads exactly the entries after the cursor
// checkpoint (which is written every 200ms), and the killed agent's
// journalctl does not outlive it.
func TestJournaldKillMinus9(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	addr := b.Addrs()[0]
	journal, dataDir := t.TempDir(), t.TempDir()
	const n = 50000
	entries := make([]journalEntry, n)
	for i := range entries {
		entries[i] = journalEntry{"MESSAGE": "entry " + strconv.Itoa(i), "_SYSTEMD_UNIT": "app.service"}
	}
	writeJournal(t, journal, "a", entries...)
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
data_dir: %s
log: {level: warn}
host_name: child
journald: {directory: %s}
batch: {max_records: 500}
otlp: {grpc: {listen: "off"}, http: {listen: "off"}}
kafka: {brokers: [%s], retry: {max: 200ms}}
metrics: {listen: 127.0.0.1:0}
`, dataDir, journal, addr)), 0o644)

	child := startChildAgent(t, cfgPath)
	cursorPath := filepath.Join(dataDir, "checkpoints", "journald.cursor")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(cursorPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no cursor checkpoint within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	child.kill()
	// the kernel signals journalctl when the agent dies (Pdeathsig); it
	// takes a moment to exit
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		pids := processesWith("--directory=" + journal)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("journalctl outlived the killed agent by 10s: pids %v", pids)
			break
		}
	}
	// the cursor names its entry's sequence number in the journal file
	// (i=<hex>, from 1): entries 0..seq-1 are behind it
	cur, err := os.ReadFile(cursorPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`i=([0-9a-f]+)`).FindSubmatch(cur)
	if m == nil {
		t.Fatalf("cursor %q has no sequence number", cur)
	}
	seq, _ := strconv.ParseInt(string(m[1]), 16, 64)

	child = startChildAgent(t, cfgPath)
	defer child.kill()
	c := newConsumed()
	// every entry, counted once: the entries between the killed agent's
	// cursor and its buffer come twice, so the record count alone reaches
	// n before the last entries are in
	c.waitFor(t, addr, kafkawire.DefaultLogsTopic, 60*time.Second, func(c *consumed) bool {
		distinct := map[string]bool{}
		for _, bodies := range c.logBodies {
			for _, b := range bodies {
				distinct[b] = true
			}
		}
		return len(distinct) >= n
	})
	seen := map[string]bool{}
	for _, l := range allLogs(t, c) {
		seen[l.Body] = true
	}
	for i := 0; i < n; i++ {
		if !seen["entry "+strconv.Itoa(i)] {
			t.Fatalf("entry %d lost (cursor at %d)", i, seq)
		}
	}
	// the restarted agent read the entries after the cursor, no more
	want := float64(n - seq)
	deadline = time.Now().Add(30 * time.Second)
	for {
		got := metricAt(child.addrs.Metrics, "flowlens_agent_records_received_total{input=\"journald\"}")
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted agent read %v entries, want %v (after the cursor at %d of %d)", got, want, seq, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("cursor at %d of %d at the kill; the restart read %v", seq, n, want)
}

// processesWith lists the running (not zombie) processes whose command
// line has arg.
func processesWith(arg string) []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []string
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(arg)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join(d, "stat")); err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue
		}
		pids = append(pids, filepath.Base(d))
	}
	return pids
}
