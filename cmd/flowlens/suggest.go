package main

import (
	"fmt"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/rules/suggest"
	"github.com/flowlens/flowlens/storage"
)

// newRulesSuggestCmd is `flowlens rules suggest`: a first draft of the
// flow rules, from what the rollup history shows.
func newRulesSuggestCmd(g *globalFlags) *cobra.Command {
	var (
		since, from, to, out string
		opts                 suggest.Options
	)
	cmd := &cobra.Command{
		Use:   "suggest",
		Short: "Draft flow rules from the rollup history: the ratios that stayed stable and each edge's latency",
		Long: `Read the flow rollups of the last --since (default 7 days), cut into windows
as long as a rule's rate window, and write a rule file in flowlens shorthand:
a ratio rule for each ratio between related flows that stayed stable (an
edge's calls per request its caller served, the messages a consumer received
per message sent to its queue, one downstream's calls per another's of the
same caller), and a latency rule for each edge, above the slowest p99 seen.
Each rule is commented with the observed mean, spread, windows and traffic;
pairs too quiet or too unstable for a rule are listed on stderr.

The file is a draft: review it, keep what you mean, and run
flowlens rules check on it.

  flowlens rules suggest > rules.yml
  flowlens rules suggest --since 3d --window 10m --out rules.yml
  flowlens rules suggest -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			req := query.SuggestRequest{Options: opts}
			var err error
			if req.From, req.To, err = historyRange(since, from, to, time.Now()); err != nil {
				return err
			}
			res, err := readStore(cmd.Context(), g, func(st *storage.Store) (suggest.Result, error) {
				return query.Reader{Store: st}.SuggestRules(cmd.Context(), req)
			})
			if err != nil {
				return err
			}
			if g.Output == "json" {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			file, err := res.RuleFile()
			if err != nil {
				return err
			}
			if out == "" {
				if _, err := cmd.OutOrStdout().Write(file); err != nil {
					return err
				}
			} else if err := os.WriteFile(out, file, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			w := cmd.ErrOrStderr()
			fmt.Fprintf(w, "%s and %s suggested", count(len(res.Ratios), "ratio rule", "ratio rules"), count(len(res.Latency), "latency rule", "latency rules"))
			if out != "" {
				fmt.Fprintf(w, " in %s", out)
			}
			fmt.Fprintln(w, "; review them, then: flowlens rules check")
			if len(res.Skipped) > 0 {
				fmt.Fprintf(w, "no rule for %s:\n", count(len(res.Skipped), "flow", "flows"))
				for _, s := range res.Skipped {
					fmt.Fprintf(w, "  %s: %s (%s)\n", s.What, s.Reason, s.Detail)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "7d", "history this far back from --to (or now): 7d, 36h")
	f.StringVar(&from, "from", "", "start of the history, RFC 3339 (overrides --since)")
	f.StringVar(&to, "to", "", "end of the history, RFC 3339 (default now)")
	f.DurationVar(&opts.Window, "window", suggest.DefaultWindow, "the rules' rate window, and the windows the history is cut into")
	f.Float64Var(&opts.MinRate, "min-rate", 0, "the rules' min_rate: windows whose denominator is at or below this rate per second are not judged (default 0.1)")
	f.StringVarP(&out, "out", "f", "", "write the rule file here instead of stdout")
	return cmd
}

// historyRange reads --since (Prometheus durations: 7d, 36h), --from and
// --to.
func historyRange(since, from, to string, now time.Time) (time.Time, time.Time, error) {
	end := now
	if to != "" {
		var err error
		if end, err = time.Parse(time.RFC3339Nano, to); err != nil {
			return end, end, fmt.Errorf("--to: %w", err)
		}
	}
	if from != "" {
		start, err := time.Parse(time.RFC3339Nano, from)
		if err != nil {
			return start, end, fmt.Errorf("--from: %w", err)
		}
		return start, end, nil
	}
	d, err := model.ParseDuration(since)
	if err != nil || d <= 0 {
		return end, end, fmt.Errorf("--since %q: want a duration like 7d or 36h", since)
	}
	return end.Add(-time.Duration(d)), end, nil
}
