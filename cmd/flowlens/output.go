package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// writeJSON writes v as indented JSON (the --output json form).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// nonNil is v, or an empty slice for nil: a JSON list, never null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// checkOutput validates --output.
func checkOutput(g *globalFlags) error {
	switch g.Output {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("--output %q: want text or json", g.Output)
}

// count says n of a thing: "1 problem", "2 problems".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// fmtDur prints a duration compactly for tables: 850µs, 12.3ms, 1.52s, 2m03s.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

// clip shortens s to n runes with an ellipsis, and flattens line breaks so
// one record stays on one line.
func clip(s string, n int) string {
	s = strings.NewReplacer("\n", "⏎", "\r", "", "\t", " ").Replace(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}

// pad right-pads s to n runes (after clipping).
func pad(s string, n int) string {
	s = clip(s, n)
	if k := len([]rune(s)); k < n {
		s += strings.Repeat(" ", n-k)
	}
	return s
}

// withSchemaHint adds what to do when the schema is missing.
func withSchemaHint(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && (ex.Code == 81 || ex.Code == 60) { // UNKNOWN_DATABASE, UNKNOWN_TABLE
		return fmt.Errorf("%w\n(no flowlens schema there yet: run `flowlens migrate`, or `flowlens load` some data)", err)
	}
	return err
}
