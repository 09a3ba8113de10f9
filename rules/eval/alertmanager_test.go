package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/internal/polltest"
	"github.com/flowlens/flowlens/rules/notify"
)

// startAlertmanager runs Debian's prometheus-alertmanager (make
// tools-alertmanager), routing every alert to hook with send_resolved. It
// serves on a listener the test bound and hands over by systemd socket
// activation (--web.systemd-socket): no port is found free and bound later.
func startAlertmanager(t *testing.T, hook string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatal("prometheus-alertmanager not found: run `make tools-alertmanager`")
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
`, hook)
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	lnFile, err := ln.(*net.TCPListener).File()
	ln.Close() // lnFile holds the socket
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close() // the child has its own copy once started
	// Socket activation hands over fd 3 when LISTEN_PID is the server's
	// own pid: the shell sets it to its pid, then becomes the server.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`,
		bin, "--config.file="+cfgPath, "--storage.path="+filepath.Join(dir, "data"),
		"--web.systemd-socket", "--cluster.listen-address=", "--log.level=warn")
	cmd.ExtraFiles = []*os.File{lnFile}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + addr
	polltest.Until(t, "alertmanager to be ready", 20*time.Second, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

type amNotification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

// A real Alertmanager receives the breaker alert firing, then resolved.
func TestAlertmanagerReceivesFiringAndResolved(t *testing.T) {
	var mu sync.Mutex
	var got []amNotification
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n amNotification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
	}))
	defer hook.Close()
	am := startAlertmanager(t, hook.URL)
	// and a plain webhook, straight from the evaluator
	var direct []notify.WebhookPayload
	direct2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p notify.WebhookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Error(err)
		}
		mu.Lock()
		direct = append(direct, p)
		mu.Unlock()
	}))
	defer direct2.Close()

	sys := newBreakerSystem(t)
	sys.set("open")
	cfg := testConfig(t.TempDir())
	cfg.Notify.Alertmanagers = []string{am}
	cfg.Notify.Webhooks = []string{direct2.URL}
	e := startEvaluator(t, cfg, sys.reg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	defer e.Shutdown(context.Background())

	// Alertmanager's own API shows the alert
	polltest.Until(t, "the alert in Alertmanager's API", 20*time.Second, func() bool {
		resp, err := http.Get(am + "/api/v2/alerts?filter=alertname%3D%22BreakerOpen%22")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		}
		if json.NewDecoder(resp.Body).Decode(&alerts) != nil {
			return false
		}
		return len(alerts) == 1 && alerts[0].Status.State == "active" && alerts[0].Labels["service"] == "checkout"
	})
	has := func(status string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range got {
				for _, a := range n.Alerts {
					if a.Status == status && a.Labels["alertname"] == "BreakerOpen" && a.Labels["target"] == "payments" {
						return true
					}
				}
			}
			return false
		}
	}
	polltest.Until(t, "Alertmanager to notify firing", 20*time.Second, has("firing"))

	sys.set("closed")
	polltest.Until(t, "Alertmanager to notify resolved", 20*time.Second, has("resolved"))
	polltest.Until(t, "the webhook to receive firing and resolved", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for _, p := range direct {
			for _, a := range p.Alerts {
				seen[a.Status] = true
			}
		}
		return seen["firing"] && seen["resolved"]
	})
}
