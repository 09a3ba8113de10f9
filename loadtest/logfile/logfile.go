// Package logfile writes the structured JSON log files of the synthetic
// system: one file per service (<dir>/<service>.log), one JSON object per
// line with the fields time (RFC 3339, nanoseconds, UTC), level, service,
// msg, trace_id, span_id, seq and any extra attributes.
//
// Writes are buffered; files optionally rotate by size the way logrotate's
// move-and-create does: <service>.log is renamed <service>.log.<n> (n = 1,
// 2, ... in rotation order, never reused) and a new <service>.log begins.
package logfile

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Attr is an extra string field of a record.
type Attr struct{ Key, Value string }

// Record is one log line.
type Record struct {
	Time    time.Time
	Level   string // debug, info, warn, error
	Service string
	Msg     string
	TraceID [16]byte
	SpanID  [8]byte
	Seq     uint64
	Attrs   []Attr
}

// Config of a Writer.
type Config struct {
	// Dir receives the files; it is created if missing.
	Dir string
	// RotateBytes rotates a file once it would grow past this size
	// (0: never rotate).
	RotateBytes int64
	// BufferBytes is the write buffer per file (default 64 KiB).
	BufferBytes int
}

// Writer appends records to per-service files. It is not safe for concurrent
// use, except Stats.
type Writer struct {
	cfg   Config
	files map[string]*file
	line  []byte

	records   atomic.Uint64
	bytes     atomic.Uint64
	rotations atomic.Uint64
}

type file struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	size    int64
	rotated int
}

// Stats are the Writer's counters.
type Stats struct {
	Records, Bytes, Rotations uint64
}

// New creates the directory and a Writer.
func New(cfg Config) (*Writer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("logfile: no directory")
	}
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = 64 << 10
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	return &Writer{cfg: cfg, files: map[string]*file{}, line: make([]byte, 0, 512)}, nil
}

// Path is the current file of service.
func (w *Writer) Path(service string) string {
	return filepath.Join(w.cfg.Dir, service+".log")
}

// Write appends r to its service's file.
func (w *Writer) Write(r *Record) error {
	f := w.files[r.Service]
	if f == nil {
		var err error
		if f, err = w.open(r.Service); err != nil {
			return err
		}
	}
	w.line = AppendJSON(w.line[:0], r)
	w.line = append(w.line, '\n')
	if w.cfg.RotateBytes > 0 && f.size > 0 && f.size+int64(len(w.line)) > w.cfg.RotateBytes {
		if err := w.rotate(f); err != nil {
			return err
		}
	}
	n, err := f.w.Write(w.line)
	f.size += int64(n)
	if err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	w.records.Add(1)
	w.bytes.Add(uint64(n))
	return nil
}

func (w *Writer) open(service string) (*file, error) {
	if service == "" || service != filepath.Base(service) || service == "." || service == ".." {
		return nil, fmt.Errorf("logfile: service name %q cannot name a file", service)
	}
	f := &file{path: w.Path(service)}
	if err := f.openFile(w.cfg.BufferBytes); err != nil {
		return nil, err
	}
	w.files[service] = f
	return f, nil
}

func (f *file) openFile(buf int) error {
	h, err := os.OpenFile(f.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := h.Stat()
	if err != nil {
		h.Close()
		return fmt.Errorf("stat log file: %w", err)
	}
	f.f, f.size = h, st.Size()
	if f.w == nil {
		f.w = bufio.NewWriterSize(h, buf)
	} else {
		f.w.Reset(h)
	}
	return nil
}

func (w *Writer) rotate(f *file) error {
	if err := f.close(); err != nil {
		return err
	}
	for {
		f.rotated++
		dst := f.path + "." + strconv.Itoa(f.rotated)
		if _, err := os.Lstat(dst); err == nil {
			continue // left by an earlier run: never overwrite
		}
		if err := os.Rename(f.path, dst); err != nil {
			return fmt.Errorf("rotate %s: %w", f.path, err)
		}
		break
	}
	w.rotations.Add(1)
	return f.openFile(w.cfg.BufferBytes)
}

func (f *file) close() error {
	ferr := f.w.Flush()
	cerr := f.f.Close()
	if err := errors.Join(ferr, cerr); err != nil {
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	return nil
}

// Flush writes the buffers of every file to the OS.
func (w *Writer) Flush() error {
	var errs []error
	for _, f := range w.files {
		if err := f.w.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("flush %s: %w", f.path, err))
		}
	}
	return errors.Join(errs...)
}

// Close flushes and closes every file. The Writer must not be used after.
func (w *Writer) Close() error {
	var errs []error
	for _, f := range w.files {
		errs = append(errs, f.close())
	}
	w.files = map[string]*file{}
	return errors.Join(errs...)
}

// Stats returns the counters; safe to call from any goroutine.
func (w *Writer) Stats() Stats {
	return Stats{Records: w.records.Load(), Bytes: w.bytes.Load(), Rotations: w.rotations.Load()}
}

const hexDigits = "0123456789abcdef"

// AppendJSON appends r as one JSON object (no newline) to dst.
func AppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, `{"time":"`...)
	dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","level":`...)
	dst = appendString(dst, r.Level)
	dst = append(dst, `,"service":`...)
	dst = appendString(dst, r.Service)
	dst = append(dst, `,"msg":`...)
	dst = appendString(dst, r.Msg)
	if r.TraceID != ([16]byte{}) {
		dst = append(dst, `,"trace_id":"`...)
		for _, b := range r.TraceID {
			dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
		}
		dst = append(dst, `","span_id":"`...)
		for _, b := range r.SpanID {
			dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
		}
		dst = append(dst, '"')
	}
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	for _, a := range r.Attrs {
		dst = append(dst, ',')
		dst = appendString(dst, a.Key)
		dst = append(dst, ':')
		dst = appendString(dst, a.Value)
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string, escaping what JSON requires and
// replacing invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
