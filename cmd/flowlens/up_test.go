package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// flowlensArgsEnv carries the command line of a child started by runFlowlens.
const flowlensArgsEnv = "FLOWLENS_TEST_ARGS"

// TestFlowlensProcess is the child process of runFlowlens: the flowlens
// command line, run as main runs it. Run directly it does nothing.
func TestFlowlensProcess(t *testing.T) {
	raw := os.Getenv(flowlensArgsEnv)
	if raw == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// runFlowlens runs flowlens with args in a process of its own, as a user
// does (a panic there is a crash with a stack trace, as for the user; the
// engine library is loaded fresh, as in a new process), and returns what it
// printed and its exit code. env is added to this process's environment.
func runFlowlens(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlowlensProcess$")
	cmd.Env = append(append(os.Environ(), flowlensArgsEnv+"="+string(raw)), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("flowlens %s did not end\nstdout: %s\nstderr: %s", strings.Join(args, " "), out.String(), errOut.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// flowlensProc is flowlens running in a process of its own.
type flowlensProc struct {
	cmd         *exec.Cmd
	out, errOut syncBuffer
	done        chan error
}

// startFlowlens starts flowlens with args in a process of its own; stop
// interrupts it as Ctrl-C does.
func startFlowlens(t *testing.T, args ...string) *flowlensProc {
	t.Helper()
	raw, _ := json.Marshal(args)
	p := &flowlensProc{done: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestFlowlensProcess$")
	p.cmd.Env = append(os.Environ(), flowlensArgsEnv+"="+string(raw))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitOutput waits until stdout matches re and returns the submatches.
func (p *flowlensProc) waitOutput(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("flowlens ended (%v) before printing %s\nstdout: %s\nstderr: %s", err, re, p.out.String(), p.errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in time\nstdout: %s\nstderr: %s", re, p.out.String(), p.errOut.String())
		}
	}
}

// stop interrupts flowlens and waits for a clean exit.
func (p *flowlensProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("flowlens exited with %v\nstderr: %s", err, p.errOut.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("flowlens did not stop on an interrupt")
	}
}

// holdPort listens on a free port until the test ends: "another program".
func holdPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// `flowlens up` on a port another process holds says which port and which
// flag moves it, and exits; it does not panic.
func TestUpOnAPortInUse(t *testing.T) {
	for _, tc := range []struct {
		flag string
		free []string // listeners to move off their defaults so that only the held one fails
	}{
		{flag: "--clickhouse-listen"},
		{flag: "--kafka-listen", free: []string{"--clickhouse-listen"}},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			held := holdPort(t)
			args := []string{"up", "--demo=false", "--log-level", "error", "--data-dir", t.TempDir(), tc.flag, held}
			for _, f := range tc.free {
				args = append(args, f, "127.0.0.1:0")
			}
			stdout, stderr, code := runFlowlens(t, nil, args...)
			if code != 1 || strings.Contains(stderr, "panic") {
				t.Fatalf("exit code %d, want 1 without a panic\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			want := "flowlens: " + held + " is in use (another flowlens?)"
			if !strings.Contains(stderr, want) || !strings.Contains(stderr, "("+tc.flag+")") {
				t.Errorf("stderr does not say %q and name %s:\n%s", want, tc.flag, stderr)
			}
		})
	}
}

// A CHDB_LIB_PATH that names no file is said to be wrong, by name.
func TestUpWithAWrongLibraryPath(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "nowhere", "libchdb.so")
	stdout, stderr, code := runFlowlens(t, []string{"CHDB_LIB_PATH=" + bad},
		"up", "--demo=false", "--log-level", "error", "--data-dir", t.TempDir(), "--clickhouse-listen", "127.0.0.1:0")
	if code != 1 || strings.Contains(stderr, "panic") {
		t.Fatalf("exit code %d, want 1 without a panic\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if want := "CHDB_LIB_PATH=" + bad + " does not exist"; !strings.Contains(stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr)
	}
}

// Each --*-listen flag moves its listener, over the config file; what no
// flag sets keeps the file's value.
func TestUpListenFlags(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "flowlens.yaml")
	os.WriteFile(cfgPath, []byte("data_dir: /srv/flowlens\nflowgraph: {listen: 127.0.0.1:18428}\nrules: {listen: 127.0.0.1:19095}\n"), 0o644)
	args := []string{"--config", cfgPath, "--flowgraph-listen", "127.0.0.1:0"}
	want := map[string]string{"flowgraph.listen": "127.0.0.1:0", "rules.listen": "127.0.0.1:19095"}
	port := 20000
	for key, flag := range upListenFlags {
		if key == "flowgraph.listen" || key == "rules.listen" {
			continue
		}
		port++
		addr := fmt.Sprintf("127.0.0.2:%d", port)
		args = append(args, "--"+flag, addr)
		want[key] = addr
	}
	g := &globalFlags{}
	root := &cobra.Command{Use: "flowlens"}
	g.register(root)
	o := &upOptions{listen: map[string]*string{}}
	up := o.command(g)
	root.AddCommand(up)
	if err := up.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.upConfig(g, up.Flags())
	if err != nil {
		t.Fatal(err)
	}
	ls := cfg.Listeners()
	if len(ls) != len(upListenFlags) {
		t.Errorf("%d listeners, %d flags", len(ls), len(upListenFlags))
	}
	for _, l := range ls {
		if *l.Addr != want[l.Key] {
			t.Errorf("%s = %s, want %s (--%s)", l.Key, *l.Addr, want[l.Key], upListenFlags[l.Key])
		}
	}
	if cfg.DataDir != "/srv/flowlens" {
		t.Errorf("data_dir %q: the file's, with no --data-dir, should stay", cfg.DataDir)
	}
}
