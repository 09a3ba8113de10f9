package collector

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowlens/flowlens/storage"
)

// Handler serves /metrics (Prometheus text format) and /healthz.
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(c.gather, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", c.healthz)
	return mux
}

// healthz answers 200 while the collector runs (storage trouble is
// reported, not fatal: the collector waits for it), 503 before Start and
// after Shutdown.
func (c *Collector) healthz(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	running := c.started && !c.stopping.Load()
	c.mu.Unlock()
	c.healthMu.Lock()
	body := map[string]any{"status": "ok", "partitions": c.assigned}
	if c.storageErr != nil {
		body["status"] = "degraded"
		body["storage_error"] = c.storageErr.Error()
		body["storage_failing_for"] = time.Since(c.storageErrAt).Round(time.Second).String()
		if storage.IsDiskFull(c.storageErr) {
			body["storage_disk_full"] = true
		}
	}
	c.healthMu.Unlock()
	code := http.StatusOK
	if !running {
		code = http.StatusServiceUnavailable
		body["status"] = "stopped"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
