package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/install"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/deptest"
)

// TestLeanDependencies: the agent binary must not link the ClickHouse
// engine, the ClickHouse client, PromQL / the Prometheus server, or the
// Grafana SDK.
func TestLeanDependencies(t *testing.T) {
	deptest.Forbid(t, ".", 50,
		"github.com/flowlens/flowlens/internal/embedded/chdb",
		"github.com/flowlens/flowlens/internal/embedded/chserver",
		"github.com/ClickHouse/",
		"github.com/prometheus/prometheus",
		"github.com/grafana/",
	)
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
		{"kafka: {brokers: ['a:1']}\notlp: {grpc: {listen: nope}}\n", "otlp.grpc.listen"},
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
	for _, want := range []string{"would run `useradd --system", "would run `systemctl enable --now flowlens-agent.service`", "write systemd unit",
		"would run `chown root:flowlens-agent /etc/flowlens-agent/agent.yaml`"} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "adm") {
		t.Errorf("the service is given the group adm without --syslog:\n%s", out)
	}
	// the config may hold the Kafka password: not for other users
	if fi, err := os.Stat(filepath.Join(root, install.ConfigPath)); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("config mode %v (%v), want 0640", fi.Mode().Perm(), err)
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
	if len(cfg.Files) != 0 {
		t.Errorf("the default config reads %v without --syslog", cfg.Files)
	}
	// a second install keeps the edited config, but not readable by all
	os.WriteFile(filepath.Join(root, install.ConfigPath), []byte("# mine\n"), 0o644)
	if out, err := execute(t, "install", "--root", root); err != nil || !strings.Contains(out, "keep existing config") {
		t.Fatalf("reinstall: %v\n%s", err, out)
	}
	if fi, _ := os.Stat(filepath.Join(root, install.ConfigPath)); fi.Mode().Perm() != 0o640 {
		t.Errorf("a kept config stays %v, want 0640", fi.Mode().Perm())
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

// --syslog is the opt-in to the system log: a file source and the group adm.
func TestInstallWithSyslog(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	if out, err := execute(t, "install", "--root", root, "--syslog"); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile(filepath.Join(root, install.UnitPath))
	if !strings.Contains(string(unit), "\nSupplementaryGroups=adm\n") {
		t.Errorf("unit without the group adm:\n%s", unit)
	}
	var cfg agent.Config
	if err := config.Load(filepath.Join(root, install.ConfigPath), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Files) != 1 || cfg.Files[0].Name != "syslog" {
		t.Errorf("files %+v, want the syslog source", cfg.Files)
	}
}

func TestInstallWithJournald(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	if out, err := execute(t, "install", "--root", root, "--journald"); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile(filepath.Join(root, install.UnitPath))
	if !strings.Contains(string(unit), "\nSupplementaryGroups=systemd-journal\n") {
		t.Errorf("unit without the group systemd-journal:\n%s", unit)
	}
	var cfg agent.Config
	if err := config.Load(filepath.Join(root, install.ConfigPath), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Journald == nil || cfg.Journald.Priority != "info" {
		t.Errorf("journald %+v, want the system journal from info up", cfg.Journald)
	}
}

// The unit is valid (systemd-analyze verify) and scores OK or better in
// systemd-analyze security (it was 8.6 EXPOSED).
func TestUnitIsHardened(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not installed: run `make tools-systemd`")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	for _, args := range [][]string{{"install", "--root", root}, {"install", "--root", root, "--syslog"}, {"install", "--root", root, "--syslog", "--journald"}} {
		os.Remove(filepath.Join(root, install.ConfigPath))
		if out, err := execute(t, args...); err != nil {
			t.Fatalf("install: %v\n%s", err, out)
		}
		unitPath := filepath.Join(root, install.UnitPath)
		out, err := exec.Command(analyze, "security", "--offline=true", unitPath).CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze security: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no exposure level in:\n%s", out)
		}
		t.Logf("%v: systemd-analyze security: %s %s", args, m[1], m[2])
		if level := string(m[2]); level != "OK" && level != "SAFE" && level != "PERFECT" {
			t.Errorf("%v: exposure %s %s, want OK or better:\n%s", args, m[1], level, out)
		}
		// verify checks that ExecStart and ExecReload exist: point them at
		// the installed copy
		unit, _ := os.ReadFile(unitPath)
		checked := filepath.Join(t.TempDir(), "flowlens-agent.service")
		os.WriteFile(checked, []byte(strings.ReplaceAll(string(unit), "="+install.BinPath+" ", "="+filepath.Join(root, install.BinPath)+" ")), 0o644)
		if !strings.Contains(string(unit), "ExecReload="+install.BinPath+" reload") {
			t.Errorf("the unit does not reload through flowlens-agent reload:\n%s", unit)
		}
		if out, err := exec.Command(analyze, "verify", checked).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("%v: systemd-analyze verify: %v\n%s", args, err, out)
		}
	}
}
