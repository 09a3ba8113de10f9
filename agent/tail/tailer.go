package tail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"go.uber.org/zap"
)

// forgetAfter is how long an identity whose file is no longer found is kept.
const forgetAfter = 24 * time.Hour

// HandlerFactory makes the Handler of a newly opened file.
type HandlerFactory func(File) Handler

// Tailer follows the files of one Config.
type Tailer struct {
	cfg     Config
	log     *zap.Logger
	factory HandlerFactory
	reg     *registry
	start   *regexp.Regexp

	mu        sync.Mutex
	readers   map[devIno]*reader
	byPath    map[string]*reader // the readers by their path, for change notification
	firstScan bool
	refused   map[string]bool // links out of the include patterns, said once
	wg        sync.WaitGroup

	bufs      sync.Pool     // *[]byte read buffers
	tokens    chan struct{} // files reading at the same time
	stop      chan struct{}
	persisted chan struct{}
	scanNow   chan struct{}
	closeOnce sync.Once

	lastErr atomic.Pointer[lastError]

	linesRead, bytesRead, tooLong, rotations, truncations, readErrors, blank, ckptErr, scans, linksRefused atomic.Int64
}

// refuseOnce counts a path that leads out of the include patterns and says
// so once per path.
func (t *Tailer) refuseOnce(path string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refused == nil {
		t.refused = map[string]bool{}
	}
	if t.refused[path] {
		return
	}
	if len(t.refused) < 1024 {
		t.refused[path] = true
	}
	t.linksRefused.Add(1)
	t.log.Warn("not following a link out of the include patterns", zap.Error(err))
}

// New loads the checkpoints from checkpointPath (a file in the data
// folder). cfg must be defaulted and validated.
func New(cfg Config, checkpointPath string, factory HandlerFactory, log *zap.Logger) (*Tailer, error) {
	if err := ensureDir(checkpointPath); err != nil {
		return nil, err
	}
	reg, err := newRegistry(checkpointPath, int(cfg.FingerprintSize), log)
	if err != nil {
		return nil, err
	}
	t := &Tailer{cfg: cfg, log: log, factory: factory, reg: reg, readers: map[devIno]*reader{}, firstScan: true,
		byPath: map[string]*reader{}, stop: make(chan struct{}), persisted: make(chan struct{}), scanNow: make(chan struct{}, 1)}
	t.bufs.New = func() any { b := make([]byte, 256<<10); return &b }
	t.tokens = make(chan struct{}, max(2, 2*runtime.GOMAXPROCS(0)))
	if cfg.Multiline.StartPattern != "" {
		if t.start, err = regexp.Compile(cfg.Multiline.StartPattern); err != nil {
			return nil, fmt.Errorf("multiline.start_pattern: %w", err)
		}
	}
	go t.persistLoop()
	return t, nil
}

// drainTimeout bounds the last reads after Run's context ends: a handler
// blocked on a full buffer must not hold a shutdown forever.
const drainTimeout = 5 * time.Second

// Run scans and follows files until ctx is done. Then it scans a last
// time, every reader reads its file to the end and hands over what it read
// (for up to drainTimeout), and Run returns: lines written just before a
// shutdown are shipped by it, not at the next start. Call Close after the
// handlers' data is safe (so the last checkpoints are written).
func (t *Tailer) Run(ctx context.Context) error {
	// work is the readers' context for reading and handing over: it ends
	// drainTimeout after ctx.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	ticker := time.NewTicker(t.cfg.ScanInterval)
	defer ticker.Stop()
	w := t.newWatcher()
	if w != nil {
		defer w.close()
		go w.run(ctx)
	}
	for {
		t.scan(ctx, work)
		if w != nil && w.update() {
			t.scan(ctx, work) // what was made before the new watches
		}
		select {
		case <-t.scanNow:
		case <-ctx.Done():
			t.scan(ctx, work) // files that appeared since the last scan
			timer := time.AfterFunc(drainTimeout, stopWork)
			defer timer.Stop()
			t.wg.Wait()
			return nil
		case <-ticker.C:
		}
	}
}

// scanSoon makes Run scan now (once, however often it is called before).
func (t *Tailer) scanSoon() {
	select {
	case t.scanNow <- struct{}{}:
	default:
	}
}

// wake wakes the reader of path, if one is open; it reports whether one was.
func (t *Tailer) wake(path string) bool {
	t.mu.Lock()
	rd := t.byPath[path]
	t.mu.Unlock()
	if rd == nil {
		return false
	}
	rd.wakeUp()
	return true
}

// wakeAll wakes every reader (notifications were lost).
func (t *Tailer) wakeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, rd := range t.readers {
		rd.wakeUp()
	}
}

// namedByPattern reports whether path is one the include patterns name.
func (t *Tailer) namedByPattern(path string) bool {
	return t.named(path, t.cfg.Include)
}

// Close writes the checkpoints a last time and stops. Safe to call twice.
func (t *Tailer) Close() error {
	t.closeOnce.Do(func() { close(t.stop) })
	<-t.persisted
	return t.reg.err
}

// checkpointEvery is the shortest time between two writes of the
// checkpoints. Under load every fsync of the buffer commits lines, and
// rewriting the file each time (encode, write, rename) took 8% of the
// agent's CPU at 50k lines/s (about 130 writes/s). A crash may read again
// up to this much of what was read, as journald's cursor; Close writes the
// last checkpoints whatever the time.
const checkpointEvery = 200 * time.Millisecond

func (t *Tailer) persistLoop() {
	defer close(t.persisted)
	for {
		select {
		case <-t.reg.kick:
		case <-t.stop:
			t.persistOnce()
			return
		}
		t.persistOnce()
		pause := time.NewTimer(checkpointEvery)
		select {
		case <-pause.C:
		case <-t.stop:
			pause.Stop()
			t.persistOnce()
			return
		}
	}
}

func (t *Tailer) persistOnce() {
	if err := t.reg.persist(); err != nil {
		t.setLastError(fmt.Errorf("write checkpoints: %w", err))
		if t.ckptErr.Add(1) == 1 || t.ckptErr.Load()%100 == 0 {
			t.log.Error("write checkpoints (lines may be read twice after a restart)", zap.Error(err))
		}
		t.reg.mu.Lock()
		t.reg.err = err
		t.reg.dirty = true
		t.reg.mu.Unlock()
	}
}

// Stats returns the counters.
func (t *Tailer) Stats() Stats {
	t.mu.Lock()
	open := int64(len(t.readers))
	t.mu.Unlock()
	t.reg.mu.Lock()
	seen := int64(len(t.reg.full) + len(t.reg.short))
	t.reg.mu.Unlock()
	return Stats{LinesRead: t.linesRead.Load(), BytesRead: t.bytesRead.Load(), LinesTooLong: t.tooLong.Load(),
		OpenFiles: open, Rotations: t.rotations.Load(), Truncations: t.truncations.Load(), FilesSeen: seen,
		ReadErrors: t.readErrors.Load(), BlankSkipped: t.blank.Load(), CheckpointErr: t.ckptErr.Load(), Scans: t.scans.Load(),
		LinksRefused: t.linksRefused.Load()}
}

// matches evaluates the patterns.
func (t *Tailer) matches() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range t.cfg.Include {
		paths := glob(p)
		for _, path := range paths {
			if seen[path] || t.excluded(path) {
				continue
			}
			seen[path] = true
			out = append(out, path)
		}
	}
	sort.Strings(out)
	return out
}

// glob returns the paths pattern p matches. A ** does not walk into
// folder links (a link loop, or a tree elsewhere, would be walked at every
// scan); links that the other wildcards match are followed as
// filepath.Glob does, and confine checks where they lead.
func glob(p string) []string {
	var opts []doublestar.GlobOption
	if strings.Contains(p, "**") {
		opts = append(opts, doublestar.WithNoFollow())
	}
	paths, _ := doublestar.FilepathGlob(p, opts...)
	return paths
}

// warnUnmatched says once, at the first scan, which include patterns match
// no file: a path that does not exist on this host (a default config's
// /var/log/syslog where there is only the journal) would otherwise be
// followed in silence. They are scanned for again all the same.
func (t *Tailer) warnUnmatched() {
	var none []string
	for _, p := range t.cfg.Include {
		paths := glob(p)
		found := false
		for _, path := range paths {
			if !t.excluded(path) {
				found = true
				break
			}
		}
		if !found {
			none = append(none, p)
		}
	}
	if len(none) > 0 {
		t.log.Warn("no file matches these include patterns yet; they are scanned for again every scan_interval",
			zap.Strings("include", none), zap.Duration("scan_interval", t.cfg.ScanInterval))
	}
}

func (t *Tailer) excluded(path string) bool {
	for _, x := range t.cfg.Exclude {
		if doublestar.PathMatchUnvalidated(x, path) || doublestar.PathMatchUnvalidated(x, filepath.Base(path)) {
			return true
		}
	}
	return false
}

// scan opens the files that match and are not being read. Readers follow
// their file until stop ends, then read to its end within work.
func (t *Tailer) scan(stop, work context.Context) {
	now := time.Now()
	first := t.firstScan
	t.firstScan = false
	if first {
		t.warnUnmatched()
	}
	head := make([]byte, t.cfg.FingerprintSize)
	includes := t.resolvedIncludes()
	for _, path := range t.matches() {
		if work.Err() != nil {
			return
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id, _ := fileID(fi)
		t.mu.Lock()
		rd := t.readers[id]
		full := len(t.readers) >= t.cfg.MaxOpenFiles
		t.mu.Unlock()
		if rd != nil {
			t.reg.mu.Lock()
			rd.e.LastSeen, rd.e.Path = now, path
			t.reg.mu.Unlock()
			continue
		}
		if full {
			continue
		}
		t.open(stop, work, path, includes, head, first, now)
	}
	t.reg.mu.Lock()
	t.reg.gcLocked(now, forgetAfter)
	t.reg.mu.Unlock()
	t.scans.Add(1)
}

func (t *Tailer) open(stop, work context.Context, path string, includes []string, head []byte, first bool, now time.Time) {
	if rd := t.newReader(path, includes, head, first, now); rd != nil {
		go rd.run(stop, work)
	}
}

// newReader opens path at its checkpoint as a registered reader, or returns
// nil when there is nothing to read (empty, already read to its end, or
// being read under another name). The caller runs it.
func (t *Tailer) newReader(path string, includes []string, head []byte, first bool, now time.Time) *reader {
	f, err := t.openConfined(path, includes)
	if errors.Is(err, errOutsideInclude) {
		t.refuseOnce(path, err)
		return nil
	}
	if err != nil {
		t.log.Debug("open", zap.String("path", path), zap.Error(err))
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil
	}
	n, _ := f.ReadAt(head, 0)
	if n == 0 {
		f.Close() // empty: identified once it has data
		return nil
	}
	id, _ := fileID(fi)
	t.reg.mu.Lock()
	e := t.reg.lookupLocked(head[:n])
	var off int64
	switch {
	case e != nil && e.reading:
		// the same content is being read under another name (a copy made by
		// copytruncate before the original was truncated)
		e.LastSeen = now
		t.reg.mu.Unlock()
		f.Close()
		return nil
	case e == nil:
		e = &entry{Path: path}
		if first && t.cfg.StartAt == StartEnd {
			off = fi.Size()
			e.Offset = off
		}
		t.reg.rekeyLocked(e, head[:n])
	default:
		off = max(e.Offset, e.readOff)
		if fi.Size() < off {
			// same first bytes but shorter than the checkpoint: the file was
			// truncated and written again while not followed
			t.truncations.Add(1)
			off, e.Offset, e.readOff = 0, 0, 0
			t.reg.markDirtyLocked()
		}
		if fi.Size() == off {
			e.LastSeen, e.Path = now, path
			t.reg.mu.Unlock()
			f.Close()
			return nil
		}
		t.reg.rekeyLocked(e, head[:n])
	}
	e.reading, e.LastSeen, e.Path = true, now, path
	t.reg.mu.Unlock()

	rd := &reader{t: t, f: f, id: id, path: path, e: e, off: off, log: t.log, start: t.start,
		maxLine: int(t.cfg.MaxLineSize), wake: make(chan struct{}, 1)}
	rd.offPub.Store(off)
	rd.h = t.factory(File{Path: path})
	t.mu.Lock()
	t.readers[id] = rd
	t.byPath[path] = rd
	t.mu.Unlock()
	t.wg.Add(1)
	return rd
}

func (t *Tailer) readerDone(rd *reader) {
	t.mu.Lock()
	if t.readers[rd.id] == rd {
		delete(t.readers, rd.id)
	}
	if t.byPath[rd.path] == rd {
		delete(t.byPath, rd.path)
	}
	t.mu.Unlock()
	t.reg.mu.Lock()
	rd.e.reading = false
	consumed := rd.off - int64(rd.partLen)
	if rd.mlOn {
		consumed = rd.mlEnd
	}
	rd.e.readOff = max(rd.e.readOff, consumed)
	t.reg.mu.Unlock()
	t.wg.Done()
}

// detach gives the old identity of a truncated file back to the registry
// and starts a new, not yet fingerprinted identity for the reader.
func (t *Tailer) detach(rd *reader, consumed int64) {
	t.reg.mu.Lock()
	old := rd.e
	old.reading = false
	old.readOff = max(old.readOff, consumed)
	rd.e = &entry{Path: rd.path, reading: true, LastSeen: time.Now()}
	t.reg.mu.Unlock()
}

// copyBeingRead returns the size of another file with the same head that
// another reader follows (0: none).
func (t *Tailer) copyBeingRead(rd *reader, head []byte) int64 {
	t.reg.mu.Lock()
	e := t.reg.lookupLocked(head)
	var path string
	if e != nil && e != rd.e && e.reading && e.Path != rd.path {
		path = e.Path
	}
	t.reg.mu.Unlock()
	if path == "" {
		return 0
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (t *Tailer) rekey(rd *reader, head []byte) {
	t.reg.mu.Lock()
	t.reg.rekeyLocked(rd.e, head)
	t.reg.mu.Unlock()
}

// stillMatched reports whether the reader's file is still found under one
// of the followed names.
func (t *Tailer) stillMatched(rd *reader) bool {
	fi, err := rd.f.Stat()
	if err != nil {
		return false
	}
	for _, p := range t.matches() {
		if pfi, err := os.Stat(p); err == nil && os.SameFile(fi, pfi) {
			return true
		}
	}
	return false
}
