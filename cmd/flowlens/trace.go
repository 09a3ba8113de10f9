package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internal/severity"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

func newTraceCmd(g *globalFlags) *cobra.Command {
	var (
		width      int
		consoleURL string
	)
	cmd := &cobra.Command{
		Use:   "trace <trace-id>",
		Short: "Show a trace as a waterfall, with its logs",
		Long: `Show every span of a trace as a waterfall (service, operation, offset from
the trace start, duration, status, a bar on the time axis) with the log
records that carry the trace ID interleaved by time, and under each span its
links (the trace and span it links to: a consumer's producer, for one). The ID
is 32 hex digits, as flowlens logs and spans print it.

The last line is the trace's page in the web console, when a console is
known: --console-url, $FLOWLENS_CONSOLE_URL, or the one flowlens up serves.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			if _, err := storage.ParseTraceID(args[0]); err != nil {
				return err
			}
			tr, err := readStore(cmd.Context(), g, func(st *storage.Store) (storage.Trace, error) {
				return st.GetTrace(cmd.Context(), args[0])
			})
			if err != nil {
				return err
			}
			if g.Output == "json" {
				return writeJSON(cmd.OutOrStdout(), tr)
			}
			if err := renderWaterfall(cmd.OutOrStdout(), tr, width); err != nil {
				return err
			}
			if base := consoleBase(cmd.Context(), consoleURL); base != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "\nconsole: %s\n", consoleTraceURL(base, tr.TraceID))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&width, "width", 40, "width of the time axis in characters")
	cmd.Flags().StringVar(&consoleURL, "console-url", "", "base URL of the web console to link the trace to (default $"+consoleEnv+", or flowlens up's)")
	return cmd
}

// waterfallRow is a span or a log line of the waterfall.
type waterfallRow struct {
	at    time.Time
	depth int
	span  *storage.Span
	log   *storage.LogRecord
}

// renderWaterfall prints tr as a table ordered by time: spans indented under
// their parents, logs under the span they were written in.
func renderWaterfall(w io.Writer, tr storage.Trace, width int) error {
	if width < 10 {
		width = 10
	}
	depth := query.SpanDepths(tr.Spans)
	linkedFrom := map[string][]storage.LinkingSpan{}
	for _, l := range tr.LinkedFrom {
		linkedFrom[l.LinkedSpanID] = append(linkedFrom[l.LinkedSpanID], l)
	}
	var rows []waterfallRow
	var start, end time.Time
	services := map[string]bool{}
	for i := range tr.Spans {
		sp := &tr.Spans[i]
		rows = append(rows, waterfallRow{at: sp.Timestamp, depth: depth[sp.SpanID], span: sp})
		if start.IsZero() || sp.Timestamp.Before(start) {
			start = sp.Timestamp
		}
		if e := sp.Timestamp.Add(sp.Duration); e.After(end) {
			end = e
		}
		services[sp.ServiceName] = true
	}
	for i := range tr.Logs {
		l := &tr.Logs[i]
		d, ok := depth[l.SpanID]
		if ok {
			d++
		}
		rows = append(rows, waterfallRow{at: l.Timestamp, depth: d, log: l})
		if start.IsZero() || l.Timestamp.Before(start) {
			start = l.Timestamp
		}
		if l.Timestamp.After(end) {
			end = l.Timestamp
		}
	}
	// Spans before logs at the same instant; otherwise by time, stable.
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].at.Equal(rows[j].at) {
			return rows[i].at.Before(rows[j].at)
		}
		return rows[i].span != nil && rows[j].span == nil
	})
	total := end.Sub(start)
	fmt.Fprintf(w, "Trace %s  %s, %s, %s, %s, started %s\n\n", tr.TraceID, count(len(tr.Spans), "span", "spans"),
		count(len(services), "service", "services"), count(len(tr.Logs), "log", "logs"), fmtDur(total),
		start.UTC().Format("2006-01-02 15:04:05.000000000Z"))
	fmt.Fprintf(w, "%s %s %9s %9s %-6s %s\n", pad("SERVICE", 18), pad("OPERATION", 36), "OFFSET", "DURATION", "STATUS", "TIMELINE")
	for _, r := range rows {
		indent := strings.Repeat("  ", r.depth)
		offset := r.at.Sub(start)
		if r.span != nil {
			sp := r.span
			status := sp.StatusCode
			if status == "Error" {
				status = "ERROR"
			}
			fmt.Fprintf(w, "%s %s %9s %9s %-6s |%s|\n", pad(sp.ServiceName, 18), pad(indent+sp.Name, 36),
				fmtDur(offset), fmtDur(sp.Duration), status, bar(offset, sp.Duration, total, width))
			if sp.StatusCode == "Error" && sp.StatusMessage != "" {
				fmt.Fprintf(w, "%s %s\n", pad("", 18), clip(indent+"  ! "+sp.StatusMessage, 100))
			}
			// whole IDs, to paste into flowlens trace: a consumer's link leads to its producer
			for _, l := range sp.Links {
				fmt.Fprintf(w, "%s %s  → link: trace %s span %s\n", pad("", 18), indent, l.TraceID, l.SpanID)
			}
			// and a producer's leads to its consumers
			for _, l := range linkedFrom[sp.SpanID] {
				fmt.Fprintf(w, "%s %s  ← linked from: trace %s span %s (%s: %s)\n", pad("", 18), indent, l.TraceID, l.SpanID,
					l.ServiceName, l.Name)
			}
			continue
		}
		l := r.log
		sev := l.SeverityText
		if sev == "" {
			sev = severity.Name(int32(l.SeverityNumber))
		}
		fmt.Fprintf(w, "%s %s %9s %9s %-6s  %s\n", pad(l.ServiceName, 18), pad(indent+"» log", 36),
			fmtDur(offset), "", clip(sev, 6), clip(l.Body, 120))
	}
	return nil
}

// bar draws [offset, offset+dur) of total on width characters.
func bar(offset, dur, total time.Duration, width int) string {
	if total <= 0 {
		return strings.Repeat("█", 1) + strings.Repeat(" ", width-1)
	}
	from := int(float64(offset) / float64(total) * float64(width))
	n := int(float64(dur)/float64(total)*float64(width) + 0.5)
	if n < 1 {
		n = 1
	}
	if from < 0 {
		from = 0
	}
	if from >= width {
		from = width - 1
	}
	if from+n > width {
		n = width - from
	}
	return strings.Repeat(" ", from) + strings.Repeat("█", n) + strings.Repeat(" ", width-from-n)
}
