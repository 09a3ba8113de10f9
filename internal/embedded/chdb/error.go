package chdb

import (
	"strconv"
	"strings"
)

// Error is an exception raised by the engine.
type Error struct {
	Code    int    // ClickHouse error code, 0 when the message has none
	Name    string // e.g. SYNTAX_ERROR, when the message has it
	Message string // the engine's full message
}

func (e *Error) Error() string { return e.Message }

// parseError extracts the code and name from a message of the form
// "Code: 62. DB::Exception: ... (SYNTAX_ERROR) (version 26.5.1.1)".
func parseError(msg string) *Error {
	msg = strings.TrimSpace(msg)
	e := &Error{Message: msg}
	if i := strings.Index(msg, "Code: "); i >= 0 {
		rest := msg[i+len("Code: "):]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		e.Code, _ = strconv.Atoi(rest[:j])
	}
	// The name is the last parenthesised upper-case word before "(version".
	tail := msg
	if k := strings.LastIndex(tail, "(version "); k >= 0 {
		tail = strings.TrimSpace(tail[:k])
	}
	if strings.HasSuffix(tail, ")") {
		if k := strings.LastIndex(tail, "("); k >= 0 {
			name := tail[k+1 : len(tail)-1]
			if name != "" && strings.ToUpper(name) == name && !strings.ContainsAny(name, " .") {
				e.Name = name
			}
		}
	}
	return e
}
