package tail

import (
	"os"
	"sort"
	"time"
)

// FileStatus is where the reading of one open file stands.
type FileStatus struct {
	Path string `json:"path"`
	// Size is the file's size now.
	Size int64 `json:"size"`
	// ReadOffset is how far it was read and handed over.
	ReadOffset int64 `json:"read_offset"`
	// CommittedOffset is how far its lines are safe (fsynced in the buffer):
	// a restart resumes here.
	CommittedOffset int64 `json:"committed_offset"`
	// LagBytes is what is written but not read yet (Size - ReadOffset).
	LagBytes int64 `json:"lag_bytes"`
}

// LastError is the most recent read or checkpoint error of a Tailer.
type LastError struct {
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

type lastError = LastError

func (t *Tailer) setLastError(err error) {
	t.lastErr.Store(&lastError{Message: err.Error(), At: time.Now()})
}

// LastError returns the most recent read or checkpoint error (nil: none).
func (t *Tailer) LastError() *LastError { return t.lastErr.Load() }

// Files describes the files being read now, by path. Safe from any
// goroutine; it stats each open file.
func (t *Tailer) Files() []FileStatus {
	t.mu.Lock()
	out := make([]FileStatus, 0, len(t.readers))
	files := make([]*os.File, 0, len(t.readers))
	for _, rd := range t.readers {
		out = append(out, FileStatus{Path: rd.path, ReadOffset: rd.offPub.Load()})
		files = append(files, rd.f)
	}
	t.mu.Unlock()
	for i := range out {
		if fi, err := files[i].Stat(); err == nil {
			out[i].Size = fi.Size()
		}
		out[i].LagBytes = max(0, out[i].Size-out[i].ReadOffset)
	}
	t.reg.mu.Lock()
	t.mu.Lock()
	committed := make(map[string]int64, len(t.readers))
	for _, rd := range t.readers {
		committed[rd.path] = rd.e.Offset
	}
	t.mu.Unlock()
	t.reg.mu.Unlock()
	for i := range out {
		out[i].CommittedOffset = committed[out[i].Path]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
