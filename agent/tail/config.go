// Package tail follows log files: glob patterns re-scanned, files told apart
// by a fingerprint of their first bytes (not by inode, which is reused),
// checkpoints in the data folder that advance only when the lines before
// them are safe, rotation by rename-and-create and by copytruncate,
// truncation, deleted files, multiline records and over-long lines.
package tail

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
)

// Start positions for files without a checkpoint.
const (
	StartBeginning = "beginning"
	StartEnd       = "end"
)

// Config of one group of files.
type Config struct {
	// Include are glob patterns of the files to follow: * ? [a-z] within a
	// path element, ** for any number of folders (/var/log/**/*.log),
	// {a,b} for alternatives. A ** does not walk into folder links.
	Include []string `yaml:"include"`
	// Exclude are glob patterns of files not to follow, matched against the
	// full path and the base name. Default: compressed rotations (*.gz,
	// *.bz2, *.xz, *.zst, *.zip), which a pattern like app.log* would
	// otherwise read as binary garbage. Set [] to exclude nothing.
	Exclude []string `yaml:"exclude"`
	// StartAt applies to files found at the FIRST scan that have no checkpoint:
	// beginning (default) or end. Files that appear later are always read from
	// their beginning, and files with a checkpoint resume from it. The default
	// is beginning because an agent installed or restarted after losing its
	// data folder should not silently skip what is already in the files
	// (Vector does the same; the OpenTelemetry filelog receiver's default, end,
	// is a frequent surprise). Use end to skip a large backlog on purpose.
	StartAt string `yaml:"start_at"`
	// Watch reads on change notification (inotify): a written line is read
	// at once, a new file found at once, and an idle agent does next to
	// nothing. Default true. The intervals below still run as a safety net
	// (a notification can be missed: NFS, some overlay file systems, a full
	// event queue); when notification is not available the agent says so
	// once and only polls.
	Watch *bool `yaml:"watch"`
	// ScanInterval is how often the patterns are re-evaluated (default 5s
	// with watch, 1s without).
	ScanInterval time.Duration `yaml:"scan_interval"`
	// PollInterval is how often a file at its end is checked for new data,
	// rotation and truncation (default 1s with watch, 200ms without).
	PollInterval time.Duration `yaml:"poll_interval"`
	// MinReadInterval is the shortest time between two reads of a file
	// being written (default 20ms, at least 1ms). With watch, every write
	// wakes the file's reader, and each read is a buffer record and a
	// Kafka message with its own headers: with the demo shop writing 50k
	// lines/s over 12 files (and 50k spans/s, a message per trace), 20ms
	// took the messages of a minute from 322-339k to 260-265k
	// (scripts/agent-cpu.sh). A file that was quiet this long is read at
	// once, so a lone line gains no delay.
	MinReadInterval time.Duration `yaml:"min_read_interval"`
	// FingerprintSize is how many first bytes identify a file (default 1024).
	// Shorter files are identified by what they have and re-identified as they grow.
	FingerprintSize bytesize.Size `yaml:"fingerprint_size"`
	// MaxLineSize: longer lines (or multiline records) are cut to this size
	// and marked flowlens.truncated=true with their original length (default
	// 256KiB; a record must fit in one Kafka request with its batch).
	MaxLineSize bytesize.Size `yaml:"max_line_size"`
	// RotateWait: a file that was renamed away or deleted is read to its end
	// and closed after being idle this long (default 5s).
	RotateWait time.Duration `yaml:"rotate_wait"`
	// CloseInactive closes files without new data for this long; they are
	// reopened at their checkpoint when they grow (default 5m).
	CloseInactive time.Duration `yaml:"close_inactive"`
	// MaxOpenFiles bounds the files read at the same time (default 1024).
	MaxOpenFiles int `yaml:"max_open_files"`
	// Multiline joins lines into one record.
	Multiline Multiline `yaml:"multiline"`
}

// Multiline joins continuation lines (stack traces) to the line that starts a record.
type Multiline struct {
	// StartPattern is a regular expression matching the first line of a
	// record; lines that do not match are appended to the current record.
	// Empty: every line is a record.
	StartPattern string `yaml:"start_pattern"`
	// FlushTimeout emits a pending record when no new line came for this
	// long (default 1s).
	FlushTimeout time.Duration `yaml:"flush_timeout"`
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	if c.Exclude == nil {
		c.Exclude = []string{"*.gz", "*.bz2", "*.xz", "*.zst", "*.zip"}
	}
	if c.StartAt == "" {
		c.StartAt = StartBeginning
	}
	if c.Watch == nil {
		on := true
		c.Watch = &on
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = time.Second
		if *c.Watch {
			c.ScanInterval = 5 * time.Second
		}
	}
	if c.PollInterval == 0 {
		c.PollInterval = 200 * time.Millisecond
		if *c.Watch {
			c.PollInterval = time.Second
		}
	}
	if c.MinReadInterval == 0 {
		c.MinReadInterval = 20 * time.Millisecond
	}
	if c.FingerprintSize == 0 {
		c.FingerprintSize = 1024
	}
	if c.MaxLineSize == 0 {
		c.MaxLineSize = 256 << 10
	}
	if c.RotateWait == 0 {
		c.RotateWait = 5 * time.Second
	}
	if c.CloseInactive == 0 {
		c.CloseInactive = 5 * time.Minute
	}
	if c.MaxOpenFiles == 0 {
		c.MaxOpenFiles = 1024
	}
	if c.Multiline.FlushTimeout == 0 {
		c.Multiline.FlushTimeout = time.Second
	}
}

// Validate checks patterns and numbers, and reports every mistake.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Include) == 0 {
		errs = append(errs, config.Errorf("include", "at least one glob pattern is required"))
	}
	for i, p := range c.Include {
		if !doublestar.ValidatePathPattern(p) || p == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("include[%d]", i), "%q is not a valid glob pattern", p))
		} else if !filepath.IsAbs(p) {
			errs = append(errs, config.Errorf(fmt.Sprintf("include[%d]", i), "%q must be an absolute path", p))
		}
	}
	for i, p := range c.Exclude {
		if !doublestar.ValidatePathPattern(p) || p == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("exclude[%d]", i), "%q is not a valid glob pattern", p))
		}
	}
	switch c.StartAt {
	case StartBeginning, StartEnd:
	default:
		errs = append(errs, config.Errorf("start_at", "%q: want beginning or end", c.StartAt))
	}
	if c.ScanInterval < 10*time.Millisecond {
		errs = append(errs, config.Errorf("scan_interval", "must be at least 10ms"))
	}
	if c.PollInterval < time.Millisecond {
		errs = append(errs, config.Errorf("poll_interval", "must be at least 1ms"))
	}
	if c.MinReadInterval < time.Millisecond || c.MinReadInterval > time.Second {
		errs = append(errs, config.Errorf("min_read_interval", "must be between 1ms and 1s"))
	}
	if c.FingerprintSize < 16 || c.FingerprintSize > 1<<20 {
		errs = append(errs, config.Errorf("fingerprint_size", "must be between 16 bytes and 1MiB"))
	}
	if c.MaxLineSize < 1024 || c.MaxLineSize > 64<<20 {
		errs = append(errs, config.Errorf("max_line_size", "must be between 1KiB and 64MiB"))
	}
	if c.RotateWait < 0 || c.CloseInactive < time.Second {
		errs = append(errs, config.Errorf("close_inactive", "must be at least 1s"))
	}
	if c.MaxOpenFiles < 1 {
		errs = append(errs, config.Errorf("max_open_files", "must be at least 1"))
	}
	if c.Multiline.StartPattern != "" {
		if _, err := regexp.Compile(c.Multiline.StartPattern); err != nil {
			errs = append(errs, config.Errorf("multiline.start_pattern", "%v", err))
		}
	}
	if c.Multiline.FlushTimeout < time.Millisecond {
		errs = append(errs, config.Errorf("multiline.flush_timeout", "must be at least 1ms"))
	}
	return errors.Join(errs...)
}
