package ruletest

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.yaml.in/yaml/v3"

	"github.com/flowlens/flowlens/rules/rulefile"
)

// File is a test file in promtool's format.
type File struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval,omitempty"`
	GroupEvalOrder     []string       `yaml:"group_eval_order,omitempty"`
	Tests              []TestGroup    `yaml:"tests"`
	FuzzyCompare       bool           `yaml:"fuzzy_compare,omitempty"`
}

// TestGroup is a set of input series and the expectations on them.
type TestGroup struct {
	Name            string            `yaml:"name,omitempty"`
	Interval        model.Duration    `yaml:"interval,omitempty"`
	InputSeries     []Series          `yaml:"input_series"`
	AlertRuleTests  []AlertTest       `yaml:"alert_rule_test,omitempty"`
	PromqlExprTests []ExprTest        `yaml:"promql_expr_test,omitempty"`
	ExternalLabels  map[string]string `yaml:"external_labels,omitempty"`
	ExternalURL     string            `yaml:"external_url,omitempty"`
}

// AlertTest expects the firing alerts of one alert name at one time.
type AlertTest struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []ExpAlert     `yaml:"exp_alerts"`
}

// ExpAlert is one expected firing alert (alertname is implied).
type ExpAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// ExprTest expects the result of a PromQL query at one time.
type ExprTest struct {
	Expr       string         `yaml:"expr"`
	EvalTime   model.Duration `yaml:"eval_time"`
	ExpSamples []ExpSample    `yaml:"exp_samples"`
}

// ExpSample is one expected sample.
type ExpSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

// ParseFile reads a test file; rule file paths are made relative to it.
func ParseFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read test file: %w", err)
	}
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	base := filepath.Dir(path)
	var files []string
	for _, rf := range f.RuleFiles {
		if !filepath.IsAbs(rf) {
			rf = filepath.Join(base, rf)
		}
		m, err := filepath.Glob(rf)
		if err != nil {
			return nil, fmt.Errorf("%s: rule_files %q: %w", path, rf, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: rule_files %q matches no file", path, rf)
		}
		files = append(files, m...)
	}
	f.RuleFiles = files
	if f.EvaluationInterval == 0 {
		f.EvaluationInterval = model.Duration(time.Minute)
	}
	return &f, nil
}

// Failure is one unmet expectation or error of a test group.
type Failure struct {
	Test string
	Msg  string
}

func (f Failure) Error() string { return "    name: " + f.Test + ",\n" + f.Msg }

// Run runs every test group of f and returns the failures (none: success).
func Run(ctx context.Context, f *File, opts rulefile.Options) []Failure {
	var out []Failure
	for i, tg := range f.Tests {
		name := tg.Name
		if name == "" {
			name = fmt.Sprintf("unnamed#%d", i)
		}
		for _, msg := range runGroup(ctx, f, tg, opts) {
			out = append(out, Failure{Test: name, Msg: msg})
		}
	}
	return out
}

// RunFiles runs test files, printing promtool-style results to w; it reports
// whether all passed.
func RunFiles(ctx context.Context, w io.Writer, opts rulefile.Options, paths ...string) bool {
	ok := true
	for _, p := range paths {
		fmt.Fprintf(w, "Processing test file: %s\n", p)
		f, err := ParseFile(p)
		var fails []Failure
		if err != nil {
			fails = []Failure{{Test: "-", Msg: "    " + err.Error()}}
		} else {
			fails = Run(ctx, f, opts)
		}
		if len(fails) > 0 {
			ok = false
			fmt.Fprintln(w, "  FAILED:")
			for _, fl := range fails {
				fmt.Fprintln(w, fl.Error())
				fmt.Fprintln(w)
			}
		} else {
			fmt.Fprintln(w, "  SUCCESS")
		}
		fmt.Fprintln(w)
	}
	return ok
}

func runGroup(ctx context.Context, f *File, tg TestGroup, opts rulefile.Options) []string {
	interval := time.Duration(tg.Interval)
	if interval == 0 {
		interval = time.Duration(f.EvaluationInterval)
	}
	evalInterval := time.Duration(f.EvaluationInterval)
	sim, err := NewSimulation(SimConfig{
		RuleFiles: f.RuleFiles, Series: tg.InputSeries, SeriesInterval: interval, EvalInterval: evalInterval,
		GroupOrder: f.GroupEvalOrder, ExternalLabels: tg.ExternalLabels, ExternalURL: tg.ExternalURL, Rules: opts,
	})
	if err != nil {
		return []string{"    " + err.Error()}
	}
	defer sim.Close()

	var maxT model.Duration
	byTime := map[model.Duration][]AlertTest{}
	var times []model.Duration
	for _, at := range tg.AlertRuleTests {
		if at.Alertname == "" {
			return []string{fmt.Sprintf("    an alert_rule_test item at eval_time %s misses alertname", at.EvalTime)}
		}
		if _, ok := byTime[at.EvalTime]; !ok {
			times = append(times, at.EvalTime)
		}
		byTime[at.EvalTime] = append(byTime[at.EvalTime], at)
		maxT = max(maxT, at.EvalTime)
	}
	for _, et := range tg.PromqlExprTests {
		maxT = max(maxT, et.EvalTime)
	}
	slices.Sort(times)
	eq := floatEqual(f.FuzzyCompare)

	var msgs []string
	cur := 0
	for ts := time.Duration(0); ts <= time.Duration(maxT); ts += evalInterval {
		if err := sim.Step(ctx, ts); err != nil {
			return append(msgs, "    "+err.Error())
		}
		// expectations at t are checked against the evaluation at the step
		// with ts <= t < ts+interval, as promtool does
		for cur < len(times) && time.Duration(times[cur]) < ts+evalInterval {
			t := times[cur]
			firing := sim.Firing()
			for _, at := range byTime[t] {
				var got, exp []labelsAndAnnotations
				for _, a := range firing {
					if a.Name == at.Alertname {
						got = append(got, labelsAndAnnotations{a.Labels, a.Annotations})
					}
				}
				for _, e := range at.ExpAlerts {
					l := map[string]string{labels.AlertName: at.Alertname}
					for k, v := range e.ExpLabels {
						l[k] = v
					}
					exp = append(exp, labelsAndAnnotations{labels.FromMap(l), labels.FromMap(e.ExpAnnotations)})
				}
				sortLA(got)
				sortLA(exp)
				if !equalLA(got, exp) {
					msgs = append(msgs, fmt.Sprintf("    alertname: %s, time: %s,\n        exp: %s,\n        got: %s",
						at.Alertname, t, laString(exp), laString(got)))
				}
			}
			cur++
		}
	}

	for _, et := range tg.PromqlExprTests {
		got, err := sim.Query(ctx, et.Expr, time.Duration(et.EvalTime))
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("    expr: %q, time: %s, err: %v", et.Expr, et.EvalTime, err))
			continue
		}
		type sample struct {
			l labels.Labels
			v float64
		}
		var gs, es []sample
		for _, s := range got {
			gs = append(gs, sample{s.Metric, s.F})
		}
		bad := false
		for _, s := range et.ExpSamples {
			l, err := sim.parser.ParseMetric(s.Labels)
			if err != nil {
				msgs = append(msgs, fmt.Sprintf("    expr: %q, time: %s, labels %q: %v", et.Expr, et.EvalTime, s.Labels, err))
				bad = true
				break
			}
			es = append(es, sample{l, s.Value})
		}
		if bad {
			continue
		}
		sort.Slice(gs, func(i, j int) bool { return labels.Compare(gs[i].l, gs[j].l) < 0 })
		sort.Slice(es, func(i, j int) bool { return labels.Compare(es[i].l, es[j].l) < 0 })
		same := len(gs) == len(es)
		for i := 0; same && i < len(gs); i++ {
			same = labels.Equal(gs[i].l, es[i].l) && eq(gs[i].v, es[i].v)
		}
		if !same {
			str := func(ss []sample) string {
				if len(ss) == 0 {
					return "nil"
				}
				parts := make([]string, len(ss))
				for i, s := range ss {
					parts[i] = fmt.Sprintf("%s %g", s.l, s.v)
				}
				return strings.Join(parts, ", ")
			}
			msgs = append(msgs, fmt.Sprintf("    expr: %q, time: %s,\n        exp: %s\n        got: %s", et.Expr, et.EvalTime, str(es), str(gs)))
		}
	}
	return msgs
}

// floatEqual compares exactly, or within a relative 1e-9 when fuzzy (sums
// of rates rarely land on the exact decimal a person computes by hand).
func floatEqual(fuzzy bool) func(a, b float64) bool {
	return func(a, b float64) bool {
		if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
			return true
		}
		if !fuzzy {
			return false
		}
		return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
	}
}

type labelsAndAnnotations struct {
	l, a labels.Labels
}

func sortLA(xs []labelsAndAnnotations) {
	sort.Slice(xs, func(i, j int) bool {
		if c := labels.Compare(xs[i].l, xs[j].l); c != 0 {
			return c < 0
		}
		return labels.Compare(xs[i].a, xs[j].a) < 0
	})
}

func equalLA(a, b []labelsAndAnnotations) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !labels.Equal(a[i].l, b[i].l) || !labels.Equal(a[i].a, b[i].a) {
			return false
		}
	}
	return true
}

func laString(xs []labelsAndAnnotations) string {
	if len(xs) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "\n            labels: %s annotations: %s", x.l, x.a)
	}
	b.WriteString("]")
	return b.String()
}
