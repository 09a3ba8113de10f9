package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/agent/journald"
	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/internal/severity"
)

// journaldSource follows the journal with journalctl and writes its
// entries into the disk buffer. Its cursor checkpoint
// (checkpoints/journald.cursor) names the last entry whose batch is
// durable in the buffer: it is written every 200ms and at shutdown after
// the buffer's last fsync, so a restart resumes right after it.
type journaldSource struct {
	cfg        *journald.Config
	log        *zap.Logger
	cursorPath string
	w          *recordWriter
	rec        logrec.Record
	traceKeys  [][]byte
	spanKeys   [][]byte
	service    []byte
	last       []byte // cursor of the last entry in the batch
	durable    atomic.Pointer[string]
	saved      string
	saveMu     sync.Mutex
	records    atomic.Int64
	saveErrors atomic.Int64
	lastErr    atomic.Pointer[sourceError] // why journalctl's reading stopped last
}

// sourceError is a source's last error, for status.
type sourceError struct {
	at  time.Time
	err error
}

// status says what the source reads, how far and its last error.
func (s *journaldSource) status() SourceStatus {
	reading := []string{"journal"}
	switch {
	case s.cfg.Directory != "":
		reading = []string{"journal in " + s.cfg.Directory}
	case len(s.cfg.Files) > 0:
		reading = append([]string(nil), s.cfg.Files...)
	}
	for _, u := range s.cfg.Units {
		reading = append(reading, "unit "+u)
	}
	src := SourceStatus{Name: "journald", Kind: "journald", Reading: reading, Records: s.records.Load()}
	if c := s.durable.Load(); c != nil && *c != "" {
		src.Cursor = *c
	}
	if e := s.lastErr.Load(); e != nil {
		src.LastError = e.at.UTC().Format(time.RFC3339) + " " + e.err.Error()
	}
	return src
}

func newJournaldSource(cfg *journald.Config, global *Config, buf Appender, version string, log *zap.Logger) (*journaldSource, error) {
	if _, err := exec.LookPath(cfg.Journalctl); err != nil {
		return nil, fmt.Errorf("journald: %w (install systemd, or set journald.journalctl)", err)
	}
	s := &journaldSource{cfg: cfg, log: log, cursorPath: filepath.Join(global.DataDir, "checkpoints", "journald.cursor"),
		service: []byte(cfg.Service)}
	b, err := os.ReadFile(s.cursorPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read journald cursor: %w", err)
	}
	cur := string(bytes.TrimSpace(b))
	s.durable.Store(&cur)
	s.saved = cur
	for _, k := range cfg.TraceIDFields {
		s.traceKeys = append(s.traceKeys, []byte(k))
	}
	for _, k := range cfg.SpanIDFields {
		s.spanKeys = append(s.spanKeys, []byte(k))
	}
	batch := logrec.NewBatch(sourceResource(global, cfg.Attributes), "", nil, version)
	s.w = newRecordWriter(buf, batch, global.Batch, global.PartitionLogsByTraceID, true, func(n int) { s.records.Add(int64(n)) })
	return s, nil
}

// cursorSaveInterval is how often the durable cursor is written: after a
// crash at most this much of the journal is read again.
const cursorSaveInterval = 200 * time.Millisecond

// run follows the journal until ctx ends, saving the cursor as it moves.
func (s *journaldSource) run(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(cursorSaveInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.saveCursor()
			}
		}
	}()
	return s.cfg.Follow(ctx, *s.durable.Load(), s, s.log)
}

var (
	keyPID         = []byte("process.pid")
	keyInvalidUTF8 = []byte("flowlens.invalid_utf8")
	keyTruncated   = attrTruncated
)

// Entry maps one entry: MESSAGE is the body, PRIORITY the severity,
// _SOURCE_REALTIME_TIMESTAMP (else __REALTIME_TIMESTAMP) the time, the unit
// (without .service), else SYSLOG_IDENTIFIER, the service.name, the trace
// fields the trace and span IDs; every other field is an attribute under
// its journal name (_SYSTEMD_UNIT, _PID, _HOSTNAME, ...), _PID also as
// process.pid.
func (s *journaldSource) Entry(ctx context.Context, e *journald.Entry, cursor []byte) error {
	r := &s.rec
	r.Reset()
	r.ObservedUnixNano = uint64(time.Now().UnixNano())
	size := 0
	for _, f := range e.Fields {
		size += len(f.Value) + len(f.Name)
	}
	r.Reserve(size * 3) // room for U+FFFD replacements
	var unit, ident []byte
	invalid := false
	for _, f := range e.Fields {
		name, val := f.Name, f.Value
		if len(name) >= 2 && name[0] == '_' && name[1] == '_' {
			if string(name) == "__REALTIME_TIMESTAMP" && r.TimeUnixNano == 0 {
				r.TimeUnixNano = micros(val)
			}
			continue
		}
		if !utf8.Valid(val) {
			invalid = true
			start := len(r.Scratch)
			r.Scratch = append(r.Scratch, bytes.ToValidUTF8(val, []byte("\uFFFD"))...)
			val = r.Scratch[start:len(r.Scratch):len(r.Scratch)]
		}
		if !utf8.Valid(name) {
			continue
		}
		switch string(name) {
		case "MESSAGE":
			r.Body = val
			continue
		case "PRIORITY":
			if p, err := strconv.Atoi(string(val)); err == nil {
				if n, _, ok := severity.FromSyslog(p); ok {
					r.SeverityNumber, r.SeverityText = n, syslogSeverityText[p]
				}
			}
		case "_SOURCE_REALTIME_TIMESTAMP":
			if t := micros(val); t != 0 {
				r.TimeUnixNano = t
			}
		case "_SYSTEMD_UNIT":
			unit = val
		case "SYSLOG_IDENTIFIER":
			ident = val
		case "_PID":
			if pid, err := strconv.ParseInt(string(val), 10, 64); err == nil {
				r.AddInt(keyPID, pid)
			}
		}
		if !r.HasTraceID && matchKey(s.traceKeys, name) && len(val) == 32 {
			_, err := hex.Decode(r.TraceID[:], val)
			r.HasTraceID = err == nil
		}
		if !r.HasSpanID && matchKey(s.spanKeys, name) && len(val) == 16 {
			_, err := hex.Decode(r.SpanID[:], val)
			r.HasSpanID = err == nil
		}
		r.AddString(name, val)
	}
	switch {
	case len(unit) > 0:
		r.Service = bytes.TrimSuffix(unit, []byte(".service"))
	case len(ident) > 0:
		r.Service = ident
	default:
		r.Service = s.service
	}
	if invalid {
		r.AddBool(keyInvalidUTF8, true)
	}
	if e.Truncated {
		r.AddBool(keyTruncated, true)
	}
	s.last = append(s.last[:0], cursor...)
	if s.w.add(r) {
		return s.flush(ctx)
	}
	return nil
}

// Idle sends the batch: journalctl has nothing more for now.
func (s *journaldSource) Idle(ctx context.Context) error { return s.flush(ctx) }

func (s *journaldSource) flush(ctx context.Context) error {
	if s.w.pending() == 0 {
		return nil
	}
	cur := string(s.last)
	return s.w.flush(ctx, func() { s.durable.Store(&cur) })
}

// syslogSeverityText are the journal priorities' keywords, as bytes.
var syslogSeverityText = func() (t [8][]byte) {
	for i := range t {
		t[i] = []byte(severity.SyslogNames[i])
	}
	return t
}()

// saveCursor writes the durable cursor when it moved (write, fsync,
// rename: a crash leaves the old or the new one).
func (s *journaldSource) saveCursor() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	cur := *s.durable.Load()
	if cur == s.saved {
		return nil
	}
	if err := writeFileAtomic(s.cursorPath, []byte(cur+"\n")); err != nil {
		s.saveErrors.Add(1)
		s.log.Warn("cannot write the journald cursor", zap.Error(err))
		return fmt.Errorf("write journald cursor: %w", err)
	}
	s.saved = cur
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func matchKey(keys [][]byte, name []byte) bool {
	for _, k := range keys {
		if bytes.Equal(k, name) {
			return true
		}
	}
	return false
}

// micros reads a journal timestamp (microseconds since the epoch) as
// nanoseconds; 0 when it is not a number.
func micros(b []byte) uint64 {
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil || v > 1<<63/1000 {
		return 0
	}
	return v * 1000
}
