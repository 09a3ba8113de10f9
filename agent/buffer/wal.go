package buffer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Errors returned by the WAL.
var (
	// ErrFull: the buffer holds MaxSize of unacknowledged data, the policy is
	// block and the caller asked not to wait. Retry later.
	ErrFull = errors.New("disk buffer full")
	// ErrClosed: the WAL was closed.
	ErrClosed = errors.New("disk buffer closed")
)

const (
	frameHeader   = 8 // uint32 length, uint32 CRC-32C of the payload
	maxRecordSize = 256 << 20
	segmentExt    = ".wal"
	cursorFile    = "cursor"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Pos is the position just after one record: delivered up to here.
type Pos struct {
	Seg   uint64
	Off   int64
	Index int64 // records of the segment up to and including this one
}

func (p Pos) after(q Pos) bool {
	return p.Seg > q.Seg || p.Seg == q.Seg && p.Off > q.Off
}

// Entry is one record handed to the reader; Data is valid until the next Read.
type Entry struct {
	Pos  Pos
	Data []byte
}

// Stats are the WAL's counters.
type Stats struct {
	Bytes          int64 // unacknowledged bytes on disk
	Records        int64 // unacknowledged records
	Segments       int
	DroppedFull    int64 // records deleted by drop_oldest
	DroppedCorrupt int64 // records lost to checksum errors found on disk
	Fsyncs         int64
	Appended       int64 // records appended since start
	Acked          int64 // records acknowledged since start
	Waiting        int64 // appends waiting for space now (block policy): their sources are held back
}

type segment struct {
	id      uint64
	path    string
	size    int64
	records int64
}

type pendingAck struct {
	seq uint64
	fn  func()
}

// WAL is the disk buffer. Append, Read and Ack may be called concurrently;
// Read and Ack are meant for one reader.
type WAL struct {
	dir string
	cfg Config
	log *zap.Logger

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every state change
	segs      []*segment    // oldest first; the last one is written to
	active    *os.File
	unsynced  []*os.File // rotated segments awaiting fsync and close
	appendSeq uint64
	syncedSeq uint64
	pending   []pendingAck
	wbuf      []byte
	syncErr   error
	failed    chan struct{} // closed when syncErr is set
	closed    bool

	// reader position (next record to read)
	rSeg  uint64
	rOff  int64
	rIdx  int64
	rFile *os.File
	rID   uint64
	rbuf  []byte

	// acknowledged position
	aSeg   uint64
	aOff   int64
	aIdx   int64
	cursor *os.File
	cbuf   [28]byte

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	droppedFull, droppedCorrupt, fsyncs, appended, acked, waiting atomic.Int64
}

// Open opens (or creates) the WAL in dir, recovering what a crash left: a
// torn last record is cut off, acknowledged segments are removed.
func Open(dir string, cfg Config, log *zap.Logger) (*WAL, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create buffer dir: %w", err)
	}
	if cfg.Fsync == nil {
		cfg.Fsync = (*os.File).Sync
	}
	w := &WAL{dir: dir, cfg: cfg, log: log, changed: make(chan struct{}), kick: make(chan struct{}, 1), done: make(chan struct{}),
		failed: make(chan struct{})}
	if err := w.recover(); err != nil {
		w.closeFiles()
		return nil, err
	}
	w.wg.Add(1)
	go w.syncLoop()
	return w, nil
}

func (w *WAL) segPath(id uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%020d%s", id, segmentExt))
}

func (w *WAL) recover() error {
	cf, err := os.OpenFile(filepath.Join(w.dir, cursorFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open buffer cursor: %w", err)
	}
	w.cursor = cf
	var cb [28]byte
	if n, _ := cf.ReadAt(cb[:], 0); n == len(cb) && crc32.Checksum(cb[:24], castagnoli) == binary.LittleEndian.Uint32(cb[24:]) {
		w.aSeg = binary.LittleEndian.Uint64(cb[0:])
		w.aOff = int64(binary.LittleEndian.Uint64(cb[8:]))
		w.aIdx = int64(binary.LittleEndian.Uint64(cb[16:]))
	}
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("list buffer dir: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for i, id := range ids {
		path := w.segPath(id)
		if id < w.aSeg {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("remove acknowledged segment: %w", err)
			}
			continue
		}
		size, records, bad, err := scanSegment(path)
		if err != nil {
			return err
		}
		if bad {
			if i == len(ids)-1 {
				w.log.Warn("buffer: cutting a torn record at the end of the last segment", zap.String("segment", path), zap.Int64("offset", size))
				if err := os.Truncate(path, size); err != nil {
					return fmt.Errorf("truncate torn segment: %w", err)
				}
			} else {
				w.log.Error("buffer: checksum error inside a segment; the rest of it is skipped", zap.String("segment", path), zap.Int64("offset", size))
				w.droppedCorrupt.Add(1)
			}
		}
		w.segs = append(w.segs, &segment{id: id, path: path, size: size, records: records})
	}
	if len(w.segs) == 0 || w.segs[0].id != w.aSeg {
		// the cursor's segment is gone: start at the oldest one left
		w.aOff, w.aIdx = 0, 0
		if len(w.segs) > 0 {
			w.aSeg = w.segs[0].id
		}
	} else if w.aOff > w.segs[0].size {
		w.aOff, w.aIdx = w.segs[0].size, w.segs[0].records
	}
	if len(w.segs) == 0 {
		next := w.aSeg
		if next == 0 {
			next = 1
		}
		w.segs = append(w.segs, &segment{id: next, path: w.segPath(next)})
		w.aSeg, w.aOff, w.aIdx = next, 0, 0
	}
	last := w.segs[len(w.segs)-1]
	f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open buffer segment: %w", err)
	}
	w.active = f
	w.rSeg, w.rOff, w.rIdx = w.aSeg, w.aOff, w.aIdx
	if err := syncDir(w.dir, w.cfg.Fsync); err != nil {
		return err
	}
	return nil
}

// scanSegment validates every frame; it returns the end of the last good
// frame, the number of good records and whether something bad followed.
func scanSegment(path string) (size, records int64, bad bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false, fmt.Errorf("open buffer segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, false, fmt.Errorf("stat buffer segment: %w", err)
	}
	total := st.Size()
	var hdr [frameHeader]byte
	var buf []byte
	var off int64
	for off < total {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return off, records, true, nil
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		if n > maxRecordSize || off+frameHeader+n > total {
			return off, records, true, nil
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := f.ReadAt(buf, off+frameHeader); err != nil {
			return off, records, true, nil
		}
		if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return off, records, true, nil
		}
		off += frameHeader + n
		records++
	}
	return off, records, false, nil
}

func syncDir(dir string, fsync func(*os.File) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open buffer dir: %w", err)
	}
	defer d.Close()
	if err := fsync(d); err != nil {
		return fmt.Errorf("fsync buffer dir: %w", err)
	}
	return nil
}

func (w *WAL) broadcastLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *WAL) unackedLocked() int64 {
	var total int64
	for _, s := range w.segs {
		total += s.size
	}
	if len(w.segs) > 0 && w.segs[0].id == w.aSeg {
		total -= w.aOff
	}
	return total
}

// Append writes recs as consecutive records. When the buffer is full it
// follows the policy: drop_oldest deletes the oldest segment; block waits
// for space (wait=true, until ctx is done) or returns ErrFull (wait=false).
// onDurable (may be nil) runs once the records are fsynced, in append order,
// on the WAL's sync goroutine: it must not block.
func (w *WAL) Append(ctx context.Context, recs [][]byte, wait bool, onDurable func()) error {
	need := int64(0)
	for _, r := range recs {
		if len(r) > maxRecordSize {
			return fmt.Errorf("buffer append: record of %d bytes exceeds %d", len(r), maxRecordSize)
		}
		need += frameHeader + int64(len(r))
	}
	w.mu.Lock()
	for {
		if w.closed {
			w.mu.Unlock()
			return ErrClosed
		}
		if w.syncErr != nil {
			err := w.syncErr
			w.mu.Unlock()
			return err
		}
		used := w.unackedLocked()
		if used == 0 || used+need <= int64(w.cfg.MaxSize) {
			break
		}
		if w.cfg.WhenFull == PolicyDropOldest {
			if w.dropOldestLocked() {
				continue
			}
			break // only the active segment is left: write beyond the limit
		}
		if !wait {
			w.mu.Unlock()
			return ErrFull
		}
		ch := w.changed
		w.mu.Unlock()
		w.waiting.Add(1)
		select {
		case <-ctx.Done():
			w.waiting.Add(-1)
			return ctx.Err()
		case <-ch:
		}
		w.waiting.Add(-1)
		w.mu.Lock()
	}
	defer w.mu.Unlock()
	seg := w.segs[len(w.segs)-1]
	if seg.size > 0 && seg.size+need > int64(w.cfg.SegmentSize) {
		if err := w.rotateLocked(); err != nil {
			return err
		}
		seg = w.segs[len(w.segs)-1]
	}
	buf := w.wbuf[:0]
	for _, r := range recs {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(r)))
		buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(r, castagnoli))
		buf = append(buf, r...)
	}
	if cap(buf) <= 4<<20 {
		w.wbuf = buf
	}
	if _, err := w.active.Write(buf); err != nil {
		// cut a partial write so the segment stays well-formed
		_ = w.active.Truncate(seg.size)
		return fmt.Errorf("buffer append: %w", err)
	}
	seg.size += need
	seg.records += int64(len(recs))
	w.appended.Add(int64(len(recs)))
	w.appendSeq++
	if onDurable != nil {
		w.pending = append(w.pending, pendingAck{seq: w.appendSeq, fn: onDurable})
	}
	w.broadcastLocked()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return nil
}

func (w *WAL) rotateLocked() error {
	next := w.segs[len(w.segs)-1].id + 1
	path := w.segPath(next)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("create buffer segment: %w", err)
	}
	w.unsynced = append(w.unsynced, w.active)
	w.active = f
	w.segs = append(w.segs, &segment{id: next, path: path})
	return nil
}

// dropOldestLocked deletes the oldest segment if it is not the active one.
func (w *WAL) dropOldestLocked() bool {
	if len(w.segs) < 2 {
		return false
	}
	s := w.segs[0]
	lost := s.records
	if w.aSeg == s.id {
		lost -= w.aIdx
	}
	w.droppedFull.Add(lost)
	w.log.Warn("buffer full: dropped the oldest segment", zap.String("segment", s.path), zap.Int64("records", lost))
	_ = os.Remove(s.path)
	w.segs = w.segs[1:]
	next := w.segs[0].id
	if w.aSeg <= s.id {
		w.aSeg, w.aOff, w.aIdx = next, 0, 0
		w.writeCursorLocked()
	}
	if w.rSeg <= s.id {
		w.rSeg, w.rOff, w.rIdx = next, 0, 0
	}
	w.broadcastLocked()
	return true
}

func (w *WAL) syncLoop() {
	defer w.wg.Done()
	var last time.Time
	for {
		stop := false
		select {
		case <-w.kick:
		case <-w.done:
			stop = true
		}
		if !stop && w.cfg.SyncInterval > 0 {
			if d := time.Until(last.Add(w.cfg.SyncInterval)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-w.done:
					t.Stop()
					stop = true
				}
			}
		}
		w.syncOnce()
		last = time.Now()
		if stop {
			return
		}
	}
}

func (w *WAL) syncOnce() {
	w.mu.Lock()
	target := w.appendSeq
	if target == w.syncedSeq && len(w.unsynced) == 0 {
		w.mu.Unlock()
		return
	}
	rotated := w.unsynced
	w.unsynced = nil
	active := w.active
	w.mu.Unlock()

	var err error
	for _, f := range rotated {
		if e := w.cfg.Fsync(f); e != nil && err == nil {
			err = e
		}
		_ = f.Close()
	}
	if len(rotated) > 0 {
		if e := syncDir(w.dir, w.cfg.Fsync); e != nil && err == nil {
			err = e
		}
	}
	if e := w.cfg.Fsync(active); e != nil && err == nil {
		err = e
	}
	w.fsyncs.Add(1)

	w.mu.Lock()
	if err != nil {
		// Like Vector: data that cannot be made durable must not be
		// acknowledged. After a failed fsync the kernel may have dropped
		// the dirty pages, so what a retry would "sync" is unknown: the
		// buffer stops, and the agent exits to be restarted (it reads
		// the segments again from disk).
		if w.syncErr == nil {
			w.syncErr = fmt.Errorf("buffer fsync: %w", err)
			close(w.failed)
		}
		w.log.Error("buffer: fsync failed; no more records are accepted", zap.Error(err))
		w.broadcastLocked()
		w.mu.Unlock()
		return
	}
	w.syncedSeq = target
	n := 0
	for n < len(w.pending) && w.pending[n].seq <= target {
		n++
	}
	ready := make([]pendingAck, n)
	copy(ready, w.pending[:n])
	w.pending = append(w.pending[:0], w.pending[n:]...)
	w.mu.Unlock()
	for _, p := range ready {
		p.fn()
	}
}

// Failed is closed when the buffer failed for good (an fsync failed): it
// takes no more records. Err says why.
func (w *WAL) Failed() <-chan struct{} { return w.failed }

// Err is why the buffer failed, or nil.
func (w *WAL) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncErr
}

// Read returns the next records in append order, waiting until there is at
// least one (or ctx is done). It returns up to about maxBytes of payload.
// The Data of the returned entries is valid until the next Read.
func (w *WAL) Read(ctx context.Context, maxBytes int, dst []Entry) ([]Entry, error) {
	dst = dst[:0]
	for {
		w.mu.Lock()
		var seg *segment
		for {
			if w.closed {
				w.mu.Unlock()
				return dst, ErrClosed
			}
			if w.rSeg < w.segs[0].id {
				w.rSeg, w.rOff, w.rIdx = w.segs[0].id, 0, 0
			}
			seg = nil
			for _, s := range w.segs {
				if s.id == w.rSeg {
					seg = s
					break
				}
			}
			if seg != nil && w.rOff < seg.size {
				break
			}
			if seg != nil && seg != w.segs[len(w.segs)-1] {
				w.rSeg, w.rOff, w.rIdx = w.segs[indexOf(w.segs, seg)+1].id, 0, 0
				continue
			}
			ch := w.changed
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return dst, ctx.Err()
			case <-ch:
			}
			w.mu.Lock()
		}
		id, off, idx, avail := seg.id, w.rOff, w.rIdx, seg.size-w.rOff
		w.mu.Unlock()

		if w.rFile == nil || w.rID != id {
			if w.rFile != nil {
				_ = w.rFile.Close()
				w.rFile = nil
			}
			f, err := os.Open(w.segPath(id))
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // dropped meanwhile
				}
				return dst, fmt.Errorf("buffer read: %w", err)
			}
			w.rFile, w.rID = f, id
		}
		n := min(avail, int64(maxBytes))
		if n < frameHeader {
			n = min(avail, frameHeader)
		}
		buf, err := w.readAt(n, off)
		if err != nil {
			return dst, err
		}
		if len(buf) >= frameHeader {
			if first := frameHeader + int64(binary.LittleEndian.Uint32(buf)); first > int64(len(buf)) && first <= avail {
				if buf, err = w.readAt(first, off); err != nil {
					return dst, err
				}
			}
		}
		p := 0
		corrupt := false
		for p+frameHeader <= len(buf) {
			if ln := int64(binary.LittleEndian.Uint32(buf[p:])); p == 0 && frameHeader+ln > avail {
				corrupt = true // a length pointing past the written end
				break
			}
			ln := int(binary.LittleEndian.Uint32(buf[p:]))
			if p+frameHeader+ln > len(buf) {
				break
			}
			data := buf[p+frameHeader : p+frameHeader+ln]
			if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(buf[p+4:]) {
				corrupt = true
				break
			}
			p += frameHeader + ln
			idx++
			dst = append(dst, Entry{Pos: Pos{Seg: id, Off: off + int64(p), Index: idx}, Data: data})
		}
		w.mu.Lock()
		if w.rSeg == id && w.rOff == off {
			w.rOff, w.rIdx = off+int64(p), idx
			if corrupt {
				w.log.Error("buffer: checksum error while reading; skipping the rest of the segment", zap.Uint64("segment", id), zap.Int64("offset", w.rOff))
				w.droppedCorrupt.Add(seg.records - idx)
				w.rOff = seg.size
			}
		}
		w.mu.Unlock()
		if len(dst) > 0 {
			return dst, nil
		}
	}
}

func (w *WAL) readAt(n, off int64) ([]byte, error) {
	if int64(cap(w.rbuf)) < n {
		w.rbuf = make([]byte, n)
	}
	buf := w.rbuf[:n]
	if _, err := w.rFile.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("buffer read: %w", err)
	}
	return buf, nil
}

func indexOf(segs []*segment, s *segment) int {
	for i := range segs {
		if segs[i] == s {
			return i
		}
	}
	return -1
}

// Ack marks everything up to and including the record ending at pos as
// delivered; fully delivered segments are deleted.
func (w *WAL) Ack(pos Pos) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || !pos.after(Pos{Seg: w.aSeg, Off: w.aOff}) {
		return nil
	}
	if pos.Seg < w.segs[0].id {
		return nil // its segment was dropped meanwhile
	}
	var n int64
	if pos.Seg == w.aSeg {
		n = pos.Index - w.aIdx
	} else {
		for _, s := range w.segs {
			switch {
			case s.id == w.aSeg:
				n += s.records - w.aIdx
			case s.id > w.aSeg && s.id < pos.Seg:
				n += s.records
			}
		}
		n += pos.Index
	}
	w.acked.Add(n)
	w.aSeg, w.aOff, w.aIdx = pos.Seg, pos.Off, pos.Index
	for len(w.segs) > 1 && (w.segs[0].id < w.aSeg || w.segs[0].id == w.aSeg && w.aOff >= w.segs[0].size) {
		s := w.segs[0]
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.log.Warn("buffer: remove delivered segment", zap.Error(err))
		}
		w.segs = w.segs[1:]
		if w.aSeg <= s.id {
			w.aSeg, w.aOff, w.aIdx = w.segs[0].id, 0, 0
		}
	}
	w.writeCursorLocked()
	w.broadcastLocked()
	return nil
}

// writeCursorLocked stores the acknowledged position: one 28-byte write at
// offset 0 (atomic with respect to a process crash; a torn write after a
// power loss fails the CRC and the oldest segment is replayed).
func (w *WAL) writeCursorLocked() {
	binary.LittleEndian.PutUint64(w.cbuf[0:], w.aSeg)
	binary.LittleEndian.PutUint64(w.cbuf[8:], uint64(w.aOff))
	binary.LittleEndian.PutUint64(w.cbuf[16:], uint64(w.aIdx))
	binary.LittleEndian.PutUint32(w.cbuf[24:], crc32.Checksum(w.cbuf[:24], castagnoli))
	if _, err := w.cursor.WriteAt(w.cbuf[:], 0); err != nil {
		w.log.Warn("buffer: write cursor (records may be sent twice after a restart)", zap.Error(err))
	}
}

// Stats returns the counters.
func (w *WAL) Stats() Stats {
	w.mu.Lock()
	st := Stats{Bytes: w.unackedLocked(), Segments: len(w.segs)}
	for _, s := range w.segs {
		st.Records += s.records
	}
	if len(w.segs) > 0 && w.segs[0].id == w.aSeg {
		st.Records -= w.aIdx
	}
	w.mu.Unlock()
	st.DroppedFull = w.droppedFull.Load()
	st.DroppedCorrupt = w.droppedCorrupt.Load()
	st.Fsyncs = w.fsyncs.Load()
	st.Appended = w.appended.Load()
	st.Acked = w.acked.Load()
	st.Waiting = w.waiting.Load()
	return st
}

// Full reports whether an append of n bytes would exceed MaxSize now.
func (w *WAL) Full(n int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	used := w.unackedLocked()
	return used > 0 && used+int64(n) > int64(w.cfg.MaxSize)
}

// Close fsyncs what was written, runs the pending durability callbacks and
// closes the files. Blocked Append and Read calls return ErrClosed.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.broadcastLocked()
	w.mu.Unlock()
	close(w.done)
	w.wg.Wait() // the sync loop does a last fsync and runs the callbacks
	w.mu.Lock()
	err := w.syncErr
	w.mu.Unlock()
	w.closeFiles()
	return err
}

func (w *WAL) closeFiles() {
	for _, f := range []*os.File{w.active, w.rFile, w.cursor} {
		if f != nil {
			_ = f.Close()
		}
	}
}
