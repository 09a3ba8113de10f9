package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/internal/bytesize"
)

// controlCommands are status and reload: they talk to the running agent
// over its status socket (found from the config file, or --socket).
func controlCommands(cfgPath *string) []*cobra.Command {
	var socket string
	client := func() (*agent.ControlClient, error) {
		if socket == "" {
			s, err := agent.StatusSocketOf(*cfgPath)
			if err != nil {
				return nil, err
			}
			socket = s
		}
		return agent.NewControlClient(socket), nil
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Ask the running agent what it reads, its offsets and lag, the buffer's fill and whether Kafka is reachable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	reload := &cobra.Command{
		Use:   "reload",
		Short: "Make the running agent apply its config file again (as SIGHUP does); a bad config is refused and the running one kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := c.Reload(cmd.Context()); err != nil {
				var refused *agent.AgentError
				if errors.As(err, &refused) {
					return fmt.Errorf("reload refused, the agent runs on: %w", err)
				}
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "reloaded")
			return nil
		},
	}
	for _, c := range []*cobra.Command{status, reload} {
		c.Flags().StringVar(&socket, "socket", "", "the agent's status socket (default: status.socket of the config, data_dir/agent.sock)")
	}
	return []*cobra.Command{status, reload}
}

// printStatus is the human table of a status.
func printStatus(out io.Writer, st agent.Status) {
	fmt.Fprintf(out, "flowlens-agent %s, up %s\n", st.Version, time.Since(st.StartedAt).Round(time.Second))
	if r := st.Reload; r != nil {
		if r.Error != "" {
			fmt.Fprintf(out, "last reload %s: REFUSED: %s\n", r.At.Format(time.RFC3339), r.Error)
		} else {
			fmt.Fprintf(out, "last reload %s: ok\n", r.At.Format(time.RFC3339))
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSOURCE\tKIND\tREADING\tRECORDS\tLAG\tLAST ERROR")
	for _, s := range st.Sources {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.Kind, strings.Join(s.Reading, " "), s.Records, bytesize.Size(s.LagBytes), orDash(s.LastError))
	}
	tw.Flush()
	files := false
	for _, s := range st.Sources {
		files = files || len(s.Files) > 0
	}
	if files {
		fmt.Fprintln(tw, "\nSOURCE\tFILE\tSIZE\tREAD\tCOMMITTED\tLAG")
		for _, s := range st.Sources {
			for _, f := range s.Files {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", s.Name, f.Path, f.Size, f.ReadOffset, f.CommittedOffset, f.LagBytes)
			}
		}
		tw.Flush()
	}
	b := st.Buffer
	fmt.Fprintf(out, "\nbuffer: %s of %s (%.1f%%), %d messages, when full: %s", bytesize.Size(b.Bytes), bytesize.Size(b.MaxBytes), b.FillPercent, b.Messages, b.WhenFull)
	if b.Full {
		fmt.Fprint(out, ", FULL")
	}
	if b.Error != "" {
		fmt.Fprintf(out, ", FAILED: %s", b.Error)
	}
	fmt.Fprintln(out)
	k := st.Kafka
	reach := "reachable"
	if !k.Reachable {
		reach = "NOT reachable: " + k.Error
	}
	fmt.Fprintf(out, "kafka %s: %s; sent %d messages (%d records)", strings.Join(k.Brokers, ","), reach, k.MessagesSent, k.RecordsSent)
	if k.LastError != "" {
		fmt.Fprintf(out, "; last send error: %s", k.LastError)
	}
	fmt.Fprintln(out)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
