package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
)

func newBrokerCmd(g *globalFlags) *cobra.Command {
	var cfg kafkabroker.Config
	var child bool
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Serve the embedded Kafka-protocol broker alone (one node, for one machine or a small test setup)",
		Long: `Serve the embedded Kafka-protocol broker (franz-go's kfake) with its data in
--data-dir/kafka, and create the flowlens topics with retention. Agents on
other hosts need --listen on an address they can reach: the broker
advertises exactly that address. Production uses a real Kafka cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if child { // flowlens up's broker: its config comes on stdin
				return kafkabroker.ServeChild(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), log)
			}
			if cfg.DataDir == "" {
				cfg.DataDir = filepath.Join(g.DataDir, "kafka")
			}
			b, err := kafkabroker.New(cfg, component.Settings{Logger: log})
			if err != nil {
				return err
			}
			return component.Run(cmd.Context(), b, component.RunOptions{Started: func() {
				fmt.Fprintf(cmd.OutOrStdout(), "Kafka broker on %v (data in %s); Ctrl-C stops it\n", b.Addrs(), cfg.DataDir)
			}})
		},
	}
	cmd.Flags().StringVar(&cfg.Addr, "listen", "127.0.0.1:9092", "address to listen on and advertise")
	cmd.Flags().IntVar(&cfg.Topics.Partitions, "partitions", 0, "partitions of the topics it creates (default 1: one collector, largest inserts)")
	cmd.Flags().BoolVar(&child, "child", false, "serve as flowlens up's broker process (config as JSON on stdin)")
	_ = cmd.Flags().MarkHidden("child")
	return cmd
}
