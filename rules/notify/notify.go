// Package notify delivers alerts to Alertmanager (API v2: POST /api/v2/alerts
// with a JSON array) and to plain webhooks, firing and resolved alike.
//
// Enqueue never blocks: each target has its own bounded queue, drained by
// one goroutine that sends batches and retries with exponential backoff. When
// a queue is full the oldest alerts are dropped and counted, so a dead
// receiver never slows rule evaluation.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
)

// Alert is an alert in Alertmanager's v2 "postable alert" shape. EndsAt in
// the past means resolved.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitempty"`
	EndsAt       time.Time         `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Resolved reports whether the alert is over at now.
func (a Alert) Resolved(now time.Time) bool { return !a.EndsAt.IsZero() && !a.EndsAt.After(now) }

// Config configures the receivers.
type Config struct {
	// Alertmanagers are base URLs (http://host:9093); alerts go to
	// <url>/api/v2/alerts.
	Alertmanagers []string `yaml:"alertmanagers"`
	// Webhooks are URLs that receive {"version","status","alerts":[...]}.
	// A webhook URL is often its own credential (a token in the path):
	// WebhookFiles (files holding one URL each) and WebhookEnvs
	// (environment variables holding one) keep it out of the config. Logs
	// and metrics show a target's scheme and host only.
	Webhooks     []string      `yaml:"webhooks"`
	WebhookFiles []string      `yaml:"webhook_files"`
	WebhookEnvs  []string      `yaml:"webhook_envs"`
	QueueSize    int           `yaml:"queue_size"`  // alerts held per target; default 10000
	BatchSize    int           `yaml:"batch_size"`  // alerts per request; default 64
	Timeout      time.Duration `yaml:"timeout"`     // per request; default 10s
	MaxRetries   int           `yaml:"max_retries"` // per batch; default 5, then the batch is dropped
	// Retry is the wait between attempts: initial 500ms, doubled up to
	// max 30s.
	Retry config.Backoff `yaml:"retry"`
}

// RenamedKeys names what replaced the keys of earlier versions.
func (Config) RenamedKeys() map[string]string {
	return map[string]string{"backoff_min": "retry.initial", "backoff_max": "retry.max"}
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.QueueSize == 0 {
		c.QueueSize = 10000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
	c.Retry.SetDefaults(500*time.Millisecond, 30*time.Second)
}

// Validate reports every bad field.
func (c *Config) Validate() error {
	var errs []error
	check := func(field string, urls []string) {
		for i, u := range urls {
			if err := checkURL(u); err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s[%d]", field, i), "%v", err))
			}
		}
	}
	check("alertmanagers", c.Alertmanagers)
	check("webhooks", c.Webhooks)
	if c.QueueSize < 1 {
		errs = append(errs, config.Errorf("queue_size", "must be positive"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, config.Errorf("batch_size", "must be positive"))
	}
	for i, f := range c.WebhookFiles {
		if f == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("webhook_files[%d]", i), "must not be empty"))
		}
	}
	for i, e := range c.WebhookEnvs {
		if e == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("webhook_envs[%d]", i), "must not be empty"))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, config.Errorf("timeout", "must be positive"))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, config.Errorf("max_retries", "must not be negative"))
	}
	errs = append(errs, config.Nest("retry", c.Retry.Validate()))
	return errors.Join(errs...)
}

// checkURL says whether u is an http(s) URL, showing no more of it than
// its scheme and host.
func checkURL(u string) error {
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return errors.New("must be an http(s) URL; this one does not parse")
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("must be an http(s) URL (http://host:port/...), got scheme %q", p.Scheme)
	case p.Host == "":
		return errors.New("must be an http(s) URL with a host")
	}
	return nil
}

// webhookURLs are the webhooks of every source: inline, from files, from
// the environment (read now).
func (c *Config) webhookURLs() ([]string, error) {
	urls := append([]string(nil), c.Webhooks...)
	for i, f := range c.WebhookFiles {
		u, err := config.ReadSecret("", f, "")
		if err == nil {
			err = checkURL(strings.TrimSpace(u))
		}
		if err != nil {
			return nil, config.Errorf(fmt.Sprintf("webhook_files[%d]", i), "%v", err)
		}
		urls = append(urls, strings.TrimSpace(u))
	}
	for i, e := range c.WebhookEnvs {
		u, err := config.ReadSecret("", "", e)
		if err == nil {
			err = checkURL(strings.TrimSpace(u))
		}
		if err != nil {
			return nil, config.Errorf(fmt.Sprintf("webhook_envs[%d]", i), "%v", err)
		}
		urls = append(urls, strings.TrimSpace(u))
	}
	return urls, nil
}

// errPermanent marks a response retrying cannot fix (4xx but 429).
var errPermanent = errors.New("permanent")

type encodeFunc func(batch []Alert, now time.Time) ([]byte, error)

type target struct {
	// name is what logs and metric labels show: kind, index and the URL's
	// scheme and host (a webhook URL may hold its token).
	name, url string
	encode    encodeFunc

	mu    sync.Mutex
	queue []Alert
	// sending is the number of alerts taken from queue whose send has not
	// finished: Shutdown waits for them too
	sending int
	wake    chan struct{}
}

// Dispatcher sends alerts to every configured target.
type Dispatcher struct {
	cfg     Config
	log     *zap.Logger
	client  *http.Client
	targets []*target

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	sent, failed, dropped *prometheus.CounterVec
	queued                *prometheus.GaugeVec
}

// New applies the config's defaults, checks it and builds a dispatcher;
// Start begins delivery.
func New(cfg Config, set component.Settings) (*Dispatcher, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	set = set.WithDefaults()
	d := &Dispatcher{
		cfg: cfg, log: set.Logger, client: &http.Client{Timeout: cfg.Timeout},
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_rules_notifications_sent_total",
			Help: "Alerts delivered, by target."}, []string{"target"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_rules_notifications_failed_total",
			Help: "Failed delivery attempts, by target."}, []string{"target"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_rules_notifications_dropped_total",
			Help: "Alerts never delivered, by target and reason (queue_full, retries_exhausted, rejected)."}, []string{"target", "reason"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flowlens_rules_notifications_queued",
			Help: "Alerts waiting for delivery, by target."}, []string{"target"}),
	}
	if err := component.Register(set.Registerer, "notifier", d.sent, d.failed, d.dropped, d.queued); err != nil {
		return nil, err
	}
	webhooks, err := cfg.webhookURLs()
	if err != nil {
		return nil, err
	}
	for i, u := range cfg.Alertmanagers {
		d.targets = append(d.targets, &target{name: fmt.Sprintf("alertmanager[%d] %s", i, config.RedactURL(u)),
			url: strings.TrimRight(u, "/") + "/api/v2/alerts", encode: encodeAlertmanager, wake: make(chan struct{}, 1)})
	}
	for i, u := range webhooks {
		d.targets = append(d.targets, &target{name: fmt.Sprintf("webhook[%d] %s", i, config.RedactURL(u)),
			url: u, encode: encodeWebhook, wake: make(chan struct{}, 1)})
	}
	return d, nil
}

func encodeAlertmanager(batch []Alert, _ time.Time) ([]byte, error) { return json.Marshal(batch) }

// WebhookAlert is one alert in a webhook payload.
type WebhookAlert struct {
	Status string `json:"status"` // firing or resolved
	Alert
}

// WebhookPayload is what a webhook receives, shaped like Alertmanager's own
// webhook notifications.
type WebhookPayload struct {
	Version string         `json:"version"`
	Status  string         `json:"status"` // firing when any alert fires
	Alerts  []WebhookAlert `json:"alerts"`
}

func encodeWebhook(batch []Alert, now time.Time) ([]byte, error) {
	p := WebhookPayload{Version: "1", Status: "resolved"}
	for _, a := range batch {
		st := "firing"
		if a.Resolved(now) {
			st = "resolved"
		} else {
			p.Status = "firing"
		}
		p.Alerts = append(p.Alerts, WebhookAlert{Status: st, Alert: a})
	}
	return json.Marshal(p)
}

// Start launches one sender per target. It returns at once.
func (d *Dispatcher) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, t := range d.targets {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.run(ctx, t)
		}()
	}
	return nil
}

// Shutdown stops the senders, giving queued alerts until ctx ends to leave.
// It is safe without Start and more than once.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.once.Do(func() {
		// let the queues drain until ctx expires
	drain:
		for !d.empty() {
			select {
			case <-ctx.Done():
				break drain
			case <-time.After(20 * time.Millisecond):
			}
		}
		if d.cancel != nil {
			d.cancel()
		}
		d.wg.Wait()
	})
	return nil
}

func (d *Dispatcher) empty() bool {
	for _, t := range d.targets {
		t.mu.Lock()
		n := len(t.queue) + t.sending
		t.mu.Unlock()
		if n > 0 {
			return false
		}
	}
	return true
}

// Enqueue hands alerts to every target without blocking.
func (d *Dispatcher) Enqueue(alerts ...Alert) {
	if len(alerts) == 0 {
		return
	}
	for _, t := range d.targets {
		t.mu.Lock()
		t.queue = append(t.queue, alerts...)
		if over := len(t.queue) - d.cfg.QueueSize; over > 0 {
			t.queue = append(t.queue[:0], t.queue[over:]...)
			d.dropped.WithLabelValues(t.name, "queue_full").Add(float64(over))
		}
		d.queued.WithLabelValues(t.name).Set(float64(len(t.queue)))
		t.mu.Unlock()
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

func (d *Dispatcher) run(ctx context.Context, t *target) {
	for {
		// the batch leaves the queue as its send starts: Enqueue may drop
		// the oldest queued alerts meanwhile, never the ones in flight
		t.mu.Lock()
		n := min(len(t.queue), d.cfg.BatchSize)
		batch := append([]Alert(nil), t.queue[:n]...)
		t.queue = t.queue[n:]
		t.sending = n
		d.queued.WithLabelValues(t.name).Set(float64(len(t.queue)))
		t.mu.Unlock()
		if n == 0 {
			select {
			case <-ctx.Done():
				return
			case <-t.wake:
				continue
			}
		}
		err := d.sendWithRetry(ctx, t, batch)
		t.mu.Lock()
		t.sending = 0
		t.mu.Unlock()
		switch {
		case err == nil:
			d.sent.WithLabelValues(t.name).Add(float64(n))
		case ctx.Err() != nil:
			return
		case errors.Is(err, errPermanent):
			d.dropped.WithLabelValues(t.name, "rejected").Add(float64(n))
			d.log.Warn("alerts rejected by receiver", zap.String("target", t.name), zap.Int("alerts", n), zap.Error(err))
		default:
			d.dropped.WithLabelValues(t.name, "retries_exhausted").Add(float64(n))
			d.log.Warn("alerts not delivered after retries", zap.String("target", t.name), zap.Int("alerts", n), zap.Error(err))
		}
	}
}

func (d *Dispatcher) sendWithRetry(ctx context.Context, t *target, batch []Alert) error {
	body, err := t.encode(batch, time.Now())
	if err != nil {
		return fmt.Errorf("encode alerts: %w: %w", errPermanent, err)
	}
	wait := d.cfg.Retry.Next(0)
	for attempt := 0; ; attempt++ {
		err = d.post(ctx, t, body)
		if err == nil || errors.Is(err, errPermanent) || attempt >= d.cfg.MaxRetries {
			return err
		}
		d.failed.WithLabelValues(t.name).Inc()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = d.cfg.Retry.Next(wait)
	}
}

func (d *Dispatcher) post(ctx context.Context, t *target, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post alerts: %w: %w", errPermanent, config.RedactURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("post alerts to %s: %w", t.name, config.RedactURLError(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("post alerts to %s: %s: %s: %w", t.name, resp.Status, bytes.TrimSpace(msg), errPermanent)
	default:
		return fmt.Errorf("post alerts to %s: %s: %s", t.name, resp.Status, bytes.TrimSpace(msg))
	}
}
