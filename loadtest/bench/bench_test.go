package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/internal/config"
)

// Components bind port 0 and log what they got; the harness reads the
// address from their log lines, as zap's console encoder writes them.
func TestLoggedAddr(t *testing.T) {
	log := filepath.Join(t.TempDir(), "x.log")
	lines := "2026-12-06T01:35:27.171Z\tINFO\tchserver/server.go:158\tClickHouse HTTP endpoint listening\t{\"addr\": \"127.0.0.1:37981\", \"data_dir\": \"/tmp/b/clickhouse\"}\n" +
		"2026-12-06T01:35:27.726Z\tINFO\tkafkabroker/broker.go:179\tembedded kafka broker started\t{\"addrs\": [\"127.0.0.1:40829\"], \"data_dir\": \"/tmp/b/kafka\"}\n" +
		"2026-12-06T01:35:27.934Z\tINFO\tcollector\tcollector/collector.go:204\tcollector started\t{\"group\": \"flowlens-collector\", \"http\": \"127.0.0.1:34537\", \"brokers\": [\"127.0.0.1:40829\"]}\n"
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &proc{name: "x", cmd: exec.Command("true"), log: f}
	for _, tc := range []struct{ msg, key, want string }{
		{"ClickHouse HTTP endpoint listening", "addr", "127.0.0.1:37981"},
		{"embedded kafka broker started", "addrs", "127.0.0.1:40829"},
		{"collector started", "http", "127.0.0.1:34537"},
	} {
		got, err := p.loggedAddr(context.Background(), tc.msg, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.msg, got, err, tc.want)
		}
	}
	if _, err := p.loggedAddr(context.Background(), "collector started", "data_dir"); err == nil {
		t.Error("a line without the field gave an address")
	}
}

// The agent's config a run writes is one the agent takes, with and without
// the ledger: a renamed key stopped every bench-e2e run at the agent.
func TestAgentConfigLoads(t *testing.T) {
	for _, ledger := range []string{"", "ledger: {enabled: false}\n"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(path, []byte(agentConfig(filepath.Join(dir, "agent"), dir, "127.0.0.1:9092", ledger)), 0o644); err != nil {
			t.Fatal(err)
		}
		var cfg agent.Config
		if err := config.Load(path, &cfg); err != nil {
			t.Errorf("ledger %q: %v", ledger, err)
		}
	}
}

// --logs-per-span 0 measures spans alone: the shop writes no log files;
// otherwise it writes that many lines per span where the agent tails.
func TestLoadgenArgsLogsPerSpan(t *testing.T) {
	ep := endpoints{agentGRPC: "127.0.0.1:4317", logDir: "/run/shop-logs", flags: []string{"--database", "bench"}}
	flagValue := func(args []string, name string) (string, bool) {
		for i, a := range args {
			if a == name && i+1 < len(args) {
				return args[i+1], true
			}
		}
		return "", false
	}
	none := loadgenArgs(Config{Rate: 10, LogsPerSpan: 0}, ep, "r")
	if dir, ok := flagValue(none, "--log-dir"); ok {
		t.Errorf("logs per span 0: the shop writes logs into %s", dir)
	}
	two := loadgenArgs(Config{Rate: 10, LogsPerSpan: 2}, ep, "r")
	if dir, _ := flagValue(two, "--log-dir"); dir != ep.logDir {
		t.Errorf("logs per span 2: log dir %q; want %q", dir, ep.logDir)
	}
	if n, _ := flagValue(two, "--logs-per-span"); n != "2" {
		t.Errorf("logs per span 2: --logs-per-span %q", n)
	}
}
