package tail

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.uber.org/zap"
)

// entry is the state of one file identity (one fingerprint).
type entry struct {
	FPLen    int       `json:"fp_len"`
	FPHash   uint64    `json:"fp_hash"`
	Offset   int64     `json:"offset"` // committed: everything before it is safe
	Path     string    `json:"path"`
	LastSeen time.Time `json:"last_seen"`

	reading bool  // a reader owns it
	readOff int64 // in memory: read (handed over) up to here, maybe not yet safe
}

// registry holds the identities and persists their committed offsets.
type registry struct {
	path  string
	fpMax int

	mu      sync.Mutex
	full    map[uint64]*entry // FPLen == fpMax, by hash
	short   []*entry          // 0 < FPLen < fpMax
	dirty   bool
	kick    chan struct{}
	written chan struct{} // closed and replaced after each write (tests)
	writes  int           // checkpoint files written (tests)
	err     error
}

func newRegistry(path string, fpMax int, log *zap.Logger) (*registry, error) {
	r := &registry{path: path, fpMax: fpMax, full: map[uint64]*entry{}, kick: make(chan struct{}, 1), written: make(chan struct{})}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	if len(data) > 0 {
		var entries []*entry
		if err := json.Unmarshal(data, &entries); err != nil {
			// e.g. an empty file after a power loss: keep it for a look, start
			// without checkpoints (files are read again: duplicates, not loss)
			aside := path + ".damaged"
			_ = os.Rename(path, aside)
			log.Error("checkpoints are damaged; moved aside, files will be read from their start (duplicates)", zap.String("path", path), zap.String("moved_to", aside), zap.Error(err))
			entries = nil
		}
		for _, e := range entries {
			if e.FPLen > 0 && e.FPLen <= fpMax {
				r.insertLocked(e)
			}
		}
	}
	return r, nil
}

func (r *registry) insertLocked(e *entry) {
	if e.FPLen >= r.fpMax {
		r.full[e.FPHash] = e
	} else {
		r.short = append(r.short, e)
	}
}

func (r *registry) removeLocked(e *entry) {
	if e.FPLen >= r.fpMax {
		if r.full[e.FPHash] == e {
			delete(r.full, e.FPHash)
		}
		return
	}
	for i, s := range r.short {
		if s == e {
			r.short = append(r.short[:i], r.short[i+1:]...)
			return
		}
	}
}

// lookupLocked finds the identity whose fingerprint is a prefix of head.
func (r *registry) lookupLocked(head []byte) *entry {
	if len(head) >= r.fpMax {
		if e := r.full[xxhash.Sum64(head[:r.fpMax])]; e != nil {
			return e
		}
	}
	for _, e := range r.short {
		if e.FPLen <= len(head) && xxhash.Sum64(head[:e.FPLen]) == e.FPHash {
			return e
		}
	}
	return nil
}

// rekeyLocked updates the fingerprint of e to head (which starts with its old one).
func (r *registry) rekeyLocked(e *entry, head []byte) {
	n := min(len(head), r.fpMax)
	if n <= e.FPLen {
		return
	}
	if e.FPLen > 0 {
		r.removeLocked(e)
	}
	e.FPLen, e.FPHash = n, xxhash.Sum64(head[:n])
	if old := r.lookupExactLocked(e); old != nil && old != e {
		// another identity with the same fingerprint (an old copy): the
		// newest wins
		r.removeLocked(old)
	}
	r.insertLocked(e)
	r.markDirtyLocked()
}

func (r *registry) lookupExactLocked(e *entry) *entry {
	if e.FPLen >= r.fpMax {
		return r.full[e.FPHash]
	}
	for _, s := range r.short {
		if s.FPLen == e.FPLen && s.FPHash == e.FPHash {
			return s
		}
	}
	return nil
}

// commit advances the committed offset of e (called when lines up to off are safe).
func (r *registry) commit(e *entry, off int64) {
	r.mu.Lock()
	if off > e.Offset {
		e.Offset = off
		r.markDirtyLocked()
	}
	r.mu.Unlock()
}

func (r *registry) markDirtyLocked() {
	r.dirty = true
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// gcLocked forgets identities not seen for ttl that nobody reads.
func (r *registry) gcLocked(now time.Time, ttl time.Duration) {
	for h, e := range r.full {
		if !e.reading && now.Sub(e.LastSeen) > ttl {
			delete(r.full, h)
			r.dirty = true
		}
	}
	kept := r.short[:0]
	for _, e := range r.short {
		if !e.reading && now.Sub(e.LastSeen) > ttl {
			r.dirty = true
			continue
		}
		kept = append(kept, e)
	}
	r.short = kept
}

// persist writes the checkpoints if they changed: write a temporary file,
// then rename it over the old one (a crash leaves either version whole).
func (r *registry) persist() error {
	r.mu.Lock()
	if !r.dirty {
		r.mu.Unlock()
		return nil
	}
	r.dirty = false
	entries := make([]entry, 0, len(r.full)+len(r.short))
	for _, e := range r.full {
		entries = append(entries, *e)
	}
	for _, e := range r.short {
		entries = append(entries, *e)
	}
	r.mu.Unlock()
	data, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("encode checkpoints: %w", err)
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return fmt.Errorf("write checkpoints: %w", err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("write checkpoints: %w", err)
	}
	r.mu.Lock()
	r.writes++
	close(r.written)
	r.written = make(chan struct{})
	r.mu.Unlock()
	return nil
}

func ensureDir(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create checkpoint dir: %w", err)
	}
	return nil
}
