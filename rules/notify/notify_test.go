package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestWebhookRetriesUntilDelivered(t *testing.T) {
	var calls atomic.Int32
	got := make(chan WebhookPayload, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var p WebhookPayload
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Error(err)
		}
		got <- p
	}))
	defer srv.Close()
	d, err := New(Config{Webhooks: []string{srv.URL}, BackoffMin: 10 * time.Millisecond}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d.Start(ctx)
	defer d.Shutdown(ctx)
	now := time.Now()
	d.Enqueue(
		Alert{Labels: map[string]string{"alertname": "A"}, StartsAt: now.Add(-time.Minute)},
		Alert{Labels: map[string]string{"alertname": "B"}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(-time.Second)},
	)
	select {
	case p := <-got:
		if p.Status != "firing" || len(p.Alerts) != 2 || p.Alerts[0].Status != "firing" || p.Alerts[1].Status != "resolved" {
			t.Errorf("payload %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("webhook never received the alerts")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d calls, want 2 failures and 1 success", n)
	}
}

func TestEnqueueNeverBlocksOnADeadReceiver(t *testing.T) {
	block := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer once.Do(func() { close(block) })
	d, err := New(Config{Alertmanagers: []string{srv.URL}, QueueSize: 100, Timeout: time.Minute}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d.Start(ctx)
	start := time.Now()
	for i := 0; i < 10000; i++ {
		d.Enqueue(Alert{Labels: map[string]string{"alertname": "A"}})
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("10000 enqueues took %s with a hung receiver", el)
	}
	d.targets[0].mu.Lock()
	n := len(d.targets[0].queue)
	d.targets[0].mu.Unlock()
	if n > 100 {
		t.Errorf("queue holds %d alerts, bound is 100", n)
	}
	once.Do(func() { close(block) })
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	d.Shutdown(sctx)
}

func TestConfigValidate(t *testing.T) {
	c := Config{Alertmanagers: []string{"localhost:9093"}}
	c.SetDefaults()
	if err := c.Validate(); err == nil || err.Error() != `alertmanagers[0]: must be an http(s) URL, got "localhost:9093"` {
		t.Errorf("err = %v", err)
	}
}
