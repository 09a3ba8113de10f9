package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// agentProc is a running agent binary.
type agentProc struct {
	cmd               *exec.Cmd
	stderr            *lockedBuffer
	httpAddr, metrics string // as bound: the config asks for port 0
	cfgPath, dataDir  string
	exited            chan struct{} // closed when it has exited, with waitErr
	waitErr           error
}

// lockedBuffer is the agent's stderr, read by the test while it is written.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startHealthyAgent runs the binary on ports it picks, reads them from its
// "agent started" log line, and waits until /healthz answers.
func startHealthyAgent(t *testing.T, bin, broker string) *agentProc {
	t.Helper()
	a := &agentProc{stderr: new(lockedBuffer), exited: make(chan struct{}),
		cfgPath: filepath.Join(t.TempDir(), "agent.yaml"), dataDir: t.TempDir()}
	cfgPath := a.cfgPath
	a.writeConfig(t, broker, "")
	a.cmd = exec.Command(bin, "run", "--config", cfgPath)
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.waitErr = a.cmd.Wait(); close(a.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for !a.readAddrs() {
		if time.Now().After(deadline) {
			t.Fatalf("no \"agent started\" line after 15s:\n%s", a.stderr)
		}
		select {
		case <-a.exited:
			t.Fatalf("agent exited at start: %v\n%s", a.waitErr, a.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !a.waitHealthy(15 * time.Second) {
		t.Fatalf("agent not healthy:\n%s", a.stderr)
	}
	return a
}

// writeConfig writes the agent's config file with extra YAML.
func (a *agentProc) writeConfig(t *testing.T, broker, extra string) {
	t.Helper()
	err := os.WriteFile(a.cfgPath, []byte(fmt.Sprintf(`
data_dir: %s
log: {level: info, format: json}
otlp: {grpc: {listen: "off"}, http: {listen: 127.0.0.1:0}}
kafka: {brokers: [%s]}
metrics: {listen: 127.0.0.1:0}
`, a.dataDir, broker)+extra), 0o644)
	if err != nil {
		t.Fatal(err)
	}
}

// readAddrs finds the listen addresses in the agent's "agent started" line.
func (a *agentProc) readAddrs() bool {
	for _, line := range strings.Split(a.stderr.String(), "\n") {
		var rec struct {
			Msg      string `json:"msg"`
			OTLPHTTP string `json:"otlp_http"`
			Metrics  string `json:"metrics"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "agent started" {
			a.httpAddr, a.metrics = rec.OTLPHTTP, rec.Metrics
			return true
		}
	}
	return false
}

// waitHealthy polls /healthz until it answers 200, the agent exits, or
// the timeout passes.
func (a *agentProc) waitHealthy(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + a.metrics + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		select {
		case <-a.exited:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// TestBinaryRunsAndStopsCleanly builds the real binary, runs it against an
// embedded broker, sends it spans and stops it with SIGTERM.
func TestBinaryRunsAndStopsCleanly(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "flowlens-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	broker := kafkatest.Start(t, kafkabroker.Config{})
	a := startHealthyAgent(t, bin, broker.Addrs()[0])
	defer a.cmd.Process.Kill()
	httpAddr, metrics, stderr := a.httpAddr, a.metrics, a.stderr
	deadline := time.Now().Add(15 * time.Second)
	body, _ := ptraceotlp.NewExportRequestFromTraces(wiretest.Traces(0, 100, 5)).MarshalProto()
	resp, err := http.Post("http://"+httpAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", err, resp)
	}
	resp.Body.Close()
	for {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if strings.Contains(b.String(), "flowlens_agent_kafka_records_sent_total 100") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans not sent:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		if a.waitErr != nil {
			t.Fatalf("exit: %v\n%s", a.waitErr, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop after SIGTERM")
	}
}

// TestBinaryStatusAndReload: `status` (table and --json) and `reload` talk
// to the running binary over its socket; SIGHUP and `reload` both refuse a
// bad config (the agent says so in its log and runs on) and apply a good
// one.
func TestBinaryStatusAndReload(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "flowlens-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	broker := kafkatest.Start(t, kafkabroker.Config{})
	addr := broker.Addrs()[0]
	a := startHealthyAgent(t, bin, addr)
	defer a.cmd.Process.Kill()
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--config", a.cfgPath)...).CombinedOutput()
		return string(out), err
	}
	out, err := cli("status", "--json")
	if err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var st struct {
		Sources []struct{ Name, Kind string }
		Kafka   struct{ Reachable bool }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || !st.Kafka.Reachable || len(st.Sources) != 1 || st.Sources[0].Kind != "otlp" {
		t.Fatalf("status --json: %v %+v\n%s", err, st, out)
	}

	// a bad config by SIGHUP: refused, said in the log, the agent runs on
	a.writeConfig(t, addr, "files:\n  - name: app\n    include: [logs/*.log]\n")
	a.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(a.stderr.String(), "reload refused; the running config is kept") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged after SIGHUP:\n%s", a.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !a.waitHealthy(5 * time.Second) {
		t.Fatalf("not healthy after a refused reload:\n%s", a.stderr)
	}
	// the same by `reload`: it fails and says why
	if out, err := cli("reload"); err == nil || !strings.Contains(out, "reload refused, the agent runs on") || !strings.Contains(out, "include[0]") {
		t.Fatalf("reload of a bad config: %v\n%s", err, out)
	}
	// a good one is applied
	logs := t.TempDir()
	a.writeConfig(t, addr, fmt.Sprintf("files:\n  - name: app\n    include: [%s/*.log]\n", logs))
	if out, err := cli("reload"); err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(logs, "a.log"), []byte("hello\n"), 0o644)
	deadline = time.Now().Add(15 * time.Second)
	for {
		out, err = cli("status")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		if strings.Contains(out, filepath.Join(logs, "a.log")) && strings.Contains(out, "last reload") && strings.Contains(out, ": reachable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the new source's file:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("status:\n%s", out)
	a.cmd.Process.Signal(syscall.SIGTERM)
	<-a.exited
	if _, err := os.Stat(filepath.Join(a.dataDir, "agent.sock")); !os.IsNotExist(err) {
		t.Errorf("the status socket is left behind: %v", err)
	}
	// no agent: reload says so, not that a config was refused
	if out, err := cli("reload"); err == nil || !strings.Contains(out, "no agent answers on") || strings.Contains(out, "refused") {
		t.Errorf("reload without an agent: %v\n%s", err, out)
	}
}
