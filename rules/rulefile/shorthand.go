package rulefile

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"
)

// Defaults of the shorthand fields.
const (
	DefaultWindow  = 5 * time.Minute
	DefaultMinRate = 0.1 // per second: below it a ratio, error ratio or quantile is not judged
)

// common are the fields every shorthand accepts.
type common struct {
	Name          string
	For           model.Duration
	KeepFiringFor model.Duration
	Labels        map[string]string
	Annotations   map[string]string
	Window        model.Duration
	MinRate       float64
	By            []string
}

var commonKeys = []string{"name", "for", "keep_firing_for", "labels", "annotations", "window", "min_rate", "by"}

// shorthand decodes and compiles one ratio/latency/breaker/errors item.
func (l *loader) shorthand(kind string, n *yaml.Node, group string) []rulefmt.Rule {
	var keys []string
	switch kind {
	case "ratio":
		keys = []string{"numerator", "denominator", "expected", "tolerance", "direction", "baseline"}
	case "latency":
		keys = []string{"edge", "connection_type", "side", "quantile", "threshold", "baseline", "factor"}
	case "errors":
		keys = []string{"edge", "connection_type", "threshold"}
	case "breaker":
		keys = []string{"service", "target", "state", "flapping_transitions", "flapping_window"}
	case "conformance":
		keys = []string{"service", "logs", "calls", "target"}
	}
	ruleName := ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				ruleName = n.Content[i+1].Value
			}
		}
	}
	m, ok := l.mapping(n, group, ruleName, append(slices.Clone(commonKeys), keys...)...)
	if m == nil {
		return nil
	}
	s := &sh{l: l, m: m, n: n, group: group, name: ruleName, ok: ok}
	c := s.common(kind)
	var rs []rulefmt.Rule
	switch kind {
	case "ratio":
		rs = s.ratio(c)
	case "latency":
		rs = s.latency(c)
	case "errors":
		rs = s.errors(c)
	case "breaker":
		rs = s.breaker(c)
	case "conformance":
		rs = s.conformance(c)
	}
	if !s.ok {
		return nil
	}
	// the compiled rules must be valid Prometheus rules: user labels and
	// annotation templates are checked here
	for i := range rs {
		node := rulefmt.RuleNode{}
		node.Record = yaml.Node{Line: n.Line, Column: n.Column}
		node.Alert, node.Expr = node.Record, node.Record
		if !l.validate(&rs[i], node, n, m, group) {
			return nil
		}
	}
	return rs
}

// sh is the state of one shorthand being compiled.
type sh struct {
	l     *loader
	m     map[string]*yaml.Node
	n     *yaml.Node
	group string
	name  string
	ok    bool
}

func (s *sh) errf(n *yaml.Node, format string, args ...any) {
	if n == nil {
		n = s.n
	}
	s.l.errf(n, s.group, s.name, format, args...)
	s.ok = false
}

func (s *sh) str(key string) string {
	var v string
	if !s.l.decode(s.m[key], s.group, s.name, key, &v) {
		s.ok = false
	}
	return v
}

func (s *sh) float(key string, def float64) float64 {
	n := s.m[key]
	if n == nil {
		return def
	}
	var v float64
	if !s.l.decode(n, s.group, s.name, key, &v) {
		s.ok = false
		return def
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		s.errf(n, "%s: must be a finite number", key)
	}
	return v
}

func (s *sh) dur(key string, def time.Duration) model.Duration {
	d := model.Duration(def)
	if !s.l.duration(s.m[key], s.group, s.name, key, &d) {
		s.ok = false
	}
	return d
}

var alertNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (s *sh) common(kind string) common {
	var c common
	c.Name = s.str("name")
	if c.Name == "" {
		s.errf(nil, "%s: name is required (it names the alert)", kind)
	} else if !alertNameRE.MatchString(c.Name) {
		s.errf(s.m["name"], "name %q: use letters, digits and underscores (it names the alert and its recording rules)", c.Name)
	}
	defFor := 5 * time.Minute
	switch kind {
	case "latency":
		defFor = 10 * time.Minute
	case "breaker":
		defFor = time.Minute
	case "conformance":
		defFor = 15 * time.Minute
	}
	c.For = s.dur("for", defFor)
	c.KeepFiringFor = s.dur("keep_firing_for", 0)
	c.Window = s.dur("window", DefaultWindow)
	if c.Window <= 0 {
		s.errf(s.m["window"], "window: must be positive")
	}
	c.MinRate = s.float("min_rate", DefaultMinRate)
	if c.MinRate < 0 {
		s.errf(s.m["min_rate"], "min_rate: must not be negative (it is the rate per second below which the rule does not judge)")
	}
	if !s.l.decode(s.m["labels"], s.group, s.name, "labels", &c.Labels) ||
		!s.l.decode(s.m["annotations"], s.group, s.name, "annotations", &c.Annotations) ||
		!s.l.decode(s.m["by"], s.group, s.name, "by", &c.By) {
		s.ok = false
	}
	for _, b := range c.By {
		if !model.UTF8Validation.IsValidLabelName(b) || b == "le" || b == model.MetricNameLabel {
			s.errf(s.m["by"], "by: %q is not a label name that can be kept", b)
		}
	}
	return c
}

// recName is the name of a recording rule of this shorthand.
func recName(ruleName, what string) string {
	return RecordPrefix + snake(ruleName) + ":" + what
}

// snake turns PaymentsPerCheckout into payments_per_checkout.
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
				(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fmtFloat prints a float the way PromQL reads it back.
func fmtFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// builder collects the rules of a shorthand; ref returns either the name of a
// recording rule (emitted) or the parenthesised expression (inline mode).
type builder struct {
	name   string
	inline bool
	rules  []rulefmt.Rule
}

func (b *builder) ref(what, expr string) string {
	if b.inline {
		return "(" + expr + ")"
	}
	rec := recName(b.name, what)
	b.rules = append(b.rules, rulefmt.Rule{Record: rec, Expr: expr})
	return rec
}

// rangeOf returns a range selector over a reference: a plain range on a
// recorded series, a subquery over an inline expression.
func (b *builder) rangeOf(ref string, window model.Duration) string {
	if b.inline {
		return ref + "[" + window.String() + ":]"
	}
	return ref + "[" + window.String() + "]"
}

func (b *builder) alert(c common, name, expr string, forDur model.Duration, annotations map[string]string) {
	b.alertOn(nil, c, name, expr, forDur, annotations)
}

// alertOn is alert for a rule about one flow: its alerts carry names, the
// labels naming the flow (unless by keeps them on the series, or the user
// set them), so the graph views can mark the flow whose rule fires.
func (b *builder) alertOn(names map[string]string, c common, name, expr string, forDur model.Duration, annotations map[string]string) {
	ann := map[string]string{}
	for k, v := range annotations {
		ann[k] = v
	}
	for k, v := range c.Annotations { // the user's annotations win
		ann[k] = v
	}
	var lbls map[string]string
	for k, v := range names {
		if !slices.Contains(c.By, k) {
			if lbls == nil {
				lbls = map[string]string{}
			}
			lbls[k] = v
		}
	}
	for k, v := range c.Labels { // the user's labels win
		if lbls == nil {
			lbls = map[string]string{}
		}
		lbls[k] = v
	}
	b.rules = append(b.rules, rulefmt.Rule{
		Alert: name, Expr: expr, For: forDur, KeepFiringFor: c.KeepFiringFor,
		Labels: lbls, Annotations: ann,
	})
}

// sumBy wraps an expression in sum, keeping the by labels.
func sumBy(by []string, extra []string, expr string) string {
	ls := append(slices.Clone(extra), by...)
	if len(ls) == 0 {
		return "sum(" + expr + ")"
	}
	return "sum by (" + strings.Join(ls, ", ") + ") (" + expr + ")"
}

// guardedRatio divides num by den only where den is above minRate: below it
// (and at zero) the ratio is undefined rather than 0/0 or a noisy value. A
// missing numerator (no such flow at all) counts as 0 where the denominator
// exists, so "payments receives nothing" is a ratio of 0 and is judged.
func guardedRatio(num, den string, minRate float64) string {
	return "(" + num + " or " + den + " * 0) / (" + den + " > " + fmtFloat(minRate) + ")"
}

func (c common) lowTrafficNote(what string) string {
	return fmt.Sprintf("Not judged while %s is at or below %s/s over %s (low traffic): the value is then undefined, not 0.",
		what, fmtFloat(c.MinRate), c.Window)
}
