package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.uber.org/zap"
)

// Checkpoint marks a position in a file identity. Commit it once the lines
// before it are safe (in Kafka or in the fsynced buffer): only then does the
// stored checkpoint move. Commit is safe from any goroutine.
type Checkpoint struct {
	reg *registry
	e   *entry
	off int64
}

// Commit advances the stored checkpoint to this position.
func (c Checkpoint) Commit() {
	if c.reg != nil {
		c.reg.commit(c.e, c.off)
	}
}

// Offset is the file offset just after the line.
func (c Checkpoint) Offset() int64 { return c.off }

// File describes a followed file to a Handler.
type File struct {
	Path string
}

// Handler receives the records of one file, always from one goroutine.
type Handler interface {
	// Line hands over one record (a line, or joined lines with multiline).
	// line is only valid during the call. origLen > len(line) means the
	// record was cut at max_line_size. cp is the position after the record.
	// An error (ctx done) stops the reader.
	Line(ctx context.Context, line []byte, origLen int, cp Checkpoint) error
	// Flush pushes buffered records: at the end of the file (idle: a good
	// moment to release memory), when the file's read turn ends, and before
	// it closes.
	Flush(ctx context.Context, idle bool) error
	// Close releases the handler; no calls follow.
	Close()
}

// Stats are counters of one Tailer.
type Stats struct {
	LinesRead     int64
	BytesRead     int64
	LinesTooLong  int64
	OpenFiles     int64
	Rotations     int64 // files renamed away or deleted and closed after their end
	Truncations   int64 // files found shorter than their offset (copytruncate)
	FilesSeen     int64 // identities known
	ReadErrors    int64
	BlankSkipped  int64
	CheckpointErr int64
	Scans         int64 // pattern scans completed
	LinksRefused  int64 // matched paths that lead out of the include patterns
}

type devIno struct{ dev, ino uint64 }

func fileID(fi os.FileInfo) (devIno, uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return devIno{uint64(st.Dev), st.Ino}, uint64(st.Nlink)
	}
	return devIno{}, 1
}

// reader follows one open file.
type reader struct {
	t       *Tailer
	f       *os.File
	id      devIno
	path    string
	e       *entry
	off     int64        // next byte to read
	offPub  atomic.Int64 // off as of the last read, for Files (other goroutines)
	h       Handler
	log     *zap.Logger
	start   *regexp.Regexp
	maxLine int

	head    []byte // sameHead's buffer
	partial []byte // an incomplete line carried over reads
	partLen int    // original length of partial (more than len when cut)
	ml      []byte // pending multiline record (when mlOn)
	mlOn    bool
	mlLen   int
	mlEnd   int64
	mlAt    time.Time
	pending bool          // lines handed over since the last Flush
	wake    chan struct{} // the file changed (change notification)
}

// wakeUp makes the reader look at its file now.
func (rd *reader) wakeUp() {
	select {
	case rd.wake <- struct{}{}:
	default:
	}
}

// run follows the file until stop ends, then reads it to its end and hands
// that over too (drain). Reading and handing over use work, which outlives
// stop by the Tailer's drainTimeout, so a turn under way when stop ends is
// not cut short.
func (rd *reader) run(stop, work context.Context) {
	defer rd.t.readerDone(rd)
	defer rd.f.Close()
	defer rd.h.Close()
	lastData := time.Now()
	var nextCheck time.Time // for truncation, rotation, deletion, inactivity
	woken := false
	for {
		if stop.Err() != nil {
			rd.drain(work)
			return
		}
		before := lastData
		more, err := rd.readTurn(work, &lastData)
		if err != nil {
			return
		}
		if more {
			continue
		}
		now := time.Now()
		// notified but nothing new to read: truncated, renamed or deleted
		if woken && lastData == before {
			nextCheck = now
		}
		if !now.Before(nextCheck) {
			switch rd.checkFile(lastData) {
			case fileGone:
				// renamed away or deleted: nothing more will come, so an
				// unterminated last line is a record too
				if len(rd.partial) > 0 || rd.partLen > 0 {
					if err := rd.line(work, rd.partial, rd.partLen, rd.off); err != nil {
						return
					}
					rd.partial, rd.partLen = rd.partial[:0], 0
				}
				rd.finish(work)
				return
			case fileClose:
				rd.finish(work)
				return
			case fileTruncated:
				lastData = time.Now()
				continue
			}
			nextCheck = rd.nextCheck(now, lastData)
		}
		wait := nextCheck.Sub(now)
		if rd.mlOn {
			// a pending multiline record is emitted at its flush timeout
			wait = min(wait, rd.t.cfg.Multiline.FlushTimeout-time.Since(rd.mlAt))
		}
		woken = false
		select {
		case <-stop.Done():
		case <-rd.wake:
			woken = true
			// a file written a line at a time wakes its reader at every
			// write: read it at most every min_read_interval, so its lines
			// go in batches; one quiet that long is read at once
			if d := rd.t.cfg.MinReadInterval - time.Since(lastData); d > 0 {
				select {
				case <-stop.Done():
				case <-time.After(d):
				}
			}
		case <-time.After(max(time.Millisecond, wait)):
		}
	}
}

// nextCheck is when the file is looked at next: after poll_interval, or
// earlier when it will have been idle for rotate_wait or close_inactive
// by then (with change notification poll_interval may be long).
func (rd *reader) nextCheck(now, lastData time.Time) time.Time {
	next := now.Add(rd.t.cfg.PollInterval)
	for _, at := range []time.Time{lastData.Add(rd.t.cfg.RotateWait), lastData.Add(rd.t.cfg.CloseInactive)} {
		if at.After(now) && at.Before(next) {
			next = at
		}
	}
	return next
}

// drain reads the file to its end and hands over what is complete (until
// work ends); a partial last line stays for the next start.
func (rd *reader) drain(work context.Context) {
	var lastData time.Time
	for {
		more, err := rd.readTurn(work, &lastData)
		if err != nil {
			return
		}
		if !more {
			break
		}
	}
	rd.finish(work)
}

// turnBytes is how much one file reads before letting others have a turn.
const turnBytes = 4 << 20

// readTurn reads with one of the Tailer's read tokens (so that thousands of
// files do not all hold buffers and batches at once) until the end of the
// file or turnBytes, then hands over what is batched. more reports that data
// is left because the turn ended first.
func (rd *reader) readTurn(ctx context.Context, lastData *time.Time) (more bool, err error) {
	select {
	case rd.t.tokens <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-rd.t.tokens }()
	// read buffers are shared by all files: an idle file holds none
	bp := rd.t.bufs.Get().(*[]byte)
	defer rd.t.bufs.Put(bp)
	buf := *bp
	read := 0
	for {
		n, rerr := rd.f.ReadAt(buf, rd.off)
		if n > 0 && rd.off > 0 && !rd.sameHead() {
			// Truncated and written again past our offset since the last
			// read: what was read is the new content's middle, not what
			// follows our lines. Read the new content from its start.
			rd.restartAfterTruncation()
			continue
		}
		if n > 0 {
			// fingerprinted before its lines are handed over, so that a copy
			// found meanwhile (copytruncate) is seen as this content
			if rd.e.FPLen < int(rd.t.cfg.FingerprintSize) {
				if copied := rd.refingerprint(); copied > rd.off {
					// a copy of this content is being read already: its
					// lines are the copy's; read only what follows them
					rd.off = copied
					rd.offPub.Store(rd.off)
					continue
				}
			}
			*lastData = time.Now()
			if err := rd.consume(ctx, buf[:n]); err != nil {
				return false, err
			}
			read += n
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			rd.t.readErrors.Add(1)
			rd.t.setLastError(fmt.Errorf("read %s: %w", rd.path, rerr))
			rd.log.Warn("read failed; closing the file", zap.String("path", rd.path), zap.Error(rerr))
			_ = rd.h.Flush(ctx, true)
			return false, rerr
		}
		if n < len(buf) {
			break // at the end of the file
		}
		if read >= turnBytes {
			more = true
			break
		}
	}
	if !more && rd.mlOn && time.Since(rd.mlAt) >= rd.t.cfg.Multiline.FlushTimeout {
		if err := rd.emitMultiline(ctx); err != nil {
			return false, err
		}
	}
	if rd.pending || !more {
		if err := rd.h.Flush(ctx, !more); err != nil {
			return false, err
		}
		rd.pending = false
	}
	rd.shrink()
	return more, nil
}

// finish hands over what is complete; a partial last line stays unread (its
// checkpoint does not cover it) and is read again next time.
func (rd *reader) finish(ctx context.Context) {
	if rd.mlOn {
		_ = rd.emitMultiline(ctx)
	}
	_ = rd.h.Flush(ctx, true)
}

type fileState int

const (
	fileOK fileState = iota
	fileClose
	fileGone
	fileTruncated
)

// checkFile looks for truncation, rotation and deletion at the end of file.
func (rd *reader) checkFile(lastData time.Time) fileState {
	fi, err := rd.f.Stat()
	if err != nil {
		return fileClose
	}
	_, nlink := fileID(fi)
	if fi.Size() < rd.off || !rd.sameHead() {
		rd.restartAfterTruncation()
		return fileTruncated
	}
	idle := time.Since(lastData)
	if nlink == 0 && idle >= rd.t.cfg.RotateWait {
		rd.t.rotations.Add(1)
		return fileGone
	}
	if idle >= rd.t.cfg.RotateWait {
		pfi, err := os.Stat(rd.path)
		if err != nil || !os.SameFile(pfi, fi) {
			// renamed away and not found under a followed name
			if !rd.t.stillMatched(rd) {
				rd.t.rotations.Add(1)
				return fileGone
			}
		}
	}
	if idle >= rd.t.cfg.CloseInactive {
		return fileClose
	}
	return fileOK
}

// restartAfterTruncation follows a copytruncate or truncation: the old
// content (and its checkpoint) stays with its identity (a copy of it may be
// found under another name); what is in the file now is a new identity,
// read from 0.
func (rd *reader) restartAfterTruncation() {
	consumed := rd.off - int64(rd.partLen)
	if rd.mlOn {
		consumed = rd.mlEnd
	}
	rd.t.truncations.Add(1)
	rd.log.Info("file truncated; reading it from the start", zap.String("path", rd.path), zap.Int64("offset", rd.off))
	_ = rd.h.Flush(context.Background(), true)
	rd.t.detach(rd, consumed)
	rd.off, rd.partial, rd.partLen, rd.ml, rd.mlOn = 0, rd.partial[:0], 0, rd.ml[:0], false
	rd.offPub.Store(0)
}

// sameHead checks that the file still starts with the identity's bytes.
func (rd *reader) sameHead() bool {
	n := rd.e.FPLen
	if n == 0 {
		return true
	}
	if cap(rd.head) < n {
		rd.head = make([]byte, n)
	}
	head := rd.head[:n]
	m, _ := rd.f.ReadAt(head, 0)
	return m == n && xxhash.Sum64(head) == rd.e.FPHash
}

// refingerprint extends the identity's fingerprint to the file's head.
// When the reader has handed over nothing of this content yet and another
// reader is reading a file with the same head (copytruncate's copy, found
// first), it returns the copy's size: the lines up to there are the copy's.
func (rd *reader) refingerprint() (copied int64) {
	head := make([]byte, rd.t.cfg.FingerprintSize)
	n, _ := rd.f.ReadAt(head, 0)
	if n <= rd.e.FPLen {
		return 0
	}
	if rd.off == 0 {
		if size := rd.t.copyBeingRead(rd, head[:n]); size > 0 {
			return size
		}
	}
	rd.t.rekey(rd, head[:n])
	return 0
}

// consume splits data into lines and hands them over.
func (rd *reader) consume(ctx context.Context, data []byte) error {
	base := rd.off
	rd.off += int64(len(data))
	rd.offPub.Store(rd.off)
	rd.t.bytesRead.Add(int64(len(data)))
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			rd.appendPartial(data)
			return nil
		}
		lineEnd := base + int64(i) + 1
		var line []byte
		var origLen int
		if len(rd.partial) == 0 && rd.partLen == 0 {
			line, origLen = data[:i], i
			if len(line) > rd.maxLine {
				line = line[:rd.maxLine]
			}
		} else {
			rd.appendPartial(data[:i])
			line, origLen = rd.partial, rd.partLen
		}
		base = lineEnd
		data = data[i+1:]
		if len(line) > 0 && line[len(line)-1] == '\r' && origLen == len(line) {
			line = line[:len(line)-1]
			origLen--
		}
		if err := rd.line(ctx, line, origLen, lineEnd); err != nil {
			return err
		}
		rd.partial, rd.partLen = rd.partial[:0], 0
	}
	return nil
}

// shrink drops buffers grown by a long line once they are empty.
func (rd *reader) shrink() {
	if len(rd.partial) == 0 && cap(rd.partial) > 64<<10 {
		rd.partial = nil
	}
	if !rd.mlOn && cap(rd.ml) > 64<<10 {
		rd.ml = nil
	}
}

func (rd *reader) appendPartial(b []byte) {
	rd.partLen += len(b)
	if room := rd.maxLine - len(rd.partial); room > 0 {
		rd.partial = append(rd.partial, b[:min(room, len(b))]...)
	}
}

func (rd *reader) line(ctx context.Context, line []byte, origLen int, end int64) error {
	rd.t.linesRead.Add(1)
	if origLen > len(line) {
		rd.t.tooLong.Add(1)
	}
	if rd.start == nil {
		if origLen == 0 {
			rd.t.blank.Add(1)
			// nothing to send; the checkpoint moves with the next record
			return nil
		}
		rd.pending = true
		return rd.h.Line(ctx, line, origLen, Checkpoint{reg: rd.t.reg, e: rd.e, off: end})
	}
	if !rd.mlOn || rd.start.Match(line) {
		if rd.mlOn {
			if err := rd.emitMultiline(ctx); err != nil {
				return err
			}
		}
		rd.ml = append(rd.ml[:0], line...)
		rd.mlLen = origLen
		rd.mlOn = true
	} else {
		rd.mlLen += 1 + origLen
		if room := rd.maxLine - len(rd.ml); room > 0 {
			rd.ml = append(rd.ml, '\n')
			rd.ml = append(rd.ml, line[:min(room-1, len(line))]...)
		}
	}
	rd.mlEnd = end
	rd.mlAt = time.Now()
	return nil
}

func (rd *reader) emitMultiline(ctx context.Context) error {
	rd.mlOn = false
	rd.pending = true
	err := rd.h.Line(ctx, rd.ml, rd.mlLen, Checkpoint{reg: rd.t.reg, e: rd.e, off: rd.mlEnd})
	rd.ml = rd.ml[:0]
	return err
}

func (rd *reader) String() string { return fmt.Sprintf("%s@%d", rd.path, rd.off) }
