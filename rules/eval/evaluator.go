// Package eval runs flowlens rule files in-process with Prometheus's own
// rules engine, over a local TSDB fed from the flow analyzer's registry, or
// over a remote Prometheus-compatible query API. Pending and firing states
// survive restarts (ALERTS_FOR_STATE in the local TSDB), invalid rules are
// reported while the valid ones run, and alerts go to Alertmanager and
// webhooks without ever blocking evaluation.
//
// The analyzer's counters start from 0 when a series is new and when the
// analyzer restarts; they say so with created timestamps, which the local
// TSDB stores as zero samples (see gather.Copier), so rate() counts a new flow's
// first burst and sees a restart as a counter reset.
package eval

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/strutil"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/rules/gather"
	"github.com/flowlens/flowlens/rules/notify"
	"github.com/flowlens/flowlens/rules/rulefile"
)

// Settings are the evaluator's dependencies.
type Settings struct {
	component.Settings
	// FlowMetrics are the flow analyzer's metrics, copied into the local
	// TSDB every gather_interval (its registry in flowlens up, its /metrics
	// page scraped in `flowlens rules eval`); nil in remote mode
	// (query_url).
	FlowMetrics prometheus.Gatherer
}

// Evaluator evaluates rule files and notifies on alerts, and serves them
// (GET /api/v1/alerts) with its own metrics.
type Evaluator struct {
	cfg      Config
	log      *zap.Logger
	reg      prometheus.Registerer
	served   prometheus.Gatherer // what /metrics serves
	gatherer prometheus.Gatherer // the flow metrics; nil in remote mode
	endpoint *listener.Endpoint
	srv      *listener.Server

	db       *tsdb.DB
	engine   *promql.Engine
	manager  *rules.Manager
	dispatch *notify.Dispatcher
	extURL   string

	mu    sync.Mutex
	diags map[string]rulefile.Diagnostics // by file

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped bool

	gatherErrors  prometheus.Counter
	gatherSamples prometheus.Gauge
	invalidRules  prometheus.Gauge
}

// New applies the config's defaults, checks it and builds an evaluator.
// In local mode (no QueryURL) set.FlowMetrics are copied into the local
// TSDB every GatherInterval.
func New(cfg Config, set Settings) (*Evaluator, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rules evaluator config: %w", err)
	}
	if cfg.QueryURL == "" && set.FlowMetrics == nil {
		return nil, errors.New("rules evaluator: local mode needs the flow analyzer's metrics (a gatherer) or a query_url")
	}
	set.Settings = set.Settings.WithDefaults()
	log, reg := set.Logger, set.Registerer
	endpoint, err := listener.Load(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("rules evaluator config: %w", err)
	}
	d, err := notify.New(cfg.Notify, component.Settings{Logger: log.Named("notify"), Registerer: reg})
	if err != nil {
		return nil, err
	}
	e := &Evaluator{
		cfg: cfg, log: log, reg: reg, served: set.Gatherer, gatherer: set.FlowMetrics, endpoint: endpoint, dispatch: d, diags: map[string]rulefile.Diagnostics{},
		gatherErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_rules_gather_errors_total",
			Help: "Failed copies of the flow metrics into the rules TSDB."}),
		gatherSamples: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlens_rules_gathered_samples",
			Help: "Samples copied into the rules TSDB at the last gather."}),
		invalidRules: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlens_rules_invalid",
			Help: "Rule file problems that keep rules from running."}),
	}
	if err := component.Register(reg, "rules evaluator", e.gatherErrors, e.gatherSamples, e.invalidRules); err != nil {
		return nil, err
	}
	return e, nil
}

// Start opens the TSDB, loads the rules, starts evaluating and serves the
// alerts API. It returns once everything runs; rule problems are reported
// (InvalidRules, logs) but are not an error.
func (e *Evaluator) Start(ctx context.Context) error {
	db, err := openTSDB(e.cfg, e.log, e.reg)
	if err != nil {
		return err
	}
	e.db = db
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel

	var query rules.QueryFunc
	if e.cfg.QueryURL != "" {
		query = remoteQueryFunc(&http.Client{Timeout: e.cfg.QueryTimeout}, e.cfg.QueryURL)
	} else {
		e.engine = promql.NewEngine(promql.EngineOpts{
			Logger: newSlog(e.log.Named("promql")), Reg: e.reg, MaxSamples: 50_000_000, Timeout: e.cfg.QueryTimeout,
			EnableAtModifier: true, EnableNegativeOffset: true,
			NoStepSubqueryIntervalFn: func(int64) int64 { return e.cfg.Interval.Milliseconds() },
		})
		query = rules.EngineQueryFunc(e.engine, db)
	}
	var ext *url.URL
	if e.cfg.ExternalURL != "" {
		ext, _ = url.Parse(e.cfg.ExternalURL)
		e.extURL = e.cfg.ExternalURL
	}
	e.manager = rules.NewManager(&rules.ManagerOptions{
		ExternalURL:     ext,
		QueryFunc:       query,
		NotifyFunc:      e.notify,
		Context:         runCtx,
		AppendableV2:    db,
		Queryable:       db,
		Logger:          newSlog(e.log.Named("rules")),
		Registerer:      e.reg,
		OutageTolerance: e.cfg.OutageTolerance,
		ForGracePeriod:  e.cfg.ForGracePeriod,
		ResendDelay:     e.cfg.ResendDelay,
		GroupLoader: rulefile.Loader{
			Options: rulefile.Options{KnownServices: e.cfg.KnownServices, KnownEdges: e.cfg.KnownEdges, Inline: e.cfg.QueryURL != ""},
			Report:  e.report,
		},
	})
	if err := e.dispatch.Start(runCtx); err != nil {
		return err
	}
	if e.gatherer != nil {
		c := gather.NewCopier(e.gatherer, db)
		e.gatherOnce(runCtx, c) // the first evaluation sees data
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.gatherLoop(runCtx, c)
		}()
	}
	if err := e.Reload(); err != nil {
		e.log.Error("loading rules", zap.Error(err))
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.manager.Run()
	}()
	if e.endpoint.On() {
		mux := http.NewServeMux()
		mux.Handle(alertapi.Path, e.Handler())
		mux.Handle("/metrics", promhttp.HandlerFor(e.served, promhttp.HandlerOpts{}))
		srv, err := e.endpoint.Serve(ctx, "alerts API", &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, e.log)
		if err != nil {
			return err
		}
		e.mu.Lock()
		e.srv = srv
		e.mu.Unlock()
	}
	return nil
}

// Addr is where the alerts API listens, after Start ("" when off).
func (e *Evaluator) Addr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil {
		return ""
	}
	return e.srv.Addr()
}

// URL is the alerts API's base URL, after Start ("" when off).
func (e *Evaluator) URL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil {
		return ""
	}
	return e.srv.URL()
}

// Reload re-reads the rule files. Invalid rules are reported and skipped;
// the error is only for what keeps every rule from loading.
func (e *Evaluator) Reload() error {
	return e.manager.Update(e.cfg.Interval, e.cfg.RuleFiles, labels.FromMap(e.cfg.ExternalLabels), e.extURL, nil)
}

func (e *Evaluator) report(file string, ds rulefile.Diagnostics) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(ds) == 0 {
		delete(e.diags, file)
	} else {
		e.diags[file] = ds
		for _, d := range ds {
			e.log.Warn("invalid rule skipped", zap.String("problem", d.Error()))
		}
	}
	n := 0
	for _, d := range e.diags {
		n += len(d)
	}
	e.invalidRules.Set(float64(n))
}

// openTSDB opens the local TSDB. Start timestamps are stored as zero
// samples (Prometheus' created-timestamp-zero-ingestion): the copier hands
// it the created timestamps of the analyzer's counters, so that rate() sees
// the first increase of a new series and the reset of a restarted analyzer.
func openTSDB(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*tsdb.DB, error) {
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = cfg.Retention.Milliseconds()
	opts.EnableSTAsZeroSample = true
	db, err := tsdb.Open(filepath.Clean(cfg.DataDir), newSlog(log.Named("tsdb")), reg, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("open rules TSDB in %s: %w", cfg.DataDir, err)
	}
	return db, nil
}

func (e *Evaluator) gatherOnce(ctx context.Context, c *gather.Copier) {
	n, err := c.Copy(ctx, time.Now().UnixMilli())
	if err != nil {
		e.gatherErrors.Inc()
		e.log.Warn("copy flow metrics into the rules TSDB", zap.Error(err))
		return
	}
	e.gatherSamples.Set(float64(n))
}

func (e *Evaluator) gatherLoop(ctx context.Context, c *gather.Copier) {
	t := time.NewTicker(e.cfg.GatherInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.gatherOnce(ctx, c)
		}
	}
}

// notify turns the engine's alerts into receiver alerts, as Prometheus
// does: a firing alert is valid until ValidUntil, a resolved one ends at
// ResolvedAt. It only enqueues.
func (e *Evaluator) notify(_ context.Context, expr string, alerts ...*rules.Alert) {
	out := make([]notify.Alert, 0, len(alerts))
	for _, a := range alerts {
		na := notify.Alert{
			StartsAt:     a.FiredAt,
			Labels:       a.Labels.Map(),
			Annotations:  a.Annotations.Map(),
			GeneratorURL: e.extURL + strutil.TableLinkForExpression(expr),
		}
		if !a.ResolvedAt.IsZero() {
			na.EndsAt = a.ResolvedAt
		} else {
			na.EndsAt = a.ValidUntil
		}
		out = append(out, na)
	}
	e.dispatch.Enqueue(out...)
}

// Alerts returns the pending, firing and recently resolved alerts.
func (e *Evaluator) Alerts() []alertapi.Alert {
	if e.manager == nil {
		return nil
	}
	var out []alertapi.Alert
	for _, r := range e.manager.AlertingRules() {
		r.ForEachActiveAlert(func(a *rules.Alert) {
			x := alertapi.Alert{
				Name: r.Name(), Expr: r.Query().String(), Labels: a.Labels.Map(), Annotations: a.Annotations.Map(),
				Value: a.Value, ActiveAt: a.ActiveAt,
			}
			switch {
			case !a.ResolvedAt.IsZero():
				x.State = "resolved"
				t := a.ResolvedAt
				x.ResolvedAt = &t
			default:
				x.State = a.State.String()
			}
			if !a.FiredAt.IsZero() {
				t := a.FiredAt
				x.FiredAt = &t
			}
			out = append(out, x)
		})
	}
	alertapi.Sort(out)
	return out
}

// Rules lists every alerting rule that runs, by name.
func (e *Evaluator) Rules() []alertapi.Rule {
	if e.manager == nil {
		return nil
	}
	var out []alertapi.Rule
	for _, r := range e.manager.AlertingRules() {
		x := alertapi.Rule{Name: r.Name(), Expr: r.Query().String(), Labels: r.Labels().Map(), State: r.State().String(),
			Health: string(r.Health())}
		if d := r.HoldDuration(); d > 0 {
			x.For = model.Duration(d).String()
		}
		if err := r.LastError(); err != nil {
			x.LastError = err.Error()
		}
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// InvalidRules lists the rule problems that keep rules from running.
func (e *Evaluator) InvalidRules() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ds := range e.diags {
		for _, d := range ds {
			out = append(out, d.Error())
		}
	}
	sort.Strings(out)
	return out
}

// Handler serves GET /api/v1/alerts.
func (e *Evaluator) Handler() http.Handler { return alertapi.Handler(e) }

// Shutdown stops evaluation, flushes pending notifications until ctx ends,
// and closes the TSDB. It is safe without Start and more than once.
func (e *Evaluator) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	srv := e.srv
	e.mu.Unlock()
	err := srv.Shutdown(ctx)
	if e.manager != nil {
		e.manager.Stop()
	}
	err = errors.Join(err, e.dispatch.Shutdown(ctx))
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	if e.db != nil {
		err = errors.Join(err, e.db.Close())
	}
	return err
}
