package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/ledger"
	"github.com/flowlens/flowlens/query"
)

// errRecordsMissing makes `flowlens ledger` exit non-zero when records
// went missing, after printing where.
type errRecordsMissing uint64

func (e errRecordsMissing) Error() string {
	return fmt.Sprintf("%s missing (see above)", count(int(e), "record", "records"))
}

func newLedgerCmd(g *globalFlags) *cobra.Command {
	var (
		tf        timeFlags
		host      string
		grace     time.Duration
		intervals bool
	)
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Loss accounting per host: records accepted by the agents, acknowledged by Kafka, stored, dead-lettered and missing",
		Long: `Reconcile, per host and interval, what each agent accepted (made durable
in its disk buffer), what Kafka acknowledged and what the agent dropped
(its reports on the ledger topic) against what the collectors stored and
dead-lettered (counted per batch, exactly once):

  missing           = accepted - dropped - stored - dead-lettered
  lost before Kafka = accepted - acknowledged - dropped  (the agent's buffer)
  lost after Kafka  = acknowledged - stored - dead-lettered

Only closed intervals are judged: their end plus --grace has passed. Extra
records (stored beyond what the agent reported) come from an agent that
crashed: records sent again from its buffer, or its last counts lost.

The command exits with status 1 when records are missing. The collector
serves the same as flowlens_ledger_missing_records{host} (ledger.window,
default the last hour).

  flowlens ledger --since 24h
  flowlens ledger --host web-1 --intervals
  flowlens ledger -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			now := time.Now()
			from, to, err := tf.rangeOf(now)
			if err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			st, closeStore, err := g.openStore(cmd.Context(), log, chserver.RoleReader, false)
			if err != nil {
				return err
			}
			defer closeStore()
			rep, err := query.Reader{Store: st}.Ledger(cmd.Context(), query.LedgerRequest{From: from, To: to, Now: now, Host: host, Grace: grace})
			if err != nil {
				return withSchemaHint(err)
			}
			if g.Output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printLedger(cmd.OutOrStdout(), rep, intervals)
			}
			if rep.Missing > 0 {
				return errRecordsMissing(rep.Missing)
			}
			return nil
		},
	}
	f := cmd.Flags()
	tf.register(f)
	f.StringVar(&host, "host", "", "only this host (the agent's host_name)")
	f.DurationVar(&grace, "grace", ledger.DefaultGrace, "judge an interval this long after its end (the pipeline's lag)")
	f.BoolVar(&intervals, "intervals", false, "list every interval, not only those with records missing or extra")
	return cmd
}

func printLedger(w io.Writer, rep ledger.Report, all bool) {
	fmt.Fprintf(w, "loss ledger, %s to %s UTC; intervals judged %s after their end\n\n", rep.From.UTC().Format("2006-01-02 15:04"),
		rep.To.UTC().Format("2006-01-02 15:04"), rep.Grace)
	if len(rep.Hosts) == 0 {
		fmt.Fprintln(w, "no ledger in this range (agents with ledger.enabled send it; flowlens migrate creates its tables)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "HOST\tACCEPTED\tACKED BY KAFKA\tDROPPED\tSTORED\tDEAD-LETTERED\tMISSING\tEXTRA\tOPEN INTERVALS\t")
	for _, h := range rep.Hosts {
		c := h.Closed
		missing := thousands(c.Missing) + "  "
		if c.Missing > 0 {
			missing = thousands(c.Missing) + " ✗"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", h.Name, thousands(c.Accepted), thousands(c.Acked), thousands(c.Dropped),
			thousands(c.Stored), thousands(c.DeadLettered), missing, thousands(c.Extra), h.Open)
	}
	tw.Flush()

	var lines []string
	for _, h := range rep.Hosts {
		for _, iv := range h.Intervals {
			if !all && (!iv.Closed || iv.Missing == 0 && iv.Extra == 0) {
				continue
			}
			lines = append(lines, fmt.Sprintf("  %s  %s  %-5s  %s", h.Name, iv.Start.Format("2006-01-02 15:04:05"), iv.Kind, explainInterval(iv)))
		}
	}
	if len(lines) > 0 {
		title := "\nintervals with records missing or extra:"
		if all {
			title = "\nintervals:"
		}
		fmt.Fprintln(w, title)
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	}
}

// explainInterval says what an interval's counts mean.
func explainInterval(iv ledger.Interval) string {
	c := iv.Counts
	base := fmt.Sprintf("accepted %s, acked %s, stored %s, dead-lettered %s", thousands(c.Accepted), thousands(c.Acked),
		thousands(c.Stored), thousands(c.DeadLettered))
	var why []string
	switch {
	case !iv.Closed:
		why = append(why, "open")
	case !iv.Reported:
		why = append(why, fmt.Sprintf("%s stored without an agent report (agent crashed before reporting, or ledger off)", thousands(c.Extra)))
	default:
		if c.LostBeforeKafka > 0 {
			why = append(why, fmt.Sprintf("%s lost before Kafka (the agent's buffer)", thousands(c.LostBeforeKafka)))
		}
		if c.LostAfterKafka > 0 {
			why = append(why, fmt.Sprintf("%s lost after Kafka (acknowledged, never stored)", thousands(c.LostAfterKafka)))
		}
		if c.Missing > 0 && len(why) == 0 {
			why = append(why, fmt.Sprintf("%s missing", thousands(c.Missing)))
		}
		if c.Extra > 0 {
			why = append(why, fmt.Sprintf("%s extra (sent again after an agent restart, or its last counts lost)", thousands(c.Extra)))
		}
	}
	if len(why) == 0 {
		return base
	}
	return base + ": " + strings.Join(why, "; ")
}
