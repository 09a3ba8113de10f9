package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/storage"
)

// `flowlens ledger` (as the reader) shows each host's counts, names the
// interval where records went missing and how, and exits non-zero; a host
// that is whole exits zero. (ledger/e2e_test.go runs the real pipeline.)
func TestLedgerCommand(t *testing.T) {
	c := newStorageCLI(t)
	ctx := context.Background()
	cfg := storage.Config{Addr: c.addr, Database: c.db}
	cfg.Username, cfg.Password = chtest.Admin(t)
	st := storetest.Open(t, cfg)
	iv := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Minute)
	reports := []storage.LedgerReport{
		{Interval: iv, Seconds: 60, Host: "web-1", Kind: "spans", Run: "r1", Accepted: 100, Acked: 90, Seq: 1},
		{Interval: iv, Seconds: 60, Host: "web-1", Kind: "spans", Run: "r1", Accepted: 100, Acked: 100, Seq: 2}, // replaces seq 1
		{Interval: iv, Seconds: 60, Host: "web-2", Kind: "logs", Run: "r2", Accepted: 50, Acked: 50, Seq: 1},
	}
	if err := st.InsertLedgerReports(ctx, reports, "t1"); err != nil {
		t.Fatal(err)
	}
	counts := []storage.LedgerCount{
		{Interval: iv, Host: "web-1", Kind: "spans", Stored: 85, DeadLettered: 3},
		{Interval: iv, Host: "web-2", Kind: "logs", Stored: 50},
	}
	if err := st.InsertLedgerCounts(ctx, counts, "t2"); err != nil {
		t.Fatal(err)
	}

	out, _, err := c.run("ledger", "--since", "1h")
	var missing errRecordsMissing
	if !errors.As(err, &missing) || missing != 12 {
		t.Fatalf("want 12 records missing, got %v\n%s", err, out)
	}
	for _, want := range []string{
		"web-1       100             100        0      85              3     12 ✗      0               0",
		"web-2        50              50        0      50              0      0        0               0",
		"web-1  " + iv.Format("2006-01-02 15:04:05") + "  spans  accepted 100, acked 100, stored 85, dead-lettered 3: 12 lost after Kafka (acknowledged, never stored)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if out, _, err := c.run("ledger", "--since", "1h", "--host", "web-2"); err != nil || strings.Contains(out, "web-1") {
		t.Errorf("--host web-2: %v\n%s", err, out)
	}
}
