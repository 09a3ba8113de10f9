package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBinaryRunsAndStopsCleanly builds the real binary, runs it against an
// embedded broker, sends it spans and stops it with SIGTERM.
func TestBinaryRunsAndStopsCleanly(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "flowlens-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	bcfg := kafkabroker.Config{Addr: "127.0.0.1:0"}
	bcfg.SetDefaults()
	broker, err := kafkabroker.New(bcfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	httpAddr, metrics := freeAddr(t), freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
data_dir: %s
log: {level: warn}
otlp: {grpc: {enabled: false}, http: {endpoint: %s}}
kafka: {brokers: [%s]}
metrics: {endpoint: %s}
`, t.TempDir(), httpAddr, broker.Addrs()[0], metrics)), 0o644)
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + metrics + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not healthy: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop after SIGTERM")
	}
}
