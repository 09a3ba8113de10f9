package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
)

func writeLines(t testing.TB, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// Kubernetes' CRI logs and Docker's json-file logs arrive with the pod,
// namespace and container from the path, partial lines joined and the
// containers' own JSON lines parsed.
func TestContainerLogsCRIAndDocker(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	pods, docker := t.TempDir(), t.TempDir()
	ts := time.Now().Add(-time.Minute).UTC()
	stamp := func(d time.Duration) string { return ts.Add(d).Format(time.RFC3339Nano) }
	writeLines(t, filepath.Join(pods, "shop_cart-7d9f_1b2c-uid", "cart", "2.log"),
		stamp(0)+` stdout F {"level":"error","msg":"payment failed","trace_id":"0af7651916cd43dd8448eb211c80319c"}`,
		stamp(1)+` stdout P {"level":"info","msg":"joined `,
		stamp(2)+` stdout P from three `,
		stamp(3)+` stdout F pieces"}`,
		stamp(4)+` stderr F {"msg":"on stderr"}`,
		`not a runtime line`,
	)
	id := strings.Repeat("c0", 32)
	writeLines(t, filepath.Join(docker, id, id+"-json.log"),
		fmt.Sprintf(`{"log":"{\"msg\":\"hello ","stream":"stdout","time":"%s"}`, stamp(5)),
		fmt.Sprintf(`{"log":"docker\"}\n","stream":"stdout","time":"%s"}`, stamp(6)),
	)
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), fmt.Sprintf(`
containers:
  pods_dir: %s
  docker_dir: %s
  scan_interval: 50ms
  poll_interval: 10ms
  parse: {format: json}
`, pods, docker))
	ra := startAgent(t, cfg)
	c := newConsumed()
	logs := waitLogs(t, c, b.Addrs()[0], 5)
	wantBodies(t, logs, "payment failed", "joined from three pieces", "on stderr", "not a runtime line", "hello docker")
	wantSourceStatus(t, ra.a, "containers", "containers", 1)

	pay := findLog(t, logs, "payment failed")
	for k, v := range map[string]any{"k8s.namespace.name": "shop", "k8s.pod.name": "cart-7d9f", "k8s.pod.uid": "1b2c-uid",
		"k8s.container.name": "cart", "k8s.container.restart_count": "2", "service.name": "cart", "host.name": "testhost"} {
		if pay.Res[k] != v {
			t.Errorf("resource %s = %v, want %v (all %v)", k, pay.Res[k], v, pay.Res)
		}
	}
	if pay.Severity != plog.SeverityNumberError || pay.TraceID != "0af7651916cd43dd8448eb211c80319c" || pay.Attrs["log.iostream"] != "stdout" {
		t.Errorf("parsed line: %+v", pay)
	}
	if !pay.Time.Equal(ts) {
		t.Errorf("time %v, want the runtime's %v", pay.Time, ts)
	}
	if l := findLog(t, logs, "on stderr"); l.Attrs["log.iostream"] != "stderr" {
		t.Errorf("stream: %v", l.Attrs)
	}
	if l := findLog(t, logs, "not a runtime line"); l.Attrs["flowlens.parse_error"] != "container_runtime" {
		t.Errorf("undecodable line: %v", l.Attrs)
	}
	if l := findLog(t, logs, "hello docker"); l.Res["container.id"] != id || l.Attrs["log.iostream"] != "stdout" {
		t.Errorf("docker: %v %v", l.Res, l.Attrs)
	}
}

// A line whose final piece was not written yet when the agent stopped is
// read whole after the restart: neither cut in two nor lost.
func TestContainerPartialLineAcrossRestart(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	pods, data := t.TempDir(), t.TempDir()
	log := filepath.Join(pods, "ns_pod_uid", "app", "0.log")
	now := time.Now().UTC().Format(time.RFC3339Nano)
	writeLines(t, log, now+" stdout F before", now+" stdout P first half, ")
	cfg := loadConfig(t, data, b.Addrs(), fmt.Sprintf("containers:\n  pods_dir: %s\n  scan_interval: 50ms\n  poll_interval: 10ms\n", pods))
	ra := startAgent(t, cfg)
	c := newConsumed()
	waitLogs(t, c, b.Addrs()[0], 1)
	ra.stop(t)
	writeLines(t, log, now+" stdout F second half", now+" stdout F after")
	startAgent(t, cfg)
	logs := waitLogs(t, c, b.Addrs()[0], 3)
	wantBodies(t, logs, "before", "first half, second half", "after")
}
