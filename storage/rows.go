package storage

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Timestamps outside [MinTimestamp, MaxTimestamp] are rejected: they come
// from broken clocks or unset fields, and the DateTime columns and daily
// partitions of the exporter schema cannot hold years past 2105.
var (
	MinTimestamp = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTimestamp = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// RowLimits bounds what a record may carry to be stored.
type RowLimits struct {
	// MaxAttributeBytes caps each attribute key and value (after conversion to
	// string); default 64 KiB.
	MaxAttributeBytes int
	// MaxBodyBytes caps a log body; default 1 MiB.
	MaxBodyBytes int
}

func (l RowLimits) withDefaults() RowLimits {
	if l.MaxAttributeBytes <= 0 {
		l.MaxAttributeBytes = 64 << 10
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	return l
}

// RowLimits returns the limits from the store's Config.
func (s *Store) RowLimits() RowLimits {
	return RowLimits{MaxAttributeBytes: int(s.cfg.MaxAttributeBytes), MaxBodyBytes: 16 * int(s.cfg.MaxAttributeBytes)}
}

// RejectFunc receives a record that was not appended. reason wraps
// ErrBadTimestamp or ErrAttributeTooLarge and names the record.
// It is called synchronously from the Append method.
type RejectFunc func(reason error)

func checkTimestamp(ts pcommon.Timestamp, what string) error {
	if ts == 0 {
		return fmt.Errorf("%w: %s is not set", ErrBadTimestamp, what)
	}
	t := ts.AsTime()
	if t.Before(MinTimestamp) || !t.Before(MaxTimestamp) {
		return fmt.Errorf("%w: %s %s is outside %d-%d", ErrBadTimestamp, what,
			t.UTC().Format(time.RFC3339Nano), MinTimestamp.Year(), MaxTimestamp.Year())
	}
	return nil
}

func tooLarge(key string, size, limit int) error {
	return fmt.Errorf("%w: attribute %s is %d bytes (limit %d)", ErrAttributeTooLarge, quoteForError(key), size, limit)
}

// hexTraceID is the exporter's form: lowercase hex, or "" for an empty ID.
func hexTraceID(id pcommon.TraceID) string {
	if id.IsEmpty() {
		return ""
	}
	return id.String()
}

func hexSpanID(id pcommon.SpanID) string {
	if id.IsEmpty() {
		return ""
	}
	return id.String()
}
