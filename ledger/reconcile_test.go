package ledger

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/storage"
)

// What each interval says, judged at a given time: open until its end plus
// the grace, missing split into before and after Kafka, extra, and stored
// without a report.
func TestReconcileJudgesClosedIntervals(t *testing.T) {
	t0 := time.Unix(1_764_979_200, 0).UTC()
	rows := []storage.LedgerRow{
		// host-a: 2 lost in the buffer, 3 lost after Kafka, 1 dropped on purpose
		{Interval: t0, Seconds: 60, Host: "host-a", Kind: "spans", Accepted: 100, Acked: 97, Dropped: 1, Stored: 90, DeadLettered: 4, Runs: 1},
		// host-a, the next interval: still open at now
		{Interval: t0.Add(time.Minute), Seconds: 60, Host: "host-a", Kind: "spans", Accepted: 10, Acked: 5, Stored: 5, Runs: 1},
		// host-b: stored twice after its agent restarted
		{Interval: t0, Seconds: 60, Host: "host-b", Kind: "logs", Accepted: 50, Acked: 55, Stored: 55, Runs: 2},
		// host-b: stored, no report
		{Interval: t0.Add(-time.Minute), Host: "host-b", Kind: "logs", Stored: 7},
	}
	now := t0.Add(time.Minute + 2*time.Minute + 30*time.Second) // the first interval closed, the second not
	rep := Reconcile(rows, now, 2*time.Minute)
	if len(rep.Hosts) != 2 || rep.Hosts[0].Name != "host-a" {
		t.Fatalf("hosts %+v", rep.Hosts)
	}
	a := rep.Hosts[0]
	want := Counts{Accepted: 100, Acked: 97, Dropped: 1, Stored: 90, DeadLettered: 4, Missing: 5, LostBeforeKafka: 2, LostAfterKafka: 3}
	if a.Closed != want || a.Open != 1 {
		t.Errorf("host-a closed %+v, %d open\nwant %+v, 1 open", a.Closed, a.Open, want)
	}
	b := rep.Hosts[1]
	if b.Closed.Missing != 0 || b.Closed.Extra != 5+7 || b.Open != 0 {
		t.Errorf("host-b %+v", b)
	}
	if iv := b.Intervals[0]; iv.Reported || !iv.Closed || iv.Extra != 7 {
		t.Errorf("the unreported interval %+v", iv)
	}
	if rep.Missing != 5 || rep.Extra != 12 {
		t.Errorf("totals missing %d extra %d", rep.Missing, rep.Extra)
	}
}
