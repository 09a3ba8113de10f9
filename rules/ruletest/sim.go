// Package ruletest runs unit tests for rule files in promtool's test-file
// format (rule_files, evaluation_interval, tests[].input_series,
// alert_rule_test, promql_expr_test), with flowlens shorthands allowed in the
// rule files. Rules are evaluated by Prometheus's own rules engine over a
// throw-away TSDB, on simulated time starting at the Unix epoch.
package ruletest

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/flowlens/flowlens/rules/gather"
	"github.com/flowlens/flowlens/rules/rulefile"
)

// Series is one input series in promtool notation: a series selector and
// values in expanding notation ("0+10x30 300+5x30", "_" for a gap, "stale").
type Series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// SimConfig describes a simulation.
type SimConfig struct {
	RuleFiles      []string
	Series         []Series
	SeriesInterval time.Duration // spacing of input values; default 1m
	EvalInterval   time.Duration // rule evaluation step; default 1m
	GroupOrder     []string      // groups named here are evaluated first, in this order
	ExternalLabels map[string]string
	ExternalURL    string
	Rules          rulefile.Options
}

// Simulation evaluates rule groups step by step over input series. It is not
// safe for concurrent use.
type Simulation struct {
	cfg      SimConfig
	dir      string
	db       *tsdb.DB
	engine   *promql.Engine
	groups   []*rules.Group
	samples  []point
	next     int // first sample not yet appended
	parser   parser.Parser
	scrapers map[prometheus.Gatherer]*gather.Copier // of Scrape, one per registry
}

type point struct {
	lset labels.Labels
	t    int64 // ms
	v    float64
	h    *histogram.FloatHistogram
}

// Epoch is time zero of every simulation.
var Epoch = time.Unix(0, 0).UTC()

// NewSimulation loads the series and the rule files. Any diagnostic in a
// rule file is an error here: tests run on valid rules only.
func NewSimulation(cfg SimConfig) (*Simulation, error) {
	if cfg.SeriesInterval <= 0 {
		cfg.SeriesInterval = time.Minute
	}
	if cfg.EvalInterval <= 0 {
		cfg.EvalInterval = time.Minute
	}
	p := cfg.Rules.Parser
	if p == nil {
		p = parser.NewParser(parser.Options{})
		cfg.Rules.Parser = p
	}
	s := &Simulation{cfg: cfg, parser: p}
	for _, in := range cfg.Series {
		lset, vals, err := p.ParseSeriesDesc(in.Series + " " + in.Values)
		if err != nil {
			return nil, fmt.Errorf("input series %q: %w", in.Series, err)
		}
		for i, v := range vals {
			if v.Omitted {
				continue
			}
			s.samples = append(s.samples, point{lset: lset, t: int64(i) * cfg.SeriesInterval.Milliseconds(), v: v.Value, h: v.Histogram})
		}
	}
	sort.SliceStable(s.samples, func(i, j int) bool { return s.samples[i].t < s.samples[j].t })

	dir, err := os.MkdirTemp("", "flowlens-ruletest-")
	if err != nil {
		return nil, fmt.Errorf("create test storage: %w", err)
	}
	s.dir = dir
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = 0
	// created timestamps become zero samples, as in the evaluator's TSDB
	opts.EnableSTAsZeroSample = true
	db, err := tsdb.Open(dir, promslog.NewNopLogger(), nil, opts, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("open test storage: %w", err)
	}
	s.db = db
	s.engine = promql.NewEngine(promql.EngineOpts{
		Logger:               promslog.NewNopLogger(),
		MaxSamples:           50_000_000,
		Timeout:              time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		NoStepSubqueryIntervalFn: func(int64) int64 {
			return cfg.EvalInterval.Milliseconds()
		},
		Parser: p,
	})

	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(s.engine, db),
		AppendableV2: db,
		Queryable:    db,
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       promslog.NewNopLogger(),
		GroupLoader:  rulefile.Loader{Options: cfg.Rules, Strict: true},
		Parser:       p,
	})
	groups, errs := m.LoadGroups(cfg.EvalInterval, labels.FromMap(cfg.ExternalLabels), cfg.ExternalURL, nil, false, cfg.RuleFiles...)
	if len(errs) > 0 {
		s.Close()
		return nil, fmt.Errorf("load rule files: %w", joinErrs(errs))
	}
	order := map[string]int{}
	for i, n := range cfg.GroupOrder {
		order[n] = i - len(cfg.GroupOrder) // named groups first
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.groups = append(s.groups, groups[k])
	}
	sort.SliceStable(s.groups, func(i, j int) bool { return order[s.groups[i].Name()] < order[s.groups[j].Name()] })
	for _, g := range s.groups {
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok {
				ar.SetRestored(true) // so ALERTS series are written from the start
			}
		}
	}
	return s, nil
}

type joinedErrs []error

func (e joinedErrs) Error() string {
	s := ""
	for i, err := range e {
		if i > 0 {
			s += "\n"
		}
		s += err.Error()
	}
	return s
}

func joinErrs(errs []error) error { return joinedErrs(errs) }

// Close removes the simulation's storage.
func (s *Simulation) Close() error {
	var err error
	if s.db != nil {
		err = s.db.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	return err
}

// Step appends the input samples up to at (an offset from Epoch) and
// evaluates every group at that time. It returns the rule evaluation errors.
func (s *Simulation) Step(ctx context.Context, at time.Duration) error {
	ts := Epoch.Add(at)
	if err := s.loadTill(ctx, ts.UnixMilli()); err != nil {
		return err
	}
	var errs []error
	for _, g := range s.groups {
		g.Eval(ctx, ts)
		for _, r := range g.Rules() {
			if err := r.LastError(); err != nil {
				errs = append(errs, fmt.Errorf("rule %s at %s: %w", r.Name(), at, err))
			}
		}
	}
	if len(errs) > 0 {
		return joinErrs(errs)
	}
	return nil
}

func (s *Simulation) loadTill(ctx context.Context, tMs int64) error {
	if s.next >= len(s.samples) || s.samples[s.next].t > tMs {
		return nil
	}
	app := s.db.Appender(ctx)
	for ; s.next < len(s.samples) && s.samples[s.next].t <= tMs; s.next++ {
		p := s.samples[s.next]
		var err error
		if p.h != nil {
			_, err = app.AppendHistogram(0, p.lset, p.t, nil, p.h)
		} else {
			_, err = app.Append(0, p.lset, p.t, p.v)
		}
		if err != nil {
			_ = app.Rollback()
			return fmt.Errorf("append input %s at %dms: %w", p.lset, p.t, err)
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("append input: %w", err)
	}
	return nil
}

// Alert is an alert as the rules engine holds it.
type Alert struct {
	Name        string
	State       string // pending or firing
	Labels      labels.Labels
	Annotations labels.Labels
	Value       float64
	ActiveAt    time.Duration // since Epoch
}

// Alerts returns the pending and firing alerts after the last Step.
func (s *Simulation) Alerts() []Alert {
	var out []Alert
	for _, g := range s.groups {
		for _, r := range g.Rules() {
			ar, ok := r.(*rules.AlertingRule)
			if !ok {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				out = append(out, Alert{
					Name: ar.Name(), State: a.State.String(), Labels: a.Labels.Copy(), Annotations: a.Annotations.Copy(),
					Value: a.Value, ActiveAt: a.ActiveAt.Sub(Epoch),
				})
			}
		}
	}
	return out
}

// Firing returns the firing alerts after the last Step.
func (s *Simulation) Firing() []Alert {
	var out []Alert
	for _, a := range s.Alerts() {
		if a.State == rules.StateFiring.String() {
			out = append(out, a)
		}
	}
	return out
}

// Query evaluates a PromQL instant query at offset at.
func (s *Simulation) Query(ctx context.Context, expr string, at time.Duration) (promql.Vector, error) {
	return rules.EngineQueryFunc(s.engine, s.db)(ctx, expr, Epoch.Add(at))
}

// Storage is the simulation's storage, for queries the tests make.
func (s *Simulation) Storage() storage.Queryable { return s.db }

// Timeline is what happened to each alert name during Run.
type Timeline struct {
	FirstFiring map[string]time.Duration // alert name -> first step it fired
	Fired       map[string][]Alert       // alert name -> alerts at their first firing step
}

// Run steps from 0 to until (inclusive) and records when each alert first
// fired.
func (s *Simulation) Run(ctx context.Context, until time.Duration) (Timeline, error) {
	tl := Timeline{FirstFiring: map[string]time.Duration{}, Fired: map[string][]Alert{}}
	for at := time.Duration(0); at <= until; at += s.cfg.EvalInterval {
		if err := s.Step(ctx, at); err != nil {
			return tl, err
		}
		for _, a := range s.Firing() {
			if _, seen := tl.FirstFiring[a.Name]; !seen || tl.FirstFiring[a.Name] == at {
				tl.FirstFiring[a.Name] = at
				tl.Fired[a.Name] = append(tl.Fired[a.Name], a)
			}
		}
	}
	return tl, nil
}
