// Package buffer is the agent's disk write-ahead log between its sources and
// Kafka. Every record is framed with its length and a CRC-32C, appended to
// segment files, fsynced (group commit), and only then acknowledged to its
// source. A reader hands records to the Kafka forwarder in order and the
// forwarder acknowledges them back; fully acknowledged segments are deleted.
// When the unacknowledged data reaches MaxSize the policy decides: block the
// writers, or drop the oldest segment (counted).
package buffer

import (
	"errors"
	"os"
	"time"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
)

// Policies when the buffer is full.
const (
	PolicyBlock      = "block"
	PolicyDropOldest = "drop_oldest"
)

// Config sizes the buffer.
type Config struct {
	// MaxSize bounds the unacknowledged data on disk; default 1GiB.
	MaxSize bytesize.Size `yaml:"max_size"`
	// SegmentSize is the size of one segment file; default 64MiB, at most MaxSize/4.
	SegmentSize bytesize.Size `yaml:"segment_size"`
	// WhenFull is block (default: sources wait, OTLP clients are told to retry)
	// or drop_oldest (the oldest segment is deleted and its records counted).
	WhenFull string `yaml:"when_full"`
	// SyncInterval is 0 (default) to fsync as soon as data was written (group
	// commit: concurrent writers share one fsync), or the longest time between
	// fsyncs. Sources are acknowledged only after the fsync either way.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// Fsync makes a file durable; nil is the file's own Sync. Not read
	// from YAML: tests make fsync fail here.
	Fsync func(*os.File) error `yaml:"-"`
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	if c.MaxSize == 0 {
		c.MaxSize = 1 << 30
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = 64 << 20
		if c.SegmentSize > c.MaxSize/4 {
			c.SegmentSize = c.MaxSize / 4
		}
	}
	if c.WhenFull == "" {
		c.WhenFull = PolicyBlock
	}
}

// Validate checks sizes and the policy, and reports every mistake.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxSize < 4<<20 {
		errs = append(errs, config.Errorf("max_size", "must be at least 4MiB"))
	}
	if c.SegmentSize < 1<<20 {
		errs = append(errs, config.Errorf("segment_size", "must be at least 1MiB"))
	}
	if c.SegmentSize > c.MaxSize/4 {
		errs = append(errs, config.Errorf("segment_size", "must be at most max_size/4 (%s)", c.MaxSize/4))
	}
	switch c.WhenFull {
	case PolicyBlock, PolicyDropOldest:
	default:
		errs = append(errs, config.Errorf("when_full", "%q: want block or drop_oldest", c.WhenFull))
	}
	if c.SyncInterval < 0 || c.SyncInterval > time.Minute {
		errs = append(errs, config.Errorf("sync_interval", "must be between 0 and 1m"))
	}
	return errors.Join(errs...)
}
