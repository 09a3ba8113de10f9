package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/install"
	"github.com/flowlens/flowlens/internal/config"
)

// TestDebPackage builds the .deb (make deb's script) in two versions and
// installs, upgrades, removes and purges it with dpkg in a scratch root
// (its maintainer scripts run without chroot, DPKG_ROOT set, so they only
// make files there): an edited config survives the upgrade and the
// removal, purge takes config and data, and the packaged unit verifies.
func TestDebPackage(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (make tools-systemd installs systemd-analyze): %v", tool, err)
		}
	}
	out := t.TempDir()
	build := func(version string) string {
		cmd := exec.Command("../../packaging/deb/build.sh", version, "amd64", out)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v\n%s", version, err, b)
		}
		return strings.TrimSpace(string(b[strings.LastIndexByte(strings.TrimSpace(string(b)), '\n')+1:]))
	}
	v1, v2 := build("0.1.0"), build("0.1.1")
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
	dpkg := func(args ...string) {
		t.Helper()
		// passwd (useradd) is a dependency that the scratch root lacks
		args = append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends"}, args...)
		if b, err := exec.Command("dpkg", args...).CombinedOutput(); err != nil {
			t.Fatalf("dpkg %v: %v\n%s", args, err, b)
		}
	}
	in := func(p string) string { return filepath.Join(root, p) }
	version := func() string {
		b, err := exec.Command(in(install.PackageBinPath), "version").Output()
		if err != nil {
			t.Fatalf("installed binary: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	exists := func(p string) bool { _, err := os.Stat(in(p)); return err == nil }

	dpkg("-i", v1)
	if v := version(); v != "flowlens-agent 0.1.0" {
		t.Errorf("installed %q", v)
	}
	unitPath := "/lib/systemd/system/flowlens-agent.service"
	unit, err := os.ReadFile(in(unitPath))
	if err != nil {
		t.Fatal(err)
	}
	checked := filepath.Join(t.TempDir(), "flowlens-agent.service")
	os.WriteFile(checked, []byte(strings.ReplaceAll(string(unit), "="+install.PackageBinPath+" ", "="+in(install.PackageBinPath)+" ")), 0o644)
	if b, err := exec.Command("systemd-analyze", "verify", checked).CombinedOutput(); err != nil || len(b) > 0 {
		t.Errorf("systemd-analyze verify of the packaged unit: %v\n%s", err, b)
	}
	if fi, err := os.Stat(in(install.ConfigPath)); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("config: %v %v, want mode 0640", err, fi)
	}
	var cfg agent.Config
	if err := config.Load(in(install.ConfigPath), &cfg); err != nil {
		t.Errorf("the packaged config does not load: %v", err)
	}
	if fi, err := os.Stat(in(install.DataDir)); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("data folder: %v %v, want mode 0750", err, fi)
	}

	// the operator edits the config; an upgrade keeps it
	f, _ := os.OpenFile(in(install.ConfigPath), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# edited by the operator\n")
	f.Close()
	os.WriteFile(in(install.DataDir+"/buffer-placeholder"), []byte("x"), 0o600)
	dpkg("-i", v2)
	if v := version(); v != "flowlens-agent 0.1.1" {
		t.Errorf("after the upgrade: %q", v)
	}
	if b, _ := os.ReadFile(in(install.ConfigPath)); !strings.Contains(string(b), "# edited by the operator") {
		t.Errorf("the upgrade replaced the edited config:\n%s", b)
	}
	if !exists(install.DataDir + "/buffer-placeholder") {
		t.Error("the upgrade lost the data folder's content")
	}

	// remove: binary and unit go, config and data stay
	dpkg("-r", "flowlens-agent")
	if exists(install.PackageBinPath) || exists(unitPath) {
		t.Error("remove left the binary or the unit")
	}
	if !exists(install.ConfigPath) || !exists(install.DataDir+"/buffer-placeholder") {
		t.Error("remove took the config or the data")
	}
	// purge: everything goes
	dpkg("-P", "flowlens-agent")
	if exists(install.ConfigDir) || exists(install.DataDir) {
		t.Error("purge left the config or the data folder")
	}
}
