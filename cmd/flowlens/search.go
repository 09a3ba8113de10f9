package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/internal/severity"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// timeFlags are the time-range flags shared by spans and logs.
type timeFlags struct {
	since    time.Duration
	from, to string
}

func (t *timeFlags) register(f *pflag.FlagSet) {
	f.DurationVar(&t.since, "since", time.Hour, "search this far back from --to (or now)")
	f.StringVar(&t.from, "from", "", "start of the range, RFC 3339 (overrides --since)")
	f.StringVar(&t.to, "to", "", "end of the range, RFC 3339 (default now)")
}

func (t *timeFlags) rangeOf(now time.Time) (from, to time.Time, err error) {
	to = now
	if t.to != "" {
		if to, err = time.Parse(time.RFC3339Nano, t.to); err != nil {
			return from, to, fmt.Errorf("--to: %w", err)
		}
	}
	if t.since <= 0 {
		return from, to, fmt.Errorf("--since %s: must be positive", t.since)
	}
	from = to.Add(-t.since)
	if t.from != "" {
		if from, err = time.Parse(time.RFC3339Nano, t.from); err != nil {
			return from, to, fmt.Errorf("--from: %w", err)
		}
	}
	return from, to, nil
}

func newSpansCmd(g *globalFlags) *cobra.Command {
	var (
		q     storage.SpanQuery
		attrs []string
		tf    timeFlags
	)
	cmd := &cobra.Command{
		Use:   "spans",
		Short: "Search spans (newest first)",
		Example: `  flowlens spans --service checkout --status error --since 15m
  flowlens spans --operation 'GET /cart' --min-duration 500ms --attr http.route=/cart -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			var err error
			if q.From, q.To, err = tf.rangeOf(time.Now()); err != nil {
				return err
			}
			if len(attrs) > 0 {
				q.Attributes = map[string]string{}
				for _, a := range attrs {
					k, v, ok := strings.Cut(a, "=")
					if !ok || k == "" {
						return fmt.Errorf("--attr %q: want key=value", a)
					}
					q.Attributes[k] = v
				}
			}
			return readAndWrite(cmd, g, func(st *storage.Store) ([]storage.Span, error) {
				spans, err := st.SearchSpans(cmd.Context(), q)
				return nonNil(spans), err
			}, printSpans)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Service, "service", "", "service name (exact)")
	f.StringVar(&q.Operation, "operation", "", "span name (exact)")
	f.DurationVar(&q.MinDuration, "min-duration", 0, "only spans at least this long, e.g. 250ms")
	f.StringVar(&q.Status, "status", "", "ok, error or unset")
	f.StringArrayVar(&attrs, "attr", nil, "span attribute key=value (repeatable; all must match)")
	f.IntVar(&q.Limit, "limit", storage.DefaultSearchLimit, fmt.Sprintf("at most this many spans (max %d)", storage.MaxSearchLimit))
	tf.register(f)
	return cmd
}

func printSpans(w io.Writer, spans []storage.Span) {
	if len(spans) == 0 {
		fmt.Fprintln(w, "no spans")
		return
	}
	fmt.Fprintf(w, "%-30s %s %s %9s %-6s %s\n", "TIME (UTC)", pad("SERVICE", 18), pad("OPERATION", 32), "DURATION", "STATUS", "TRACE ID")
	for _, sp := range spans {
		fmt.Fprintf(w, "%-30s %s %s %9s %-6s %s\n", sp.Timestamp.UTC().Format("2006-01-02T15:04:05.000000000"),
			pad(sp.ServiceName, 18), pad(sp.Name, 32), fmtDur(sp.Duration), sp.StatusCode, sp.TraceID)
	}
}

func newLogsCmd(g *globalFlags) *cobra.Command {
	var (
		q  storage.LogQuery
		tf timeFlags
	)
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Search log records (newest first)",
		Example: `  flowlens logs --service checkout --severity warn --since 30m
  flowlens logs --contains timeout --trace-id 0af7651916cd43dd8448eb211c80319c -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			var err error
			if q.From, q.To, err = tf.rangeOf(time.Now()); err != nil {
				return err
			}
			return readAndWrite(cmd, g, func(st *storage.Store) ([]storage.LogRecord, error) {
				logs, err := query.Reader{Store: st}.SearchLogs(cmd.Context(), q) // as the console and the Grafana plugin search
				return nonNil(logs), err
			}, printLogs)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Service, "service", "", "service name (exact)")
	f.StringVar(&q.Severity, "severity", "", "minimum severity: trace, debug, info, warn, error, fatal")
	f.StringVar(&q.Contains, "contains", "", "text the body contains (case-insensitive)")
	f.StringVar(&q.TraceID, "trace-id", "", "only records of this trace (32 hex digits)")
	f.IntVar(&q.Limit, "limit", storage.DefaultSearchLimit, fmt.Sprintf("at most this many records (max %d)", storage.MaxSearchLimit))
	tf.register(f)
	return cmd
}

func printLogs(w io.Writer, logs []storage.LogRecord) {
	if len(logs) == 0 {
		fmt.Fprintln(w, "no log records")
		return
	}
	// trace IDs whole: they are what people paste into flowlens trace
	fmt.Fprintf(w, "%-30s %-6s %s %-32s %s\n", "TIME (UTC)", "SEV", pad("SERVICE", 18), "TRACE ID", "BODY")
	for _, l := range logs {
		sev := l.SeverityText
		if sev == "" {
			sev = severity.Name(int32(l.SeverityNumber))
		}
		trace := l.TraceID
		if trace == "" {
			trace = "-"
		}
		fmt.Fprintf(w, "%-30s %-6s %s %-32s %s\n", l.Timestamp.UTC().Format("2006-01-02T15:04:05.000000000"),
			clip(sev, 6), pad(l.ServiceName, 18), trace, clip(l.Body, 160))
	}
}
