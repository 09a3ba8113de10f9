// Package rulefile reads flowlens rule files: Prometheus rule groups (parsed
// and validated with Prometheus's own model/rulefmt and PromQL parser) in
// which a rule item may instead be a flowlens shorthand (ratio, latency,
// breaker, errors, conformance) that compiles to recording rules plus alerts.
//
// Load never stops at the first problem: it returns the rules that are valid
// and one Diagnostic (file, line, column, what is wrong) per invalid item, so
// an evaluator keeps running the valid rules of a partly broken file.
package rulefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// Options tune validation and compilation.
type Options struct {
	// Metrics names the analyzer's series; zero value: DefaultMetrics().
	Metrics Metrics
	// KnownServices, when not empty, is the set of service names edges,
	// breakers and message flows may name; others are reported.
	KnownServices []string
	// KnownEdges, when not empty, is the set of "client->server" edges an
	// edge selector may name; others are reported.
	KnownEdges []string
	// Inline compiles shorthands into self-contained alert expressions with
	// no recording rules, for evaluation against a remote query endpoint that
	// never sees locally recorded series.
	Inline bool
	// Parser parses PromQL; nil: the default parser.
	Parser parser.Parser
}

func (o *Options) defaults() {
	if o.Metrics == (Metrics{}) {
		o.Metrics = DefaultMetrics()
	}
	if o.Parser == nil {
		o.Parser = parser.NewParser(parser.Options{})
	}
}

// Diagnostic is one problem in a rule file.
type Diagnostic struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int
	Group  string // group name, when known
	Rule   string // alert or record name, when known
	Msg    string
}

func (d Diagnostic) Error() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d", d.Line)
		if d.Column > 0 {
			fmt.Fprintf(&b, ":%d", d.Column)
		}
	}
	b.WriteString(": ")
	if d.Group != "" {
		fmt.Fprintf(&b, "group %q: ", d.Group)
	}
	if d.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", d.Rule)
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Diagnostics is a list of problems; it is an error when not empty.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Error()
	}
	return strings.Join(s, "\n")
}

// Err returns ds as an error, or nil when empty.
func (ds Diagnostics) Err() error {
	if len(ds) == 0 {
		return nil
	}
	return ds
}

// LoadFile reads and compiles a rule file. See Load.
func LoadFile(path string, opts Options) (*rulefmt.RuleGroups, Diagnostics) {
	data, err := os.ReadFile(path)
	if err != nil {
		return &rulefmt.RuleGroups{}, Diagnostics{{File: path, Msg: fmt.Sprintf("read rule file: %v", err)}}
	}
	return Load(path, data, opts)
}

// Load parses data (named file in diagnostics) into plain Prometheus rule
// groups, compiling shorthands. It returns every valid rule, and a diagnostic
// for each invalid one; groups whose header is invalid are dropped whole.
func Load(file string, data []byte, opts Options) (*rulefmt.RuleGroups, Diagnostics) {
	opts.defaults()
	l := &loader{file: file, opts: opts}
	l.known = setOf(opts.KnownServices)
	l.knownEdges = setOf(opts.KnownEdges)
	out := &rulefmt.RuleGroups{}

	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		l.yamlErr(err)
		return out, l.diags
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errf(&extra, "", "", "more than one YAML document: only one is allowed per rule file")
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind == 0 || (doc.Kind == yaml.ScalarNode && doc.Tag == "!!null") {
		return out, l.diags
	}
	top, ok := l.mapping(doc, "", "", "groups")
	if !ok {
		return out, l.diags
	}
	gs := top["groups"]
	if gs == nil {
		return out, l.diags
	}
	if gs.Kind != yaml.SequenceNode {
		l.errf(gs, "", "", "groups: must be a list")
		return out, l.diags
	}
	seen := map[string]bool{}
	records := map[string]int{} // record name -> line, across the file
	for _, gn := range gs.Content {
		if g, ok := l.group(gn, seen, records); ok {
			out.Groups = append(out.Groups, g)
		}
	}
	sort.SliceStable(l.diags, func(i, j int) bool { return l.diags[i].Line < l.diags[j].Line })
	return out, l.diags
}

type loader struct {
	file       string
	opts       Options
	known      map[string]bool
	knownEdges map[string]bool
	diags      Diagnostics
}

func setOf(xs []string) map[string]bool {
	if len(xs) == 0 {
		return nil
	}
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func (l *loader) errf(n *yaml.Node, group, rule, format string, args ...any) {
	d := Diagnostic{File: l.file, Group: group, Rule: rule, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		d.Line, d.Column = n.Line, n.Column
	}
	l.diags = append(l.diags, d)
}

// yamlErr turns a YAML syntax error ("yaml: line 3: ...") into a diagnostic.
func (l *loader) yamlErr(err error) {
	msg := err.Error()
	d := Diagnostic{File: l.file, Msg: "YAML syntax: " + msg}
	var line int
	if i := strings.Index(msg, "line "); i >= 0 {
		if _, e := fmt.Sscanf(msg[i:], "line %d:", &line); e == nil {
			d.Line = line
			rest := msg[i:]
			if j := strings.Index(rest, ": "); j >= 0 {
				d.Msg = "YAML syntax: " + rest[j+2:]
			}
		}
	}
	l.diags = append(l.diags, d)
}

// mapping checks n is a mapping with only allowed keys (each at most once)
// and returns key -> value node.
func (l *loader) mapping(n *yaml.Node, group, rule string, allowed ...string) (map[string]*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		l.errf(n, group, rule, "expected a mapping with keys %s", strings.Join(allowed, ", "))
		return nil, false
	}
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			l.errf(k, group, rule, "unknown key %q (allowed: %s)", k.Value, strings.Join(allowed, ", "))
			ok = false
			continue
		}
		if _, dup := m[k.Value]; dup {
			l.errf(k, group, rule, "key %q repeated", k.Value)
			ok = false
			continue
		}
		m[k.Value] = v
	}
	return m, ok
}

func (l *loader) decode(n *yaml.Node, group, rule, key string, v any) bool {
	if n == nil {
		return true
	}
	if err := n.Decode(v); err != nil {
		l.errf(n, group, rule, "%s: %s", key, cleanYAMLErr(err))
		return false
	}
	return true
}

func cleanYAMLErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ": "); strings.HasPrefix(s, "line ") && i >= 0 {
		s = s[i+2:]
	}
	return s
}

func (l *loader) duration(n *yaml.Node, group, rule, key string, dst *model.Duration) bool {
	if n == nil {
		return true
	}
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		l.errf(n, group, rule, "%s: must be a duration like 30s, 5m, 1h", key)
		return false
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		l.errf(n, group, rule, "%s: %v", key, err)
		return false
	}
	*dst = d
	return true
}

var groupKeys = []string{"name", "interval", "query_offset", "limit", "labels", "rules"}

func (l *loader) group(gn *yaml.Node, seen map[string]bool, records map[string]int) (rulefmt.RuleGroup, bool) {
	var g rulefmt.RuleGroup
	m, ok := l.mapping(gn, "", "", groupKeys...)
	if m == nil {
		return g, false
	}
	l.decode(m["name"], "", "", "name", &g.Name)
	if g.Name == "" {
		l.errf(gn, "", "", "group name must not be empty")
		ok = false
	} else if seen[g.Name] {
		l.errf(m["name"], g.Name, "", "group name repeated in the same file")
		ok = false
	}
	seen[g.Name] = true
	ok = l.duration(m["interval"], g.Name, "", "interval", &g.Interval) && ok
	if n := m["query_offset"]; n != nil {
		var d model.Duration
		if l.duration(n, g.Name, "", "query_offset", &d) {
			g.QueryOffset = &d
		} else {
			ok = false
		}
	}
	ok = l.decode(m["limit"], g.Name, "", "limit", &g.Limit) && ok
	ok = l.decode(m["labels"], g.Name, "", "labels", &g.Labels) && ok
	for k, v := range g.Labels {
		if !model.UTF8Validation.IsValidLabelName(k) || k == model.MetricNameLabel {
			l.errf(m["labels"], g.Name, "", "invalid label name %q", k)
			ok = false
		}
		if !model.LabelValue(v).IsValid() {
			l.errf(m["labels"], g.Name, "", "invalid label value %q", v)
			ok = false
		}
	}
	if !ok {
		return g, false
	}
	rs := m["rules"]
	if rs == nil {
		return g, true
	}
	if rs.Kind != yaml.SequenceNode {
		l.errf(rs, g.Name, "", "rules: must be a list")
		return g, false
	}
	for _, rn := range rs.Content {
		compiled := l.rule(rn, g.Name)
		// a compiled rule set stays whole: drop it all when a record name
		// collides, since its alerts refer to its recording rules
		clash := false
		for _, r := range compiled {
			if r.Record == "" {
				continue
			}
			if line, dup := records[r.Record]; dup {
				l.errf(rn, g.Name, r.Record, "recording rule name already produced at line %d: give the rule another name", line)
				clash = true
			}
		}
		if clash {
			continue
		}
		for _, r := range compiled {
			if r.Record != "" {
				records[r.Record] = rn.Line
			}
		}
		g.Rules = append(g.Rules, compiled...)
	}
	return g, true
}

var shorthandKinds = []string{"ratio", "latency", "breaker", "errors", "conformance"}

var plainRuleKeys = []string{"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}

// rule returns the Prometheus rules one item compiles to, or nil when invalid.
func (l *loader) rule(rn *yaml.Node, group string) []rulefmt.Rule {
	if rn.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(rn.Content); i += 2 {
			if k := rn.Content[i].Value; slices.Contains(shorthandKinds, k) {
				if len(rn.Content) != 2 {
					l.errf(rn, group, "", "a %s shorthand is the only key of its rule item (put name, for, labels... inside it)", k)
					return nil
				}
				return l.shorthand(k, rn.Content[i+1], group)
			}
		}
	}
	m, ok := l.mapping(rn, group, "", append(slices.Clone(plainRuleKeys), shorthandKinds...)...)
	if m == nil {
		return nil
	}
	var r rulefmt.Rule
	var node rulefmt.RuleNode
	name := scalar(m["alert"]) + scalar(m["record"])
	ok = l.decode(m["record"], group, name, "record", &r.Record) && ok
	ok = l.decode(m["alert"], group, name, "alert", &r.Alert) && ok
	ok = l.decode(m["expr"], group, name, "expr", &r.Expr) && ok
	ok = l.duration(m["for"], group, name, "for", &r.For) && ok
	ok = l.duration(m["keep_firing_for"], group, name, "keep_firing_for", &r.KeepFiringFor) && ok
	ok = l.decode(m["labels"], group, name, "labels", &r.Labels) && ok
	ok = l.decode(m["annotations"], group, name, "annotations", &r.Annotations) && ok
	if !ok {
		return nil
	}
	for k, p := range map[string]*yaml.Node{"record": &node.Record, "alert": &node.Alert, "expr": &node.Expr} {
		if n := m[k]; n != nil {
			*p = *n
		} else {
			*p = yaml.Node{Line: rn.Line, Column: rn.Column}
		}
	}
	if !l.validate(&r, node, rn, m, group) {
		return nil
	}
	return []rulefmt.Rule{r}
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// validate runs Prometheus's own rule validation and maps each problem to the
// line of the field it concerns.
func (l *loader) validate(r *rulefmt.Rule, node rulefmt.RuleNode, rn *yaml.Node, m map[string]*yaml.Node, group string) bool {
	errs := r.Validate(node, model.UTF8Validation, l.opts.Parser)
	name := r.Alert + r.Record
	for _, we := range errs {
		inner := errors.Unwrap(&we)
		if inner == nil {
			continue
		}
		msg := inner.Error()
		at := rn
		switch {
		case strings.Contains(msg, "recording rule") || strings.Contains(msg, "'record'"):
			at = orNode(m["record"], rn)
		case strings.Contains(msg, "expr") || strings.Contains(msg, "expression"):
			at = orNode(m["expr"], rn)
		case strings.Contains(msg, "annotation"):
			at = orNode(m["annotations"], rn)
		case strings.Contains(msg, "label"):
			at = orNode(m["labels"], rn)
		case strings.Contains(msg, "'for'"):
			at = orNode(m["for"], rn)
		}
		l.errf(at, group, name, "%s", msg)
	}
	return len(errs) == 0
}

func orNode(n, def *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return def
}
