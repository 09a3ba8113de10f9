package suggest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/flowlens/flowlens/rules/rulefile"
)

// Group names of the rule file.
const (
	GroupRatios  = "suggested-flow-ratios"
	GroupLatency = "suggested-latency"
)

// RuleFile writes the suggestions as a rule file in flowlens shorthand,
// each rule commented with what was observed, ready for `flowlens rules
// check` and a person's review.
func (r Result) RuleFile() ([]byte, error) {
	doc := mapping()
	doc.HeadComment = fmt.Sprintf(`Suggested by flowlens rules suggest from the flow rollups of
%s to %s UTC, cut into windows of %s (the rules' rate window).
A window is judged while the denominator's rate is above %g/s, as the rule judges it.
Each rule says what was stable then: check it, keep what you mean, and
run flowlens rules check on the result. Ratios are ranked by their band
(tolerance relative to the value), then by traffic.`,
		r.From.UTC().Format("2006-01-02 15:04"), r.To.UTC().Format("2006-01-02 15:04"), model.Duration(r.Options.Window), r.Options.MinRate)
	groups := &yaml.Node{Kind: yaml.SequenceNode}
	for _, g := range []struct {
		name string
		rs   []Suggestion
	}{{GroupRatios, r.Ratios}, {GroupLatency, r.Latency}} {
		if len(g.rs) == 0 {
			continue
		}
		rules := &yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range g.rs {
			item := r.rule(s)
			item.HeadComment = r.comment(s)
			rules.Content = append(rules.Content, item)
		}
		gn := mapping()
		add(gn, "name", str(g.name))
		add(gn, "rules", rules)
		groups.Content = append(groups.Content, gn)
	}
	if len(groups.Content) == 0 {
		groups.Style = yaml.FlowStyle
	}
	add(doc, "groups", groups)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("write suggested rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write suggested rules: %w", err)
	}
	return buf.Bytes(), nil
}

// rule is one shorthand item.
func (r Result) rule(s Suggestion) *yaml.Node {
	body := mapping()
	add(body, "name", str(s.Name))
	kind := "ratio"
	if s.Kind == KindLatency {
		kind = "latency"
		add(body, "edge", str(s.Client+"->"+s.Server))
		if s.Side != "server" {
			add(body, "side", str(s.Side))
		}
		add(body, "threshold", str(model.Duration(time.Duration(s.Threshold*float64(time.Second))).String()))
	} else {
		add(body, "numerator", flowNode(*s.Numerator))
		add(body, "denominator", flowNode(*s.Denominator))
		add(body, "expected", num(s.Expected))
		add(body, "tolerance", num(s.Tolerance))
	}
	if r.Options.Window != rulefile.DefaultWindow {
		add(body, "window", str(model.Duration(r.Options.Window).String()))
	}
	if r.Options.MinRate != rulefile.DefaultMinRate {
		add(body, "min_rate", num(r.Options.MinRate))
	}
	item := mapping()
	add(item, kind, body)
	return item
}

// comment says what a rule was drawn from.
func (r Result) comment(s Suggestion) string {
	windows := fmt.Sprintf("%d of %d windows of %s", s.Windows, s.Of, model.Duration(r.Options.Window))
	if s.Kind == KindLatency {
		side := "as the caller waits: the callee's time, the network, any queueing"
		if s.Side == "server" {
			side = "the callee's own time: its callers record none"
		}
		return fmt.Sprintf(`p99 latency of %s, %s
  observed mean %s, spread %s, slowest window %s
  %s; %s calls (%.3g/s)
  threshold: the first latency bucket bound at least %g times the slowest window`,
			s.Client+"->"+s.Server, side, secs(s.Mean), secs(s.Spread), secs(s.Max), windows, thousands(s.Count), s.Rate, r.Options.LatencyMargin)
	}
	var what, den string
	switch s.Kind {
	case KindEdgePerRequest:
		into := strings.TrimPrefix(s.Denominator.Edge, "*->")
		what, den = "calls on "+s.Numerator.Edge+" per request into "+into, "requests into "+into
	case KindDelivery:
		what, den = s.Numerator.String()+" per message "+s.Denominator.Service+" sent", "messages sent"
		if s.Denominator.Sent != "*" {
			what += " to " + s.Denominator.Sent
		}
	default:
		what, den = "calls on "+s.Numerator.Edge+" per call on "+s.Denominator.Edge, "calls on "+s.Denominator.Edge
	}
	return fmt.Sprintf(`%s
  observed %.4g, spread %.3g (%.2g%%), windows from %.4g to %.4g
  %s; %s %s (%.3g/s)
  tolerance: %g standard deviations, or the widest deviation seen, or %g%% of the value`,
		what, s.Mean, s.Spread, 100*s.Spread/s.Mean, s.Min, s.Max, windows, thousands(s.Count), den, s.Rate, r.Options.Sigmas, 100*r.Options.MinBand)
}

func flowNode(f Flow) *yaml.Node {
	if f.Edge != "" {
		return str(f.Edge)
	}
	m := mapping()
	m.Style = yaml.FlowStyle
	if f.Sent != "" {
		add(m, "sent", str(f.Sent))
	} else {
		add(m, "received", str(f.Received))
	}
	add(m, "service", str(f.Service))
	return m
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, str(key), v)
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func num(f float64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(f, 'g', -1, 64)}
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(10 * time.Microsecond).String()
}

// thousands writes n with thousands separators.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
