package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

func newGraphCmd(g *globalFlags) *cobra.Command {
	var (
		from, to, service, apiURL string
		since                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Print the service call graph of a time range",
		Long: `Print the service call graph of a time range: every edge with its request
rate, error percentage, latency quantiles, message delivery ratio and breaker
state. Rates are over the time that has calls (from the range's first call to
its last), not the whole range.

By default it reads the flow_edges rollups from ClickHouse, which the analyzer
writes about once a minute: the newest minute or two are not in them yet. With
--api it asks a running analyzer, which adds the counts it has not written yet
and knows live breaker states. The header says which, and how old the newest
call is.

  flowlens graph --since 15m
  flowlens graph --service checkout -o json
  flowlens graph --api http://127.0.0.1:8428`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			if since <= 0 {
				return fmt.Errorf("--since %s: must be positive", since)
			}
			if from == "" {
				var err error
				if from, err = api.FromSince(to, since, time.Now()); err != nil {
					return fmt.Errorf("--to: %w", err)
				}
			}
			ctx := cmd.Context()
			var gr api.Graph
			if apiURL != "" {
				q := url.Values{"from": {from}, "to": {to}, "service": {service}}
				u := strings.TrimRight(apiURL, "/") + "/api/v1/graph?" + q.Encode()
				client, err := g.apiClient(time.Minute)
				if err != nil {
					return err
				}
				if err := getJSON(cmd, client, u, &gr); err != nil {
					return err
				}
			} else {
				now := time.Now()
				toT, err := api.ParseTime(to, now, now)
				if err != nil {
					return fmt.Errorf("--to: %w", err)
				}
				fromT, err := api.ParseTime(from, now, now)
				if err != nil {
					return fmt.Errorf("--from: %w", err)
				}
				// the console's and the Grafana plugin's answer: one query layer
				gr, err = readStore(ctx, g, func(st *storage.Store) (api.Graph, error) {
					qg, err := query.Reader{Store: st}.Graph(ctx, query.GraphRequest{From: fromT, To: toT, Service: service, Depth: 1})
					return storedGraph(qg), err
				})
				if err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if g.Output == "json" {
				return writeJSON(out, gr)
			}
			printGraph(out, gr, apiURL, time.Now())
			return nil
		},
	}
	cmd.Flags().DurationVar(&since, "since", time.Hour, "show this far back from --to")
	cmd.Flags().StringVar(&from, "from", "", "start: RFC 3339, unix seconds or now-<duration> (overrides --since)")
	cmd.Flags().StringVar(&to, "to", "now", "end: RFC 3339, unix seconds or now-<duration>")
	cmd.Flags().StringVar(&service, "service", "", "only the edges this service takes part in")
	cmd.Flags().StringVar(&apiURL, "api", "", "URL of a running analyzer (flowlens flowgraph / up) instead of ClickHouse")
	return cmd
}

// storedGraph is the query layer's graph of the rollups in the shape the
// analyzer's API answers, so both print alike.
func storedGraph(q query.Graph) api.Graph {
	g := api.Graph{From: q.From, To: q.To, Source: "storage", FirstCall: q.FirstCall, LastCall: q.LastCall,
		RateSeconds: q.RateSeconds, Nodes: q.Nodes, Edges: make([]api.Edge, len(q.Edges)), Breakers: q.Breakers}
	for i, e := range q.Edges {
		g.Edges[i] = e.Edge
	}
	return g
}

func getJSON(cmd *cobra.Command, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get graph: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("get graph: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get graph: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("get graph: decode: %w", err)
	}
	return nil
}

// describeSource says where a graph's counts come from and how fresh they are.
func describeSource(source, apiURL string) string {
	const rollups = "ClickHouse rollups, which the analyzer writes about once a minute: the newest minute or two are not in them yet"
	switch {
	case source == "storage+memory":
		return "the analyzer at " + apiURL + ": ClickHouse rollups and the counts it has not written yet"
	case source == "memory":
		return "the analyzer at " + apiURL + ": its counts since it started (it has no storage)"
	case apiURL != "":
		return rollups + ", through the analyzer at " + apiURL
	}
	return rollups + " (--api <analyzer URL> adds them)"
}

// breakerCell is an edge's BREAKER column, the same whatever the source:
// the range's requests by the client's breaker state and its changes, and
// the live state when an analyzer knows it.
func breakerCell(e api.Edge) string {
	var parts []string
	if b := e.BreakerRequests; b != nil || e.BreakerTransitions > 0 {
		if b == nil {
			b = &api.BreakerRequests{}
		}
		changes := "changes"
		if e.BreakerTransitions == 1 {
			changes = "change"
		}
		parts = append(parts, fmt.Sprintf("%d open/%d half/%d closed, %d %s", b.Open, b.HalfOpen, b.Closed, e.BreakerTransitions, changes))
	}
	if e.Breaker != nil {
		parts = append(parts, "now "+e.Breaker.State)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

// printDestinations prints the edges' messages per messaging destination,
// when any edge names one: per queue and consumer, what was delivered of
// what the producer sent to that queue.
func printDestinations(w io.Writer, edges []api.Edge) {
	var tw *tabwriter.Writer
	for _, e := range edges {
		for _, d := range e.Destinations {
			if tw == nil {
				fmt.Fprintln(w, "\nDESTINATIONS")
				tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "DESTINATION\tPRODUCER\tCONSUMER\tSENT\tRECEIVED\tDELIVERED")
			}
			delivered := "-"
			if d.DeliveryRatio != nil {
				delivered = fmt.Sprintf("%.2f%% (%d/%d)", 100**d.DeliveryRatio, d.MessagesReceived, d.ProducerSent)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", d.Name, e.Client, e.Server, d.MessagesSent, d.MessagesReceived, delivered)
		}
	}
	if tw != nil {
		tw.Flush()
	}
}

// printGraph prints gr as tables; apiURL is the analyzer it came from ("":
// ClickHouse), now the time to tell the newest call's age against.
func printGraph(w io.Writer, gr api.Graph, apiURL string, now time.Time) {
	fmt.Fprintf(w, "graph %s .. %s: %s, %s\n", gr.From.Format(time.RFC3339), gr.To.Format(time.RFC3339),
		count(len(gr.Nodes), "node", "nodes"), count(len(gr.Edges), "edge", "edges"))
	fmt.Fprintf(w, "source: %s\n", describeSource(gr.Source, apiURL))
	if gr.FirstCall == nil {
		fmt.Fprintf(w, "calls: none in this range\n\n")
	} else {
		age := max(now.Sub(*gr.LastCall), 0) // clocks apart: not in the future
		fmt.Fprintf(w, "calls: %s .. %s (the newest %s ago); REQ/S is over these %s\n\n", gr.FirstCall.Format(time.RFC3339),
			gr.LastCall.Format(time.RFC3339), age.Round(time.Second), time.Duration(gr.RateSeconds*float64(time.Second)).Round(time.Second))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSERVER\tTYPE\tREQUESTS\tREQ/S\tERR%\tP50ms\tP95ms\tP99ms\tDELIVERED\tRETRIES\tBREAKER")
	for _, e := range gr.Edges {
		delivered := "-"
		if e.DeliveryRatio != nil {
			delivered = fmt.Sprintf("%.2f%% (%d/%d)", 100**e.DeliveryRatio, e.MessagesReceived, e.ProducerSent)
		}
		brk := breakerCell(e)
		ct := e.ConnectionType
		if ct == "" {
			ct = "sync"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%s\t%d\t%s\n", e.Client, e.Server, ct, e.Requests,
			e.RequestRate, e.ErrorPercent, e.P50ms, e.P95ms, e.P99ms, delivered, e.Retries, brk)
	}
	tw.Flush()
	printDestinations(w, gr.Edges)
	if len(gr.Breakers) > 0 {
		fmt.Fprintln(w, "\nBREAKERS")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tTARGET\tSTATE\tSINCE\tTO OPEN\tTO HALF_OPEN\tTO CLOSED")
		for _, b := range gr.Breakers {
			since := b.Since.Format(time.RFC3339)
			if b.SinceFirstSeen {
				since = "unknown (first seen " + since + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", b.Service, b.Target, b.State, since,
				b.Transitions["open"], b.Transitions["half_open"], b.Transitions["closed"])
		}
		tw.Flush()
	}
}
