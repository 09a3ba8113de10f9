package journald

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
)

// Start positions when there is no cursor yet.
const (
	StartBeginning = "beginning"
	StartEnd       = "end"
)

// Config of the journald source (the agent's `journald:` section).
type Config struct {
	// Units limits the entries to these systemd units (journalctl --unit,
	// globs allowed); empty: every unit, and entries of no unit.
	Units []string `yaml:"units"`
	// Priority keeps entries of this priority or a more important one
	// (journalctl --priority): a name (emerg, alert, crit, err, warning,
	// notice, info, debug) or 0-7. Empty: all.
	Priority string `yaml:"priority"`
	// Directory reads the journal files of this folder instead of the
	// system journal (journalctl --directory).
	Directory string `yaml:"directory"`
	// Files reads these journal files (journalctl --file; globs allowed).
	Files []string `yaml:"files"`
	// Journalctl is the program run (default journalctl, from PATH).
	Journalctl string `yaml:"journalctl"`
	// StartAt applies when there is no cursor checkpoint yet: beginning
	// (default: everything the journal holds) or end.
	StartAt string `yaml:"start_at"`
	// TraceIDFields are the fields whose value (32 hex digits) becomes the
	// record's trace ID, the first present wins; SpanIDFields likewise (16
	// hex digits). Defaults: TRACE_ID, OTEL_TRACE_ID, TRACEID and SPAN_ID,
	// OTEL_SPAN_ID, SPANID.
	TraceIDFields []string `yaml:"trace_id_fields"`
	SpanIDFields  []string `yaml:"span_id_fields"`
	// MaxEntrySize cuts larger entries (default 256KiB, as files' max_line_size).
	MaxEntrySize bytesize.Size `yaml:"max_entry_size"`
	// Service is the service.name of entries without a unit or identifier.
	Service string `yaml:"service"`
	// Attributes are extra resource attributes of the entries.
	Attributes map[string]string `yaml:"attributes"`
	// RestartDelay is how long to wait before running journalctl again
	// after it stopped on its own (default 1s, doubling up to 30s).
	RestartDelay time.Duration `yaml:"restart_delay"`
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	if c.Journalctl == "" {
		c.Journalctl = "journalctl"
	}
	if c.StartAt == "" {
		c.StartAt = StartBeginning
	}
	if c.TraceIDFields == nil {
		c.TraceIDFields = []string{"TRACE_ID", "OTEL_TRACE_ID", "TRACEID"}
	}
	if c.SpanIDFields == nil {
		c.SpanIDFields = []string{"SPAN_ID", "OTEL_SPAN_ID", "SPANID"}
	}
	if c.MaxEntrySize == 0 {
		c.MaxEntrySize = 256 << 10
	}
	if c.RestartDelay == 0 {
		c.RestartDelay = time.Second
	}
}

var priorityNames = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// Validate checks the settings.
func (c *Config) Validate() error {
	var errs []error
	if c.Priority != "" && priorityLevel(c.Priority) < 0 {
		errs = append(errs, config.Errorf("priority", "%q: want one of %s or 0-7", c.Priority, strings.Join(priorityNames, ", ")))
	}
	if c.Directory != "" && len(c.Files) > 0 {
		errs = append(errs, config.Errorf("directory", "set directory or files, not both"))
	}
	if c.StartAt != StartBeginning && c.StartAt != StartEnd {
		errs = append(errs, config.Errorf("start_at", "%q: want %s or %s", c.StartAt, StartBeginning, StartEnd))
	}
	if c.MaxEntrySize < 1024 {
		errs = append(errs, config.Errorf("max_entry_size", "must be at least 1KiB"))
	}
	if c.RestartDelay < 0 {
		errs = append(errs, config.Errorf("restart_delay", "must not be negative"))
	}
	return errors.Join(errs...)
}

func priorityLevel(p string) int {
	for i, n := range priorityNames {
		if strings.EqualFold(p, n) {
			return i
		}
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 7 {
		return n
	}
	return -1
}

// Args are journalctl's arguments to follow the journal after cursor
// ("" = from start_at).
func (c *Config) Args(cursor string) []string {
	args := []string{"--output=export", "--follow", "--no-pager"}
	switch {
	case cursor != "":
		// --no-tail: --follow alone would start at the last 10 entries
		args = append(args, "--after-cursor="+cursor, "--no-tail")
	case c.StartAt == StartEnd:
		args = append(args, "--lines=0")
	default:
		args = append(args, "--no-tail")
	}
	if c.Directory != "" {
		args = append(args, "--directory="+c.Directory)
	}
	for _, f := range c.Files {
		args = append(args, "--file="+f)
	}
	for _, u := range c.Units {
		args = append(args, "--unit="+u)
	}
	if c.Priority != "" {
		args = append(args, "--priority="+strconv.Itoa(priorityLevel(c.Priority)))
	}
	return args
}

// Handler takes the entries. Entry gets each one with its cursor (both
// valid during the call only); Idle is called when journalctl has nothing
// more for now (and before Follow returns): the handler sends what it
// holds. Errors stop Follow.
type Handler interface {
	Entry(ctx context.Context, e *Entry, cursor []byte) error
	Idle(ctx context.Context) error
}

// DrainTimeout bounds the last reads after Follow's context ends.
const DrainTimeout = 5 * time.Second

// Follow runs journalctl from cursor and hands every entry to h until ctx
// ends; then it stops journalctl, hands over what it had already written
// (within DrainTimeout) and returns. When journalctl stops on its own it
// is run again after the last entry handed over, after RestartDelay
// (doubling up to 30s while it keeps failing).
func (c *Config) Follow(ctx context.Context, cursor string, h Handler, log *zap.Logger) error {
	// the handler's appends outlive ctx by the drain, as the file readers'
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(DrainTimeout, stopWork) })
	defer stop()
	delay := c.RestartDelay
	last := []byte(cursor)
	for {
		n, err := c.run(ctx, work, &last, h, log)
		if ctx.Err() != nil || work.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}
		var herr handlerError
		if errors.As(err, &herr) {
			return herr.err
		}
		if n > 0 {
			delay = c.RestartDelay
		}
		if n == 0 && len(last) > 0 && strings.Contains(err.Error(), "seek to cursor") {
			// a damaged checkpoint, or one of another journal: journalctl
			// would refuse it forever
			log.Error("journalctl refuses the cursor checkpoint; reading from start_at instead", zap.String("cursor", string(last)),
				zap.String("start_at", c.StartAt), zap.Error(err))
			last = last[:0]
			continue
		}
		log.Warn("journalctl stopped; running it again", zap.Error(err), zap.Duration("in", delay))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }

func (e handlerError) Unwrap() error { return e.err }

// run runs journalctl once; it returns the entries handed over and why it
// ended.
func (c *Config) run(ctx, work context.Context, cursor *[]byte, h Handler, log *zap.Logger) (int, error) {
	cmd := exec.Command(c.Journalctl, c.Args(string(*cursor))...)
	stderr := &tailBuffer{max: 4096, log: log}
	cmd.Stderr = stderr
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("run %s: %w", c.Journalctl, err)
	}
	// stop journalctl when ctx ends: what it wrote is still read
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
	stopWork := context.AfterFunc(work, func() { _ = cmd.Process.Kill() })
	defer func() {
		stop()
		stopWork()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	dec := NewDecoder(out, int(c.MaxEntrySize))
	var e Entry
	n := 0
	for {
		err := dec.Next(&e)
		if err != nil {
			if ierr := h.Idle(work); ierr != nil {
				return n, handlerError{ierr}
			}
			_ = cmd.Process.Kill()
			werr := cmd.Wait()
			if ctx.Err() != nil {
				return n, nil
			}
			if err == io.EOF {
				err = werr
			}
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			return n, fmt.Errorf("journalctl: %w", err)
		}
		cur, ok := e.Get("__CURSOR")
		if !ok {
			continue // an entry without a cursor could not be resumed after
		}
		*cursor = append((*cursor)[:0], cur...)
		n++
		if err := h.Entry(work, &e, *cursor); err != nil {
			return n, handlerError{err}
		}
		if !dec.Buffered() {
			if err := h.Idle(work); err != nil {
				return n, handlerError{err}
			}
		}
	}
}

// tailBuffer is journalctl's stderr: each line is logged as a warning
// (a journal it may not read, say), the last max bytes are kept for the
// error message when it stops.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	b       []byte
	log     *zap.Logger
	partial []byte
	logged  int
}

// maxLoggedLines bounds the lines of one journalctl run that are logged.
const maxLoggedLines = 20

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = bytes.Clone(t.b[len(t.b)-t.max:])
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			if len(t.partial) > t.max {
				t.partial = t.partial[:0]
			}
			break
		}
		if line := bytes.TrimSpace(t.partial[:i]); len(line) > 0 && t.log != nil && t.logged < maxLoggedLines {
			t.logged++
			t.log.Warn("journalctl: " + string(line))
		}
		t.partial = t.partial[i+1:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// UnmarshalYAML applies the defaults after decoding (they only fill what
// is unset), so that absent keys get them.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Config
	p := (*plain)(c)
	if err := unmarshal(p); err != nil {
		return err
	}
	c.SetDefaults()
	return nil
}
