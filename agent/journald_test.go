package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
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
