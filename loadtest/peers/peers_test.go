package peers

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/storage"
)

// The spans are production-like: 10 per trace, 10-20 attributes each, and
// the IDs, URLs, user agents, sessions and users of one trace appear in no
// other (the engine cannot compress them away as a small set of repeated
// strings).
func TestTracesShape(t *testing.T) {
	const traces = 2000
	seen := map[string]map[string]int{} // attribute -> value -> trace
	spanIDs := map[pcommon.SpanID]bool{}
	at := time.Now()
	for i := range traces {
		td := Trace(1, i, at)
		if n := td.SpanCount(); n != SpansPerTrace {
			t.Fatalf("trace %d has %d spans, want %d", i, n, SpansPerTrace)
		}
		for r := 0; r < td.ResourceSpans().Len(); r++ {
			spans := td.ResourceSpans().At(r).ScopeSpans().At(0).Spans()
			for s := 0; s < spans.Len(); s++ {
				sp := spans.At(s)
				if spanIDs[sp.SpanID()] {
					t.Fatalf("span ID %s repeats", sp.SpanID())
				}
				spanIDs[sp.SpanID()] = true
				if n := sp.Attributes().Len(); n < 10 || n > 20 {
					t.Errorf("trace %d span %d has %d attributes, want 10-20", i, s, n)
				}
				for _, key := range []string{"url.full", "user_agent.original", "session.id", "enduser.id", "request.id"} {
					v, ok := sp.Attributes().Get(key)
					if !ok {
						t.Fatalf("trace %d span %d has no %s", i, s, key)
					}
					if seen[key] == nil {
						seen[key] = map[string]int{}
					}
					if other, ok := seen[key][v.Str()]; ok && other != i {
						t.Errorf("%s %q in traces %d and %d", key, v.Str(), other, i)
					}
					seen[key][v.Str()] = i
				}
			}
		}
	}
}

func TestTableMediansAndRatios(t *testing.T) {
	results := []Result{
		{Peer: OTel, Run: 1, Spans: 200_000, Unique: 200_000, Stored: 200_000, Wall: 4 * time.Second, CollectorCPU: 4, EngineCPU: 3, CollectorRSSMB: 600},
		{Peer: OTel, Run: 2, Spans: 200_000, Unique: 200_000, Stored: 212_000, Wall: 5 * time.Second, CollectorCPU: 5, EngineCPU: 4, CollectorRSSMB: 700},
		{Peer: Flowlens, Run: 1, Spans: 200_000, Unique: 200_000, Stored: 200_000, Wall: 2 * time.Second, CollectorCPU: 1, EngineCPU: 2, CollectorRSSMB: 300},
		{Peer: Flowlens, Run: 2, Spans: 200_000, Unique: 200_000, Stored: 200_000, Wall: 3 * time.Second, CollectorCPU: 2, EngineCPU: 2, CollectorRSSMB: 400},
	}
	m, ok := Median(results, OTel)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6*b }
	if !ok || !near(m.SpansPerSec(), 45_000) || !near(m.Per100k(m.CollectorCPU), 2.25) || m.CollectorRSSMB != 650 {
		t.Errorf("otelcol median: %.0f spans/s, %.2f CPU-s/100k, %.0f MB", m.SpansPerSec(), m.Per100k(m.CollectorCPU), m.CollectorRSSMB)
	}
	var out bytes.Buffer
	if err := WriteTable(&out, results); err != nil {
		t.Fatal(err)
	}
	// flowlens: 83,333 spans/s against 45,000; CPU together 3.5 against 8 per 200k
	for _, want := range []string{"spans/s 1.85x", "together 0.44x", "collector RSS 0.54x", "otelcol run 2: 212000 rows for 200000 spans (200000 of them stored): 12000 stored twice"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table without %q:\n%s", want, out.String())
		}
	}
}

// A variant's YAML reaches flowlens collector's config beside the run's
// group, in the shape the collector reads (its keys and a storage section).
func TestCollectorConfigCarriesTheVariant(t *testing.T) {
	var file struct {
		collector.Config `yaml:",inline"`
		Storage          storage.Config `yaml:"storage"`
	}
	data := collectorConfig("bench-7", []byte("storage:\n  trace_id_projection: false\n"))
	if err := config.Decode(data, &file); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	if file.GroupID != "bench-7" {
		t.Errorf("group_id %q, want the run's group bench-7", file.GroupID)
	}
	if file.Storage.Projection() {
		t.Error("the variant's trace_id_projection: false was lost")
	}
}
