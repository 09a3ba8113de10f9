package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/install"
	"github.com/flowlens/flowlens/internal/config"
)

// TestLeanDependencies: the agent binary must not link the ClickHouse
// engine, the ClickHouse client, PromQL / the Prometheus server, or the
// Grafana SDK.
func TestLeanDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/flowlens/flowlens/internal/chdb",
		"github.com/flowlens/flowlens/internal/chserver",
		"github.com/ClickHouse/",
		"github.com/prometheus/prometheus",
		"github.com/grafana/",
	}
	deps := strings.Split(string(out), "\n")
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("flowlens-agent links %s", d)
			}
		}
	}
	if len(deps) < 50 {
		t.Fatalf("suspiciously few dependencies: %d", len(deps))
	}
}

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`
data_dir: /tmp/x
files:
  - name: app
    include: [/var/log/app/*.log]
    parse: {format: json}
kafka: {brokers: ["127.0.0.1:9092"]}
`), 0o644)
	out, err := execute(t, "check-config", "--config", good)
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("good config: %v %s", err, out)
	}
	for _, tc := range []struct{ body, field string }{
		{"kafka: {brokers: []}\n", "kafka.brokers"},
		{"kafka: {brokers: [nohost]}\n", "kafka.brokers[0]"},
		{"kafka: {brokers: ['a:1'], compression: brotli}\n", "kafka.compression"},
		{"kafka: {brokers: ['a:1']}\nbuffer: {when_full: panic}\n", "buffer.when_full"},
		{"kafka: {brokers: ['a:1']}\nfiles: [{name: a, include: [rel.log]}]\n", "files[0].include[0]"},
		{"kafka: {brokers: ['a:1']}\nfiles: [{name: a, include: [/x.log], parse: {format: regex}}]\n", "files[0].parse.regex"},
		{"kafka: {brokers: ['a:1']}\nfiles: [{name: a, include: [/x.log], start_at: middle}]\n", "files[0].start_at"},
		{"kafka: {brokers: ['a:1']}\nfiles: [{name: a, include: [/x.log], colour: red}]\n", "files[0].colour: unknown key"},
		{"kafka:\n  brokers: ['a:1']\n  compresion: lz4\n", "kafka.compresion: unknown key (line 3)"},
		{"kafka: {brokers: ['a:1']}\notlp: {grpc: {endpoint: nope}}\n", "otlp.grpc.endpoint"},
		{"kafka: {brokers: ['a:1']}\nfiles: [{name: a, include: [/x.log], max_line_size: 1MiB}]\n", "files[0].max_line_size"},
		{"kafka: {brokers: ['a:1']}\nmemory_limit: 1MiB\n", "memory_limit"},
	} {
		p := filepath.Join(dir, "bad.yaml")
		os.WriteFile(p, []byte(tc.body), 0o644)
		_, err := execute(t, "check-config", "--config", p)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: error %v, want one naming %s", tc.body, err, tc.field)
		}
	}
}

func TestInstallIntoRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	out, err := execute(t, "install", "--root", root, "--brokers", "10.0.0.5:9092")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	for _, want := range []string{"would run `useradd --system", "would run `systemctl enable --now flowlens-agent.service`", "write systemd unit"} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	unit, err := os.ReadFile(filepath.Join(root, install.UnitPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/flowlens-agent run --config /etc/flowlens-agent/agent.yaml", "User=flowlens-agent", "Restart=always"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, install.BinPath)); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("binary not installed: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, install.DataDir)); err != nil || !fi.IsDir() {
		t.Errorf("data folder missing: %v", err)
	}
	// the default config is valid as written
	var cfg agent.Config
	if err := config.Load(filepath.Join(root, install.ConfigPath), &cfg); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if cfg.Kafka.Brokers[0] != "10.0.0.5:9092" {
		t.Errorf("brokers %v", cfg.Kafka.Brokers)
	}
	// a second install keeps the edited config
	os.WriteFile(filepath.Join(root, install.ConfigPath), []byte("# mine\n"), 0o644)
	if out, err := execute(t, "install", "--root", root); err != nil || !strings.Contains(out, "keep existing config") {
		t.Fatalf("reinstall: %v\n%s", err, out)
	}
	// dry run changes nothing
	dry := t.TempDir()
	if out, err := execute(t, "install", "--root", dry, "--dry-run"); err != nil || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: %v %s", err, out)
	}
	if entries, _ := os.ReadDir(dry); len(entries) != 0 {
		t.Errorf("dry run wrote %d entries", len(entries))
	}
	// uninstall removes unit and binary, keeps config and data
	if out, err := execute(t, "uninstall", "--root", root); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, install.UnitPath)); !os.IsNotExist(err) {
		t.Errorf("unit still there")
	}
	if _, err := os.Stat(filepath.Join(root, install.ConfigPath)); err != nil {
		t.Errorf("config removed without --purge")
	}
	if _, err := execute(t, "uninstall", "--root", root, "--purge"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, install.DataDir)); !os.IsNotExist(err) {
		t.Errorf("data still there after --purge")
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, err := execute(t, "version")
	if err != nil || !strings.HasPrefix(out, "flowlens-agent ") {
		t.Fatalf("version: %v %q", err, out)
	}
	out, err = execute(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"run", "check-config", "install", "uninstall", "version"} {
		if !strings.Contains(out, sub) {
			t.Errorf("help lacks %s", sub)
		}
	}
}

// Each command says what it is about to do: uninstall is no install plan.
func TestPlansNameTheirCommand(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	for _, cmd := range []string{"install", "uninstall"} {
		out, err := execute(t, cmd, "--root", root, "--dry-run")
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, "flowlens-agent "+cmd+" plan") {
			t.Errorf("%s begins with %q", cmd, first)
		}
	}
}
