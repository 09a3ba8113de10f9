package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
)

// standaloneStarted is what flowlens collector and flowlens flowgraph print
// once they run.
var standaloneStarted = regexp.MustCompile(`(?m)^(collector: Kafka|flowgraph: metrics on)`)

// A collector or a flow analyzer run on its own reads the whole storage
// section of its --config, as flowlens up does: the tables it creates have
// the section's TTLs, and its database is the section's.
func TestStandaloneComponentsTakeTheStorageSection(t *testing.T) {
	broker := kafkatest.Start(t, kafkabroker.Config{})
	for _, component := range []string{"collector", "flowgraph"} {
		t.Run(component, func(t *testing.T) {
			db := chtest.Database(t)
			cfg := writeConfig(t, fmt.Sprintf(`storage:
  database: %s
  ttl: {traces: 3, logs: 2, edges: 5}
  compression: zstd
  max_open_conns: 2
`, db))
			p := startFlowlens(t, "--clickhouse", chtest.Addr(t), "--data-dir", chtest.DataDir(t), "--log-level", "warn",
				component, "--config", cfg, "--brokers", broker.Addrs()[0], "--listen", "127.0.0.1:0")
			p.waitOutput(t, standaloneStarted)
			p.stop(t)

			conn := chtest.Open(t, db)
			for table, ttl := range map[string]string{"otel_traces": "toIntervalDay(3)", "otel_logs": "toIntervalDay(2)", "flow_edges": "toIntervalDay(5)"} {
				var ddl string
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := conn.QueryRow(ctx, "SHOW CREATE TABLE "+db+"."+table).Scan(&ddl)
				cancel()
				if err != nil {
					t.Fatalf("%s in the config's database %s: %v", table, db, err)
				}
				if !strings.Contains(ddl, ttl) {
					t.Errorf("%s: want TTL ... + %s from the storage section, got\n%s", table, ttl, ddl)
				}
			}
		})
	}
}

// Against a cluster, a component run on its own creates its tables with
// the cluster's DDL (ON CLUSTER): the embedded engine has no cluster of
// that name, so it refuses, and the component says so instead of quietly
// creating single-node tables.
func TestStandaloneComponentsUseTheClusterOfTheStorageSection(t *testing.T) {
	broker := kafkatest.Start(t, kafkabroker.Config{})
	for _, component := range []string{"collector", "flowgraph"} {
		t.Run(component, func(t *testing.T) {
			db := chtest.Database(t)
			cfg := writeConfig(t, fmt.Sprintf("storage:\n  database: %s\n  cluster: peers_test_cluster\n", db))
			_, stderr, code := runFlowlens(t, nil, "--clickhouse", chtest.Addr(t), "--data-dir", chtest.DataDir(t), "--log-level", "warn",
				component, "--config", cfg, "--brokers", broker.Addrs()[0], "--listen", "127.0.0.1:0")
			if code == 0 || !strings.Contains(stderr, "peers_test_cluster") {
				t.Fatalf("exit %d, want a failure naming the cluster; stderr:\n%s", code, stderr)
			}
		})
	}
}

// The user a storage section names is the one that logs in, also on this
// machine, where the CLI otherwise takes the embedded endpoint's generated
// users: a wrong password fails instead of being quietly replaced.
func TestStandaloneStorageSectionUser(t *testing.T) {
	broker := kafkatest.Start(t, kafkabroker.Config{})
	admin, _ := chtest.Admin(t)
	cfg := writeConfig(t, fmt.Sprintf("storage:\n  database: %s\n  username: %s\n  password: not-the-password\n", chtest.Database(t), admin))
	_, stderr, code := runFlowlens(t, nil, "--clickhouse", chtest.Addr(t), "--data-dir", chtest.DataDir(t), "--log-level", "warn",
		"collector", "--config", cfg, "--brokers", broker.Addrs()[0], "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "AUTHENTICATION_FAILED") {
		t.Fatalf("exit %d, want an authentication failure for the section's user; stderr:\n%s", code, stderr)
	}
}

// Mistakes in the storage section are named by their key, before anything
// starts; --database still overrides the section.
func TestStandaloneStorageSectionChecked(t *testing.T) {
	cfg := writeConfig(t, "storage:\n  compression: brotli\n  ttl: {traces: -1}\n")
	_, stderr, code := runFlowlens(t, nil, "--log-level", "warn", "collector", "--config", cfg, "--brokers", "127.0.0.1:1")
	if code == 0 || !strings.Contains(stderr, "storage.compression") || !strings.Contains(stderr, "storage.ttl.traces") {
		t.Fatalf("exit %d, want errors naming storage.compression and storage.ttl.traces; stderr:\n%s", code, stderr)
	}

	g := &globalFlags{}
	root := &cobra.Command{Use: "flowlens"}
	g.register(root)
	if err := root.ParseFlags([]string{"--database", "other"}); err != nil {
		t.Fatal(err)
	}
	var file componentFile[struct{}]
	file.Storage.Database, file.Storage.Addr, file.Storage.Cluster = "fromfile", "fromfile:8123", "prod"
	got := g.storageConfig(file.Storage, root.Flags())
	if got.Database != "other" || got.Addr != "fromfile:8123" || got.Cluster != "prod" {
		t.Errorf("--database other over a section with database, addr and cluster: got %q, %q, %q", got.Database, got.Addr, got.Cluster)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
