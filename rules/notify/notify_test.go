package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
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
	d, err := New(Config{Webhooks: []string{srv.URL}, Retry: config.Backoff{Initial: 10 * time.Millisecond}}, component.Settings{})
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

// A receiver that hangs holds the sender in its request; enqueueing goes
// on regardless, keeping the newest QueueSize alerts and counting the
// rest as dropped.
func TestEnqueueNeverBlocksOnADeadReceiver(t *testing.T) {
	block := make(chan struct{})
	hung := make(chan struct{}, 1)
	var once sync.Once
	var mu sync.Mutex
	var delivered []string // alertname/i of every alert received, in order
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hung <- struct{}{}:
		default:
		}
		<-block
		var got []struct{ Labels map[string]string }
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode alerts: %v", err)
		}
		mu.Lock()
		for _, a := range got {
			delivered = append(delivered, a.Labels["alertname"]+"/"+a.Labels["i"])
		}
		mu.Unlock()
	}))
	defer srv.Close()
	defer once.Do(func() { close(block) })
	reg := prometheus.NewRegistry()
	d, err := New(Config{Alertmanagers: []string{srv.URL}, QueueSize: 100, Timeout: time.Minute}, component.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d.Start(ctx)
	d.Enqueue(Alert{Labels: map[string]string{"alertname": "first"}})
	select {
	case <-hung: // the sender is stuck in its request
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver never got a request")
	}
	enqueued := make(chan struct{})
	go func() {
		defer close(enqueued)
		for i := 0; i < 10000; i++ {
			d.Enqueue(Alert{Labels: map[string]string{"alertname": "A", "i": strconv.Itoa(i)}})
		}
	}()
	select {
	case <-enqueued:
	case <-time.After(30 * time.Second): // a liveness bound, not a speed target (BenchmarkEnqueueHungReceiver)
		t.Fatal("Enqueue blocked behind a hung receiver")
	}
	d.targets[0].mu.Lock()
	q := append([]Alert(nil), d.targets[0].queue...)
	d.targets[0].mu.Unlock()
	if len(q) != 100 || q[len(q)-1].Labels["i"] != "9999" {
		t.Errorf("queue holds %d alerts ending with %v; want the newest 100", len(q), q[len(q)-1].Labels)
	}
	// "first" is in flight; of the 10,000 queued behind it, 100 are kept
	if got := testutil.ToFloat64(d.dropped.WithLabelValues(d.targets[0].name, "queue_full")); got != 10000-100 {
		t.Errorf("%v alerts counted as dropped, want %d", got, 10000-100)
	}
	once.Do(func() { close(block) })
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d.Shutdown(sctx)
	// the receiver gets the alert it hung on and then exactly the newest
	// 100: what the queue dropped is never sent, what it kept is never lost
	want := []string{"first/"}
	for i := 9900; i < 10000; i++ {
		want = append(want, "A/"+strconv.Itoa(i))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(delivered, want) {
		t.Errorf("delivered %d alerts %v ... %v, want first and A/9900 to A/9999", len(delivered), delivered[:min(3, len(delivered))], delivered[max(0, len(delivered)-3):])
	}
}

// BenchmarkEnqueueHungReceiver is the cost of one Enqueue while the
// receiver hangs and the queue is full (every call drops the oldest).
func BenchmarkEnqueueHungReceiver(b *testing.B) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	d, err := New(Config{Alertmanagers: []string{srv.URL}, QueueSize: 10000, Timeout: time.Minute}, component.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	d.Start(ctx)
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		d.Shutdown(sctx)
	}()
	a := Alert{Labels: map[string]string{"alertname": "A"}}
	b.ReportAllocs()
	for b.Loop() {
		d.Enqueue(a)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Alertmanagers: []string{"localhost:9093"}}
	c.SetDefaults()
	if err := c.Validate(); err == nil || err.Error() != `alertmanagers[0]: must be an http(s) URL (http://host:port/...), got scheme "localhost"` {
		t.Errorf("err = %v", err)
	}
}

// A webhook URL holds its token: logs, errors and metric labels show its
// scheme and host only, whether it came inline, from a file or from the
// environment.
func TestWebhookURLsAreNotShown(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "hook")
	os.WriteFile(file, []byte(srv.URL+"/services/T0/FROMFILE\n"), 0o600)
	t.Setenv("TEST_WEBHOOK", srv.URL+"/services/T0/FROMENV")
	logs, seen := observer.New(zap.DebugLevel)
	reg := prometheus.NewRegistry()
	cfg := Config{Webhooks: []string{srv.URL + "/services/T0/INLINE"}, WebhookFiles: []string{file}, WebhookEnvs: []string{"TEST_WEBHOOK"},
		Retry: config.Backoff{Initial: time.Millisecond}, MaxRetries: 1}
	d, err := New(cfg, component.Settings{Logger: zap.New(logs), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d.Start(ctx)
	d.Enqueue(Alert{Labels: map[string]string{"alertname": "A"}})
	deadline := time.Now().Add(10 * time.Second)
	for hits.Load() < 3 || seen.Len() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries, %d log lines; want 3 of each", hits.Load(), seen.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.Shutdown(ctx)

	var shown strings.Builder
	for _, e := range seen.All() {
		fmt.Fprintln(&shown, e.Message, e.ContextMap())
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				fmt.Fprintln(&shown, l.GetValue())
			}
		}
	}
	for _, secret := range []string{"INLINE", "FROMFILE", "FROMENV", "/services"} {
		if strings.Contains(shown.String(), secret) {
			t.Errorf("%s is shown:\n%s", secret, shown.String())
		}
	}
	if !strings.Contains(shown.String(), "webhook[2] "+srv.URL) {
		t.Errorf("targets are not named by scheme and host:\n%s", shown.String())
	}
}
