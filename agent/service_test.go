package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
)

// serviceConfig writes the agent's config file: body after the common parts.
func serviceConfig(t *testing.T, path, dataDir string, brokers []string, body string) {
	t.Helper()
	y := fmt.Sprintf(`data_dir: %s
host_name: testhost
kafka:
  brokers: [%s]
  retry: {max: 200ms}
metrics: {listen: 127.0.0.1:0}
otlp: {grpc: {listen: "off"}, http: {listen: 127.0.0.1:0}}
`, dataDir, strings.Join(brokers, ","))
	if err := os.WriteFile(path, []byte(y+body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func startService(t *testing.T, cfgPath string, log *zap.Logger) *agent.Service {
	t.Helper()
	load := func() (agent.Config, error) {
		var c agent.Config
		err := config.Load(cfgPath, &c)
		return c, err
	}
	svc, err := agent.NewService(load, agent.Settings{Settings: component.Settings{Logger: log}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		_ = svc.Shutdown(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	return svc
}

// TestReloadKeepsEveryLineOnce: a reload while a file is being read adds a
// source and changes settings; every line of the old and new sources is at
// the broker exactly once. A bad config is refused with a log line saying
// so, and the running agent keeps forwarding.
func TestReloadKeepsEveryLineOnce(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	logs, data := t.TempDir(), t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	source := func(name, file string) string {
		return fmt.Sprintf("  - name: %s\n    include: [%s]\n    scan_interval: 50ms\n    poll_interval: 10ms\n    parse: {format: json}\n", name, filepath.Join(logs, file))
	}
	serviceConfig(t, cfgPath, data, b.Addrs(), "files:\n"+source("a", "a.log"))
	core, logged := observer.New(zap.InfoLevel)
	svc := startService(t, cfgPath, zap.New(core))
	ctl := agent.NewControlClient(filepath.Join(data, agent.DefaultStatusSocket))

	aLog, bLog := filepath.Join(logs, "a.log"), filepath.Join(logs, "b.log")
	appendJSONLines(t, aLog, 0, 20000)
	// a new source and other batch sizes, applied while a.log is read
	serviceConfig(t, cfgPath, data, b.Addrs(), "batch: {max_records: 100}\nfiles:\n"+source("a", "a.log")+source("b", "b.log"))
	if err := ctl.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	appendJSONLines(t, aLog, 20000, 25000)
	appendJSONLines(t, bLog, 25000, 26000)
	c := newConsumed()
	c.waitFor(t, b.Addrs()[0], kafkawire.DefaultLogsTopic, 30*time.Second, func(c *consumed) bool { return c.logRecords >= 26000 })

	// a config that does not validate is refused; the agent runs on
	serviceConfig(t, cfgPath, data, b.Addrs(), "files:\n  - name: a\n    include: [relative/*.log]\n")
	err := ctl.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "include[0]") {
		t.Fatalf("reload of a bad config: %v, want the bad field named", err)
	}
	if n := logged.FilterMessage("reload refused; the running config is kept").Len(); n != 1 {
		t.Errorf("%d log lines say the reload was refused, want 1", n)
	}
	// and SIGHUP's path (Service.Reload) refuses it the same way
	if err := svc.Reload(context.Background()); err == nil {
		t.Error("Reload accepted a bad config")
	}
	// a valid config that moves the data folder would leave the buffer's
	// unsent records behind: refused too
	serviceConfig(t, cfgPath, t.TempDir(), b.Addrs(), "files:\n"+source("a", "a.log")+source("b", "b.log"))
	if err := ctl.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Errorf("reload moving data_dir: %v, want it refused", err)
	}
	appendJSONLines(t, bLog, 26000, 27000)
	c.waitFor(t, b.Addrs()[0], kafkawire.DefaultLogsTopic, 30*time.Second, func(c *consumed) bool { return c.logRecords >= 27000 })
	st, err := ctl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Reload == nil || !strings.Contains(st.Reload.Error, "data_dir") {
		t.Errorf("status does not show the refused reload: %+v", st.Reload)
	}
	if len(st.Sources) != 3 || st.Sources[1].Name != "b" {
		t.Errorf("sources after the reloads: %+v, want a, b (the accepted config) and otlp", st.Sources)
	}
	if err := svc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.poll(t, b.Addrs()[0], kafkawire.DefaultLogsTopic)
	exactlyOnce(t, c, 27000)
}

// TestStatusSocket: the status says which files are read, up to where,
// the buffer's fill and that Kafka is reachable; the socket is the
// agent user's only.
func TestStatusSocket(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	logs, data := t.TempDir(), t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	serviceConfig(t, cfgPath, data, b.Addrs(), fmt.Sprintf("buffer: {max_size: 512MiB}\nfiles:\n  - name: app\n    include: [%s/*.log]\n    scan_interval: 50ms\n    poll_interval: 10ms\n", logs))
	svc := startService(t, cfgPath, zap.NewNop())
	app := filepath.Join(logs, "app.log")
	appendJSONLines(t, app, 0, 100)
	size := fileSize(t, app)

	sock, err := agent.StatusSocketOf(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("status socket %s: %v, mode %v; want 0600", sock, err, fi.Mode())
	}
	ctl := agent.NewControlClient(sock)
	var st agent.Status
	deadline := time.Now().Add(15 * time.Second)
	for {
		if st, err = ctl.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
		if f := st.Sources[0].Files; len(f) == 1 && f[0].CommittedOffset == size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status never showed %s committed to its end (%d): %+v", app, size, st.Sources)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f := st.Sources[0].Files[0]
	if f.Path != app || f.Size != size || f.ReadOffset != size || f.LagBytes != 0 || st.Sources[0].Records != 100 {
		t.Errorf("file status %+v, records %d", f, st.Sources[0].Records)
	}
	if !st.Kafka.Reachable || st.Kafka.Error != "" {
		t.Errorf("kafka: %+v, want reachable", st.Kafka)
	}
	if st.Buffer.MaxBytes != 512<<20 || st.Buffer.WhenFull != "block" {
		t.Errorf("buffer: %+v", st.Buffer)
	}
	if st.Sources[1].Kind != "otlp" || len(st.Sources[1].Reading) != 1 || !strings.HasPrefix(st.Sources[1].Reading[0], "http 127.0.0.1:") {
		t.Errorf("otlp source: %+v", st.Sources[1])
	}
	// the metrics listener serves the same status (behind its tls/auth)
	resp, err := http.Get("http://" + svc.Agent().MetricsAddr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var viaMetrics agent.Status
	err = json.NewDecoder(resp.Body).Decode(&viaMetrics)
	resp.Body.Close()
	if err != nil || len(viaMetrics.Sources) != 2 || viaMetrics.Sources[0].Files[0].Path != app {
		t.Errorf("GET /status on the metrics listener: %v %+v", err, viaMetrics.Sources)
	}
	// Kafka gone: the status says so
	_ = b.Shutdown(context.Background())
	if st, err = ctl.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.Kafka.Reachable || st.Kafka.Error == "" {
		t.Errorf("kafka down, status: %+v", st.Kafka)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestReloadReadsNewFilesFromTheStart: with start_at: end, a file that
// appeared while the agent ran, unseen by it, is read from its start
// across a reload (start_at applies to the agent's start, not to a
// reload): the handover's last scan finds it.
func TestReloadReadsNewFilesFromTheStart(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	logs, data := t.TempDir(), t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	source := func(scan string) string {
		return fmt.Sprintf("files:\n  - name: app\n    include: [%s/*.log]\n    start_at: end\n    watch: false\n    scan_interval: %s\n    poll_interval: 10ms\n    parse: {format: json}\n", logs, scan)
	}
	old := filepath.Join(logs, "old.log")
	appendJSONLines(t, old, 0, 10) // skipped: start_at end
	// the running agent scans rarely and is not notified: it will not see
	// new.log itself
	serviceConfig(t, cfgPath, data, b.Addrs(), source("1h"))
	svc := startService(t, cfgPath, zap.NewNop())
	waitFilesOpen(t, svc, 1)
	appendJSONLines(t, old, 10, 20)
	appendJSONLines(t, filepath.Join(logs, "new.log"), 20, 30)
	serviceConfig(t, cfgPath, data, b.Addrs(), source("50ms"))
	if err := svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newConsumed()
	c.waitFor(t, b.Addrs()[0], kafkawire.DefaultLogsTopic, 30*time.Second, func(c *consumed) bool { return c.logRecords >= 20 })
	if err := svc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.poll(t, b.Addrs()[0], kafkawire.DefaultLogsTopic)
	seen := map[string]bool{}
	for _, bodies := range c.logBodies {
		for _, body := range bodies {
			seen[body] = true
		}
	}
	for i := 10; i < 30; i++ {
		if !seen[fmt.Sprintf("line %07d", i)] {
			t.Errorf("line %d (of %s) never reached Kafka", i, map[bool]string{true: "old.log", false: "new.log"}[i < 20])
		}
	}
	if c.logRecords != 20 {
		t.Errorf("%d records at the broker, want 20", c.logRecords)
	}
}

// waitFilesOpen polls the status until n files are being read.
func waitFilesOpen(t *testing.T, svc *agent.Service, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := svc.Status(context.Background())
		if len(st.Sources) > 0 && len(st.Sources[0].Files) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %d files open: %+v", n, st.Sources)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
