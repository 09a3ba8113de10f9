package bench

import (
	"context"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// The poller finds a probe once its span is stored, and nothing else:
// not other services' spans, not probes sent before the time it asks from.
func TestStoredProbeIDs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := storetest.Migrated(t)

	now := time.Now()
	fresh, old, other := pcommon.TraceID{1}, pcommon.TraceID{2}, pcommon.TraceID{3}
	td := probeTrace(fresh, now)
	probeTrace(old, now.Add(-5*time.Minute)).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	notProbe := probeTrace(other, now)
	notProbe.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", "checkout")
	notProbe.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())

	conn := chtest.Open(t, s.Database())
	if found, err := storedProbeIDs(ctx, conn, s.Database(), now.Add(-time.Minute)); err != nil || len(found) != 0 {
		t.Fatalf("before the insert: found %v, err %v; want none", found, err)
	}
	var rows storage.SpanRows
	if n := rows.AppendTraces(td, nil); n != 3 {
		t.Fatalf("appended %d spans, want 3", n)
	}
	if err := s.InsertSpans(ctx, &rows, "probes"); err != nil {
		t.Fatal(err)
	}
	found, err := storedProbeIDs(ctx, conn, s.Database(), now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(fresh[:])
	if len(found) != 1 || !found[want] {
		t.Errorf("found %v, want only %s", found, want)
	}
}
