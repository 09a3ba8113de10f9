package tail

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestWatchReadsWithoutPolling: with change notification the tailer reads
// a written line, a new file and a file in a new folder at once, although
// it would poll and scan only every hour; a file closed as inactive is
// opened again when it is written.
func TestWatchReadsWithoutPolling(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	appendLines(t, filepath.Join(logs, "a.log"), 0, 3)
	s := &sink{}
	cfg := Config{Include: []string{filepath.Join(logs, "**", "*.log")}, ScanInterval: time.Hour, PollInterval: time.Hour, CloseInactive: time.Second}
	r := startAsIs(t, cfg, filepath.Join(dir, "c.json"), s, zap.NewNop())
	s.waitCount(t, 3) // the first scan
	appendLines(t, filepath.Join(logs, "a.log"), 3, 5)
	s.waitCount(t, 5)
	appendLines(t, filepath.Join(logs, "b.log"), 0, 2)
	s.waitCount(t, 7)
	os.MkdirAll(filepath.Join(logs, "pod", "c1"), 0o755)
	appendLines(t, filepath.Join(logs, "pod", "c1", "c.log"), 0, 4)
	s.waitCount(t, 11)
	// a.log closes after a second without data; a write opens it again
	deadline := time.Now().Add(15 * time.Second)
	for r.t.Stats().OpenFiles == 3 {
		if time.Now().After(deadline) {
			t.Fatal("no file closed as inactive")
		}
		time.Sleep(20 * time.Millisecond)
	}
	appendLines(t, filepath.Join(logs, "a.log"), 5, 6)
	s.waitCount(t, 12)
	r.stop(t)
	got := map[string][]string{}
	for _, l := range s.snapshot() {
		name := l[len("line 000000 of "):]
		got[name] = append(got[name], l)
	}
	checkExact(t, got["a.log"], 6, "a.log")
	checkExact(t, got["b.log"], 2, "b.log")
	checkExact(t, got["c.log"], 4, "c.log")
}
