package collector

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/golden"
)

// What the collector leaves behind for the next owner of a partition, which
// may be another version: the pending marker in the Kafka commit metadata
// and the insert_deduplication_token the engine remembers. If either
// changed, a batch interrupted before an upgrade would be cut differently
// or stored twice after it.

// The first three are batches of one partition, in the first version's
// form; the others span partitions (read by this version on).
var markerCases = []struct {
	partition int
	batch     batchRanges
}{
	{0, batchRanges{{0, 0, 0}}},
	{11, batchRanges{{11, 1200, 3456}}},
	{2, batchRanges{{2, math.MaxInt64 - 1, math.MaxInt64}}},
	{3, batchRanges{{0, 10, 20}, {3, 0, 0}, {11, 1200, 3456}}},
	{5, batchRanges{{1, 7, 7}, {5, math.MaxInt64 - 1, math.MaxInt64}}},
}

func TestPendingMarkerGolden(t *testing.T) {
	lines := make([]string, len(markerCases))
	for i, m := range markerCases {
		lines[i] = m.batch.marker()
	}
	path := filepath.Join("testdata", "pending_markers.golden")
	golden.Equal(t, path, []byte(strings.Join(lines, "\n")+"\n"))

	// and what a collector reads back from the reference bytes
	got := strings.Split(strings.TrimSuffix(string(golden.Read(t, path)), "\n"), "\n")
	if len(got) != len(markerCases) {
		t.Fatalf("%d markers in %s, want %d", len(got), path, len(markerCases))
	}
	for i, want := range markerCases {
		var committed int64
		for _, r := range want.batch {
			if r.partition == want.partition {
				committed = r.start
			}
		}
		if m := parseMarker(got[i], want.partition, committed); !slices.Equal(m, want.batch) {
			t.Errorf("%q read on partition %d as %v, want %v", got[i], want.partition, m, want.batch)
		}
	}
}

func TestDeduplicationTokenGolden(t *testing.T) {
	var lines []string
	for _, tc := range []struct {
		topic string
		batch batchRanges
	}{
		{"otlp_spans", batchRanges{{0, 0, 0}}},
		{"otlp_logs", batchRanges{{11, 1200, 3456}}},
		{"otlp_spans", batchRanges{{2, math.MaxInt64 - 1, math.MaxInt64}}},
		{"otlp_spans", batchRanges{{0, 10, 20}, {3, 0, 0}, {11, 1200, 3456}}},
	} {
		lines = append(lines, tc.batch.token(tc.topic))
	}
	golden.Equal(t, filepath.Join("testdata", "dedup_tokens.golden"), []byte(strings.Join(lines, "\n")+"\n"))
}
