package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/rules/eval"
)

// newAlertsCmd is `flowlens alerts`: the pending, firing and recently
// resolved alerts of a running evaluator.
func newAlertsCmd(g *globalFlags) *cobra.Command {
	var apiURL, state string
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List pending, firing and resolved alerts (table, or --output json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.apiClient(10 * time.Second)
			if err != nil {
				return err
			}
			data, err := alertapi.Fetch(cmd.Context(), client, trimURL(apiURL))
			var none *alertapi.NoEvaluatorError
			if errors.As(err, &none) {
				return fmt.Errorf("%w: start one with `flowlens up --rules FILE` or `flowlens rules eval FILE`, or point --url at yours", err)
			}
			if err != nil {
				return err
			}
			alerts := data.Alerts[:0]
			for _, a := range data.Alerts {
				if state == "" || a.State == state {
					alerts = append(alerts, a)
				}
			}
			out := cmd.OutOrStdout()
			if g.Output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(alertapi.Data{Alerts: alerts, InvalidRules: data.InvalidRules})
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "STATE\tALERT\tLABELS\tVALUE\tSINCE\tSUMMARY")
			now := time.Now()
			for _, a := range alerts {
				since := now.Sub(a.ActiveAt).Truncate(time.Second).String()
				if a.ResolvedAt != nil {
					since = "resolved " + now.Sub(*a.ResolvedAt).Truncate(time.Second).String() + " ago"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.4g\t%s\t%s\n", a.State, a.Name, alertapi.LabelString(a.Labels), a.Value, since,
					strings.ReplaceAll(a.Annotations["summary"], "\n", " "))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, p := range data.InvalidRules {
				fmt.Fprintln(cmd.ErrOrStderr(), "invalid rule:", p)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "url", "http://"+eval.DefaultListen, "flowlens alerts API base URL")
	cmd.Flags().StringVar(&state, "state", "", "only alerts in this state: pending, firing or resolved")
	return cmd
}
