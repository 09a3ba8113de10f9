package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/conformance"
	"github.com/flowlens/flowlens/conformance/policy"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

func newConformanceCmd(g *globalFlags) *cobra.Command {
	var (
		req conformance.Request
		tf  timeFlags
	)
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "How well each service follows the logging policy: log fields, and calls recorded on both sides",
		Long: `Report, per service over a window of stored data, the share of its log
records that carry the service name, an instance, a severity and the trace
ID, and the share of its calls recorded on both sides. Calls recorded on one
side only are listed with their peer: a client span whose server never
appears points at an uninstrumented peer, a server span with no client side
at a caller that does not record its calls. Shares below --target are marked.

Whether a record had its own timestamp cannot be told from stored data; the
flow analyzer counts it live (flowlens_conformance_* metrics), and the
conformance rule shorthand alerts on those (rules/README.md).

  flowlens conformance --since 24h
  flowlens conformance --service checkout --target 0.95 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			var err error
			if req.From, req.To, err = tf.rangeOf(time.Now()); err != nil {
				return err
			}
			return readAndWrite(cmd, g, func(st *storage.Store) (conformance.Report, error) {
				return query.Reader{Store: st}.Conformance(cmd.Context(), req)
			}, printConformance)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Service, "service", "", "only this service")
	f.Float64Var(&req.Target, "target", conformance.DefaultTarget, "mark shares below this (0 to 1)")
	tf.register(f)
	return cmd
}

func printConformance(w io.Writer, rep conformance.Report) {
	fmt.Fprintf(w, "logging policy, %s to %s UTC, target %s\n\n", rep.From.UTC().Format("2006-01-02 15:04"),
		rep.To.UTC().Format("2006-01-02 15:04"), pct(rep.Target))
	if len(rep.Services) == 0 {
		fmt.Fprintln(w, "no log records and no calls in this range")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := []string{"SERVICE", "LOG RECORDS"}
	for _, f := range policy.Fields {
		if f != policy.FieldTimestamp { // not in stored records: see the note
			head = append(head, strings.ToUpper(strings.ReplaceAll(f, "_", " ")))
		}
	}
	fmt.Fprintln(tw, strings.Join(append(head, "CALLS MADE", "BOTH SIDES", "CALLS SERVED", "BOTH SIDES"), "\t")+"\t")
	mark := func(share float64) string {
		if share < rep.Target {
			return pct(share) + " ✗"
		}
		return pct(share) + "  "
	}
	for _, s := range rep.Services {
		cells := []string{s.Name}
		if s.Logs == nil {
			cells = append(cells, strings.Split(strings.Repeat("-", len(head)-1), "")...)
		} else {
			cells = append(cells, thousands(s.Logs.Records))
			for _, f := range s.Logs.Fields {
				if f.Known {
					cells = append(cells, mark(f.Share))
				}
			}
		}
		for _, c := range []*conformance.Calls{s.Client, s.Server} {
			if c == nil {
				cells = append(cells, "-", "-")
				continue
			}
			cells = append(cells, thousands(c.Calls), mark(c.Share))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()

	var one []string
	for _, s := range rep.Services {
		if s.Client != nil {
			for _, p := range s.Client.OneSided {
				one = append(one, fmt.Sprintf("  %s → %s: %s: %s", s.Name, p.Name, count(int(p.Calls), "call", "calls"), p.Meaning))
			}
		}
		if s.Server != nil {
			for _, p := range s.Server.OneSided {
				one = append(one, fmt.Sprintf("  %s → %s: %s: %s", p.Name, s.Name, count(int(p.Calls), "call", "calls"), p.Meaning))
			}
		}
	}
	if len(one) > 0 {
		fmt.Fprintln(w, "\ncalls recorded on one side only:")
		fmt.Fprintln(w, strings.Join(one, "\n"))
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "\n"+n)
	}
}

// pct prints a share as a percentage with one decimal.
func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// thousands prints n with thousands separators.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
