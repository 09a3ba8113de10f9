package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/catalog"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

func newServicesCmd(g *globalFlags) *cobra.Command {
	var (
		tf        timeFlags
		compareTo string
	)
	cmd := &cobra.Command{
		Use:   "services [NAME]",
		Short: "The service catalog: what each service serves, calls, produces and consumes, as observed",
		Long: `Say what each service is, as its traffic shows: the operations it serves with
their callers and rates, what it calls, the topics it produces to and consumes
from, the protocols it speaks (HTTP, gRPC, messaging, databases: from the
semantic conventions of its spans), its instances and versions, and when it
was first and last seen (in the flow rollups of the last 30 days). Databases
and peers that record nothing are listed with their callers.

With --compare-to, also what changed since the same window that much earlier:
new or gone operations, callers, calls, topics, versions, instances and
protocols.

  flowlens services
  flowlens services checkout --since 24h
  flowlens services --since 1h --compare-to 7d -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			req := query.CatalogRequest{}
			if len(args) == 1 {
				req.Service = args[0]
			}
			var err error
			if req.From, req.To, err = tf.rangeOf(time.Now()); err != nil {
				return err
			}
			if compareTo != "" {
				d, err := model.ParseDuration(compareTo)
				if err != nil || d <= 0 {
					return fmt.Errorf("--compare-to %q: want a duration like 1d or 12h", compareTo)
				}
				req.BaselineFrom, req.BaselineTo = req.From.Add(-time.Duration(d)), req.To.Add(-time.Duration(d))
			}
			ans, err := readStore(cmd.Context(), g, func(st *storage.Store) (query.CatalogAnswer, error) {
				return query.Reader{Store: st}.Catalog(cmd.Context(), req)
			})
			if err != nil {
				return err
			}
			if g.Output == "json" {
				return writeJSON(cmd.OutOrStdout(), ans)
			}
			w := cmd.OutOrStdout()
			if req.Service == "" {
				printCatalog(w, ans.Catalog)
			} else {
				found := false
				for _, s := range ans.Services {
					if s.Name == req.Service {
						printService(w, s)
						found = true
					}
				}
				if !found {
					fmt.Fprintf(w, "%s: no calls to or spans of it between %s and %s UTC\n", req.Service,
						req.From.UTC().Format("2006-01-02 15:04"), req.To.UTC().Format("2006-01-02 15:04"))
				}
			}
			if ans.Baseline != nil {
				printChanges(w, ans)
			}
			return nil
		},
	}
	tf.register(cmd.Flags())
	cmd.Flags().StringVar(&compareTo, "compare-to", "", "also list what changed since the same window this much earlier (1d, 7d)")
	return cmd
}

func printCatalog(w io.Writer, c catalog.Catalog) {
	fmt.Fprintf(w, "service catalog, %s to %s UTC\n\n", c.From.UTC().Format("2006-01-02 15:04"), c.To.UTC().Format("2006-01-02 15:04"))
	if len(c.Services) == 0 {
		fmt.Fprintln(w, "no services in this range")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSERVES\tCALLS\tTOPICS\tPROTOCOLS\tINSTANCES\tVERSIONS\tFIRST SEEN (UTC)")
	for _, s := range c.Services {
		var topics []string
		for _, t := range s.Topics {
			topics = append(topics, t.Name)
		}
		first := "-"
		if s.FirstSeen != nil {
			first = s.FirstSeen.UTC().Format("2006-01-02 15:04")
		}
		serves := fmt.Sprint(len(s.Operations))
		if s.Kind != catalog.KindService {
			serves = fmt.Sprintf("(%s)", count(len(s.CalledBy), "caller", "callers"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, serves, len(s.Calls),
			orDash(strings.Join(topics, ", ")), orDash(strings.Join(s.Protocols, ", ")),
			orDash(strings.Join(s.Instances, ", ")), orDash(strings.Join(s.Versions, ", ")), first)
	}
	tw.Flush()
}

func printService(w io.Writer, s catalog.Service) {
	fmt.Fprintf(w, "%s (%s)\n", s.Name, s.Kind)
	if s.FirstSeen != nil {
		fmt.Fprintf(w, "  first seen %s, last seen %s UTC\n", s.FirstSeen.UTC().Format("2006-01-02 15:04:05"), s.LastSeen.UTC().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintf(w, "  instances: %s; versions: %s; protocols: %s\n", orDash(strings.Join(s.Instances, ", ")),
		orDash(strings.Join(s.Versions, ", ")), orDash(strings.Join(s.Protocols, ", ")))
	callers := func(cs []catalog.Caller) string {
		var out []string
		for _, c := range cs {
			name := c.Service
			if c.Via != "" {
				name += " via " + c.Via
			}
			out = append(out, fmt.Sprintf("%s %.3g/s", name, c.Rate))
		}
		return strings.Join(out, ", ")
	}
	if len(s.Operations) > 0 {
		fmt.Fprintln(w, "serves:")
		for _, op := range s.Operations {
			fmt.Fprintf(w, "  %s (%s%s): %.3g/s, %s; called by %s\n", op.Name, op.Kind, prefixed(", ", op.Protocol), op.Rate,
				count(int(op.Errors), "error", "errors"), callers(op.Callers))
		}
	}
	if len(s.CalledBy) > 0 {
		fmt.Fprintf(w, "called by: %s\n", callers(s.CalledBy))
	}
	if len(s.Calls) > 0 {
		fmt.Fprintln(w, "calls:")
		for _, c := range s.Calls {
			how := c.ConnectionType
			if how == "" {
				how = "call"
			}
			if c.Via != "" {
				how = "messages via " + c.Via
			}
			fmt.Fprintf(w, "  %s (%s%s): %.3g/s, %s failed%s\n", c.Service, how, prefixed(", ", c.Protocol), c.Rate,
				thousands(c.Failed), prefixed("; ", strings.Join(c.Operations, ", ")))
		}
	}
	if len(s.Topics) > 0 {
		fmt.Fprintln(w, "topics:")
		for _, t := range s.Topics {
			var roles []string
			if t.Produces {
				roles = append(roles, "produces")
			}
			if t.Consumes {
				roles = append(roles, "consumes")
			}
			fmt.Fprintf(w, "  %s (%s): %s\n", t.Name, orDash(t.System), strings.Join(roles, ", "))
		}
	}
}

func printChanges(w io.Writer, ans query.CatalogAnswer) {
	fmt.Fprintf(w, "\nchanges since %s to %s UTC:\n", ans.Baseline.From.UTC().Format("2006-01-02 15:04"), ans.Baseline.To.UTC().Format("2006-01-02 15:04"))
	if len(ans.Changes) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, c := range ans.Changes {
		fmt.Fprintf(w, "  %s\n", c)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
