package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/golden"
)

// The checkpoints file outlives the agent process: after a restart or an
// upgrade the agent finds each file again by the fingerprint of its first
// bytes and resumes at its committed offset. testdata/checkpoints.json holds
// one file identified by a full fingerprint and one still shorter than it.
const checkpointsGolden = "testdata/checkpoints.json"

const goldenFPMax = 64

var (
	fullHead  = strings.Repeat("2026-01-01T00:00:00Z level=info msg=started\n", 2)[:goldenFPMax]
	shortHead = "started\nshort file\n"
	lastSeen  = time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)
)

func TestCheckpointsFileGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	r, err := newRegistry(path, goldenFPMax, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.rekeyLocked(&entry{Offset: 1234, Path: "/var/log/shop/checkout.log", LastSeen: lastSeen}, []byte(fullHead))
	r.rekeyLocked(&entry{Offset: 19, Path: "/var/log/shop/new.log", LastSeen: lastSeen}, []byte(shortHead))
	r.mu.Unlock()
	if err := r.persist(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden.Equal(t, checkpointsGolden, b)
}

// An agent reading the reference file recognises both files by their
// first bytes and resumes where they were committed.
func TestCheckpointsGoldenResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	if err := os.WriteFile(path, golden.Read(t, checkpointsGolden), 0o640); err != nil {
		t.Fatal(err)
	}
	r, err := newRegistry(path, goldenFPMax, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".damaged"); err == nil {
		t.Fatal("the reference checkpoints were moved aside as damaged")
	}
	for _, tc := range []struct {
		head, path string
		offset     int64
	}{
		{fullHead + "more lines\n", "/var/log/shop/checkout.log", 1234},
		{shortHead + "grown since\n", "/var/log/shop/new.log", 19},
	} {
		r.mu.Lock()
		e := r.lookupLocked([]byte(tc.head))
		r.mu.Unlock()
		if e == nil {
			t.Errorf("%s not recognised by its first bytes", tc.path)
			continue
		}
		if e.Offset != tc.offset || e.Path != tc.path || !e.LastSeen.Equal(lastSeen) {
			t.Errorf("%s: offset %d, path %s, last seen %v; want %d, %s, %v", tc.path, e.Offset, e.Path, e.LastSeen, tc.offset, tc.path, lastSeen)
		}
	}
}
