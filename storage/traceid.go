package storage

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// TraceID is a 16-byte trace ID.
type TraceID [16]byte

// String is the lowercase hex form stored in the TraceId columns.
func (id TraceID) String() string { return hex.EncodeToString(id[:]) }

// ParseTraceID accepts exactly 32 hex digits (either case), optionally
// prefixed by 0x and surrounded by spaces. Anything else, including the
// all-zero ID (invalid in W3C trace context and OTLP), is an error wrapping
// ErrInvalidTraceID that says what was wrong.
func ParseTraceID(s string) (TraceID, error) {
	var id TraceID
	t := strings.TrimSpace(s)
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		t = t[2:]
	}
	if len(t) != 32 {
		return id, fmt.Errorf("%w: %s: want 32 hex digits, got %d characters", ErrInvalidTraceID, quoteForError(s), len(t))
	}
	for i := 0; i < len(t); i++ {
		if !isHex(t[i]) {
			return id, fmt.Errorf("%w: %s: character %d is not a hex digit", ErrInvalidTraceID, quoteForError(s), i+1)
		}
	}
	if _, err := hex.Decode(id[:], []byte(t)); err != nil {
		return id, fmt.Errorf("%w: %s: %v", ErrInvalidTraceID, quoteForError(s), err)
	}
	if id == (TraceID{}) {
		return id, fmt.Errorf("%w: all zeros", ErrInvalidTraceID)
	}
	return id, nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// quoteForError quotes user input for an error message, shortened so a
// megabyte of garbage does not end up in a log line.
func quoteForError(s string) string {
	const max = 40
	if len(s) > max {
		return fmt.Sprintf("%q... (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}
