package collector

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/golden"
)

// What the collector leaves behind for the next owner of a partition, which
// may be another version: the pending marker in the Kafka commit metadata
// and the insert_deduplication_token the engine remembers. If either
// changed, a batch interrupted before an upgrade would be cut differently
// or stored twice after it.

var markerCases = []pendingMarker{{0, 0}, {1200, 3456}, {math.MaxInt64 - 1, math.MaxInt64}}

func TestPendingMarkerGolden(t *testing.T) {
	lines := make([]string, len(markerCases))
	for i, m := range markerCases {
		lines[i] = m.String()
	}
	path := filepath.Join("testdata", "pending_markers.golden")
	golden.Equal(t, path, []byte(strings.Join(lines, "\n")+"\n"))

	// and what a collector reads back from the reference bytes
	got := strings.Split(strings.TrimSuffix(string(golden.Read(t, path)), "\n"), "\n")
	if len(got) != len(markerCases) {
		t.Fatalf("%d markers in %s, want %d", len(got), path, len(markerCases))
	}
	for i, want := range markerCases {
		if m := parseMarker(got[i], want.start); m == nil || *m != want {
			t.Errorf("%q read as %v, want start %d, end %d", got[i], m, want.start, want.end)
		}
	}
}

func TestDeduplicationTokenGolden(t *testing.T) {
	var lines []string
	for _, tc := range []struct {
		topic     string
		partition string
		start     int64
		end       int64
	}{
		{"otlp_spans", "0", 0, 0},
		{"otlp_logs", "11", 1200, 3456},
		{"otlp_spans", "2", math.MaxInt64 - 1, math.MaxInt64},
	} {
		w := &worker{topic: tc.topic, partLabel: tc.partition}
		lines = append(lines, w.token(tc.start, tc.end))
	}
	golden.Equal(t, filepath.Join("testdata", "dedup_tokens.golden"), []byte(strings.Join(lines, "\n")+"\n"))
}
