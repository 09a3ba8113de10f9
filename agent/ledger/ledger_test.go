package ledger

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/kafkawire"
)

// A report carries an interval's counts as they stand; an interval is
// reported again only when it changed or its report failed, and is
// forgotten once all its records are accounted for and it has been quiet.
func TestBookReportsWhatChanged(t *testing.T) {
	now := time.Unix(1_764_979_230, 0)
	b := NewBook("web-1", time.Minute)
	b.now = func() time.Time { return now }
	iv := b.Interval()
	if iv != 1_764_979_200 {
		t.Fatalf("interval %d", iv)
	}
	b.Accepted(kafkawire.LedgerSpans, iv, 10)
	b.Acked(kafkawire.LedgerSpans, iv, 4)
	b.Accepted(kafkawire.LedgerLogs, iv, 3)
	b.Accepted(kafkawire.LedgerLogs, 0, 99) // a record from before the ledger: not counted

	first := b.Changed()
	if len(first) != 2 {
		t.Fatalf("reports %+v", first)
	}
	spans := first[0]
	if spans.Kind != kafkawire.LedgerSpans {
		spans = first[1]
	}
	if spans.Host != "web-1" || spans.Accepted != 10 || spans.Acked != 4 || spans.Seconds != 60 || spans.Interval != iv {
		t.Errorf("spans report %+v", spans)
	}
	if again := b.Changed(); len(again) != 0 {
		t.Errorf("nothing changed, reported %+v", again)
	}

	b.Acked(kafkawire.LedgerSpans, iv, 6)
	failed := b.Changed()
	if len(failed) != 1 || failed[0].Acked != 10 || failed[0].Seq <= spans.Seq {
		t.Fatalf("after 6 more acks: %+v", failed)
	}
	b.Unreported(failed)
	retried := b.Changed()
	if len(retried) != 1 || retried[0].Acked != 10 || retried[0].Seq <= failed[0].Seq {
		t.Fatalf("a failed report is sent again with a newer seq: %+v", retried)
	}

	// closed, accounted for, quiet: forgotten; the logs, never acked, stay
	now = now.Add(time.Minute + quiet + time.Second)
	b.Changed()
	b.mu.Lock()
	_, spansKept := b.entries[key{kafkawire.LedgerSpans, iv}]
	_, logsKept := b.entries[key{kafkawire.LedgerLogs, iv}]
	b.mu.Unlock()
	if spansKept || !logsKept {
		t.Errorf("kept spans %v (want false), logs %v (want true)", spansKept, logsKept)
	}
}
