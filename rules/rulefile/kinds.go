package rulefile

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flowlens/flowlens/conformance/policy"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// flow is a counter selector a ratio divides: requests (or failures, or
// retries) on an edge, messages sent to or received from a destination, or
// any counter selector.
type flow struct {
	sel  string // PromQL vector selector
	desc string // for annotations
	// names are the labels that name the flow in the graph (client and
	// server of an edge, the destination of messages) where the rule names
	// exactly one; the alert carries them, so a graph can mark the flow.
	names map[string]string
}

// flowNames are the labels naming one flow: pairs of label and value,
// without wildcards and empty values.
func flowNames(pairs ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if v := pairs[i+1]; v != "" && v != "*" {
			m[pairs[i]] = v
		}
	}
	return m
}

func matchers(pairs ...string) string {
	var ms []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" || pairs[i+1] == "*" {
			continue
		}
		ms = append(ms, pairs[i]+"="+strconv.Quote(pairs[i+1]))
	}
	if len(ms) == 0 {
		return ""
	}
	return "{" + strings.Join(ms, ", ") + "}"
}

// parseEdge splits "client->server"; "*" on either side means any.
func parseEdge(s string) (client, server string, err error) {
	c, sv, ok := strings.Cut(s, "->")
	c, sv = strings.TrimSpace(c), strings.TrimSpace(sv)
	if !ok || c == "" || sv == "" {
		return "", "", fmt.Errorf("edge %q: write it client->server (use * for any side)", s)
	}
	if c == "*" && sv == "*" {
		return "", "", fmt.Errorf("edge %q: at least one side must name a service", s)
	}
	return c, sv, nil
}

func (s *sh) checkService(n *yaml.Node, what, name string) {
	if name == "" || name == "*" || s.l.known == nil {
		return
	}
	if !s.l.known[name] {
		s.errf(n, "unknown %s %q: not among the %d known services", what, name, len(s.l.known))
	}
}

func (s *sh) edge(n *yaml.Node, raw string) (client, server string) {
	client, server, err := parseEdge(raw)
	if err != nil {
		s.errf(n, "%v", err)
		return "", ""
	}
	s.checkService(n, "client service", client)
	s.checkService(n, "server service", server)
	if s.l.knownEdges != nil && client != "*" && server != "*" && !s.l.knownEdges[client+"->"+server] {
		s.errf(n, "unknown edge %s->%s: the flow analyzer has not seen these services call each other", client, server)
	}
	return client, server
}

var flowKeys = []string{"edge", "connection_type", "kind", "sent", "received", "service", "metric"}

// flowOf decodes a ratio side: "a->b" or a mapping with one of edge, sent,
// received, metric.
func (s *sh) flowOf(key string) (flow, bool) {
	n := s.m[key]
	if n == nil {
		s.errf(nil, "ratio: %s is required", key)
		return flow{}, false
	}
	met := s.l.opts.Metrics
	if n.Kind == yaml.ScalarNode {
		c, sv := s.edge(n, n.Value)
		return flow{sel: met.Requests + matchers(met.Client, c, met.Server, sv), desc: "requests " + n.Value,
			names: flowNames(met.Client, c, met.Server, sv)}, true
	}
	m, ok := s.l.mapping(n, s.group, s.name, flowKeys...)
	if !ok {
		s.ok = false
		return flow{}, false
	}
	str := func(k string) string {
		var v string
		if !s.l.decode(m[k], s.group, s.name, key+"."+k, &v) {
			s.ok = false
		}
		return v
	}
	set := 0
	for _, k := range []string{"edge", "sent", "received", "metric"} {
		if m[k] != nil {
			set++
		}
	}
	if set != 1 {
		s.errf(n, "%s: give exactly one of edge, sent, received, metric", key)
		return flow{}, false
	}
	switch {
	case m["edge"] != nil:
		c, sv := s.edge(m["edge"], str("edge"))
		metric, what := met.Requests, "requests"
		switch k := str("kind"); k {
		case "", "requests":
		case "failed":
			metric, what = met.Failed, "failed requests"
		case "retries":
			metric, what = met.Retries, "retries"
		default:
			s.errf(m["kind"], "%s.kind: %q is not one of requests, failed, retries", key, k)
		}
		if m["service"] != nil {
			s.errf(m["service"], "%s.service: not used with edge (the edge names both services)", key)
		}
		return flow{
			sel:   metric + matchers(met.Client, c, met.Server, sv, met.ConnectionType, str("connection_type")),
			desc:  what + " " + str("edge"),
			names: flowNames(met.Client, c, met.Server, sv),
		}, true
	case m["sent"] != nil, m["received"] != nil:
		metric, dir, dk := met.MessagesSent, "sent to", "sent"
		if m["received"] != nil {
			metric, dir, dk = met.MessagesReceived, "received from", "received"
		}
		dest, svc := str(dk), str("service")
		if dest == "" {
			s.errf(m[dk], "%s.%s: name the destination (queue or topic)", key, dk)
		}
		s.checkService(m["service"], "service", svc)
		for _, k := range []string{"kind", "connection_type"} {
			if m[k] != nil {
				s.errf(m[k], "%s.%s: only applies to edge", key, k)
			}
		}
		shown := dest
		if dest == "*" {
			shown = "any destination"
		}
		desc := "messages " + dir + " " + shown
		if svc != "" {
			desc += " by " + svc
		}
		return flow{sel: metric + matchers(met.Destination, dest, met.Service, svc), desc: desc,
			names: flowNames(met.Destination, dest)}, true
	default:
		raw := str("metric")
		e, err := s.l.opts.Parser.ParseExpr(raw)
		if err != nil {
			s.errf(m["metric"], "%s.metric: %v", key, err)
			return flow{}, false
		}
		if _, ok := e.(*parser.VectorSelector); !ok {
			s.errf(m["metric"], "%s.metric: must be a counter selector like name{label=\"v\"}, not %s", key, parser.DocumentedType(e.Type()))
			return flow{}, false
		}
		return flow{sel: e.String(), desc: e.String()}, true
	}
}

// baseline is "compared with its own past": the value offset by Offset, or
// its average over Window (ending Offset ago).
type baseline struct {
	Offset model.Duration
	Window model.Duration
}

func (s *sh) baseline() (*baseline, bool) {
	n := s.m["baseline"]
	if n == nil {
		return nil, true
	}
	m, ok := s.l.mapping(n, s.group, s.name, "offset", "window")
	if !ok {
		s.ok = false
		return nil, false
	}
	var b baseline
	if !s.l.duration(m["offset"], s.group, s.name, "baseline.offset", &b.Offset) ||
		!s.l.duration(m["window"], s.group, s.name, "baseline.window", &b.Window) {
		s.ok = false
		return nil, false
	}
	if b.Offset == 0 && b.Window == 0 {
		s.errf(n, "baseline: give offset (e.g. 1d: the value a day ago), window (e.g. 1h: its average over the last hour), or both")
		return nil, false
	}
	return &b, true
}

// expr is the baseline of the series ref.
func (bl *baseline) expr(b *builder, ref string, c common) string {
	off := ""
	if bl.Offset > 0 {
		off = " offset " + bl.Offset.String()
	}
	if bl.Window == 0 && !b.inline {
		return ref + off
	}
	w := bl.Window
	if w == 0 {
		w = c.Window
	}
	return "avg_over_time(" + b.rangeOf(ref, w) + off + ")"
}

func (bl *baseline) String() string {
	switch {
	case bl.Window == 0:
		return "its value " + bl.Offset.String() + " ago"
	case bl.Offset == 0:
		return "its average over the last " + bl.Window.String()
	default:
		return "its average over " + bl.Window.String() + " ending " + bl.Offset.String() + " ago"
	}
}

func (s *sh) builder(c common) *builder {
	return &builder{name: c.Name, inline: s.l.opts.Inline}
}

func (c common) rate(sel string) string {
	return "rate(" + sel + "[" + c.Window.String() + "])"
}

func (s *sh) ratio(c common) []rulefmt.Rule {
	num, okN := s.flowOf("numerator")
	den, okD := s.flowOf("denominator")
	if okN && okD && num.sel == den.sel {
		s.errf(s.m["denominator"], "ratio over identical series (%s): numerator and denominator must differ", num.sel)
	}
	bl, _ := s.baseline()
	tol := s.float("tolerance", 0)
	if tol < 0 {
		s.errf(s.m["tolerance"], "tolerance: must not be negative, got %s", fmtFloat(tol))
	}
	dir := s.str("direction")
	switch dir {
	case "":
		dir = "both"
	case "both", "below", "above":
	default:
		s.errf(s.m["direction"], "direction: %q is not one of both, below, above", dir)
	}
	if dir == "both" && tol == 0 && s.m["tolerance"] == nil {
		s.errf(nil, "ratio: give a tolerance (or direction: below / above): a ratio is never exactly equal to its expected value")
	}
	var expected float64
	switch {
	case bl == nil && s.m["expected"] == nil && s.m["baseline"] == nil:
		s.errf(nil, "ratio: give expected (a fixed value) or baseline (its own past)")
	case bl != nil && s.m["expected"] != nil:
		s.errf(s.m["expected"], "ratio: expected and baseline are exclusive")
	case s.m["expected"] != nil:
		expected = s.float("expected", 0)
		if expected < 0 {
			s.errf(s.m["expected"], "expected: a ratio of rates is never negative, got %s", fmtFloat(expected))
		}
	}
	if !s.ok {
		return nil
	}
	b := s.builder(c)
	nr := b.ref("numerator_rate", sumBy(c.By, nil, c.rate(num.sel)))
	dr := b.ref("denominator_rate", sumBy(c.By, nil, c.rate(den.sel)))
	r := b.ref("ratio", guardedRatio(nr, dr, c.MinRate))

	var lo, hi, want string
	if bl == nil {
		lo, hi = fmtFloat(expected-tol), fmtFloat(expected+tol)
		want = fmtFloat(expected)
		if tol > 0 {
			want += " ± " + fmtFloat(tol)
		}
	} else {
		be := b.ref("baseline", bl.expr(b, r, c))
		lo, hi = "("+be+" - "+fmtFloat(tol)+")", "("+be+" + "+fmtFloat(tol)+")"
		want = bl.String()
		if tol > 0 {
			want += " ± " + fmtFloat(tol)
		}
	}
	var expr, cmp string
	switch dir {
	case "below":
		expr, cmp = r+" < "+lo, "at least "+want
	case "above":
		expr, cmp = r+" > "+hi, "at most "+want
	default:
		expr, cmp = "("+r+" < "+lo+") or ("+r+" > "+hi+")", want
	}
	names := num.names
	if len(names) == 0 {
		names = den.names
	}
	b.alertOn(names, c, c.Name, expr, c.For, map[string]string{
		"summary": fmt.Sprintf("%s: %s per %s is {{ $value | printf \"%%.4g\" }}, expected %s", c.Name, num.desc, den.desc, cmp),
		"description": fmt.Sprintf("rate(%s) / rate(%s) over %s has been {{ $value | printf \"%%.4g\" }} for %s; expected %s. %s",
			num.sel, den.sel, c.Window, c.For, cmp, c.lowTrafficNote("the rate of "+den.desc)),
	})
	return b.rules
}

// seconds reads a threshold given as a duration (500ms) or seconds (0.5).
func (s *sh) seconds(key string) (float64, bool) {
	n := s.m[key]
	if n == nil {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode {
		if d, err := model.ParseDuration(n.Value); err == nil {
			return time.Duration(d).Seconds(), true
		}
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f >= 0 {
			return f, true
		}
	}
	s.errf(n, "%s: must be a duration like 500ms or a number of seconds", key)
	return 0, false
}

func (s *sh) latency(c common) []rulefmt.Rule {
	met := s.l.opts.Metrics
	raw := s.str("edge")
	if s.m["edge"] == nil {
		s.errf(nil, "latency: edge is required (client->server)")
	}
	cl, sv := s.edge(orNode(s.m["edge"], s.n), raw)
	hist, side := met.ServerSeconds, "server"
	switch v := s.str("side"); v {
	case "", "server":
	case "client":
		hist, side = met.ClientSeconds, "client"
	default:
		s.errf(s.m["side"], "side: %q is not one of server, client", v)
	}
	q := s.float("quantile", 0.99)
	if q <= 0 || q >= 1 {
		s.errf(s.m["quantile"], "quantile: must be between 0 and 1 (exclusive), got %s", fmtFloat(q))
	}
	thr, hasThr := s.seconds("threshold")
	bl, _ := s.baseline()
	factor := s.float("factor", 1.5)
	switch {
	case hasThr && bl != nil:
		s.errf(s.m["baseline"], "latency: threshold and baseline are exclusive")
	case !hasThr && bl == nil && s.m["threshold"] == nil:
		s.errf(nil, "latency: give threshold (e.g. 500ms) or baseline with factor (e.g. 1.5 times its usual)")
	}
	if factor <= 0 {
		s.errf(s.m["factor"], "factor: must be positive, got %s", fmtFloat(factor))
	}
	if s.m["factor"] != nil && bl == nil {
		s.errf(s.m["factor"], "factor: only applies with baseline")
	}
	if !s.ok {
		return nil
	}
	sel := matchers(met.Client, cl, met.Server, sv, met.ConnectionType, s.str("connection_type"))
	b := s.builder(c)
	rr := b.ref("request_rate", sumBy(c.By, nil, c.rate(hist+"_count"+sel)))
	qe := b.ref("quantile", "histogram_quantile("+fmtFloat(q)+", "+sumBy(c.By, []string{"le"}, c.rate(hist+"_bucket"+sel))+
		") and ("+rr+" > "+fmtFloat(c.MinRate)+")")
	pq := "p" + strings.TrimPrefix(fmtFloat(q*100), "0.")
	var expr, want string
	if bl == nil {
		expr = qe + " > " + fmtFloat(thr)
		want = "at most " + model.Duration(time.Duration(thr*float64(time.Second))).String()
	} else {
		be := b.ref("baseline", bl.expr(b, qe, c))
		expr = qe + " > " + fmtFloat(factor) + " * " + be
		want = "within " + fmtFloat(factor) + "x " + bl.String()
	}
	b.alertOn(flowNames(met.Client, cl, met.Server, sv), c, c.Name, expr, c.For, map[string]string{
		"summary": fmt.Sprintf("%s: %s %s latency of %s is {{ $value | humanizeDuration }}, expected %s", c.Name, pq, side, raw, want),
		"description": fmt.Sprintf("histogram_quantile(%s) of %s_bucket%s over %s has been {{ $value | humanizeDuration }} for %s; expected %s. %s",
			fmtFloat(q), hist, sel, c.Window, c.For, want, c.lowTrafficNote("the request rate of "+raw)),
	})
	return b.rules
}

func (s *sh) errors(c common) []rulefmt.Rule {
	met := s.l.opts.Metrics
	raw := s.str("edge")
	if s.m["edge"] == nil {
		s.errf(nil, "errors: edge is required (client->server)")
	}
	cl, sv := s.edge(orNode(s.m["edge"], s.n), raw)
	thr := s.float("threshold", 0.05)
	if thr < 0 || thr >= 1 {
		s.errf(s.m["threshold"], "threshold: an error ratio between 0 and 1 (exclusive of 1), got %s", fmtFloat(thr))
	}
	if !s.ok {
		return nil
	}
	sel := matchers(met.Client, cl, met.Server, sv, met.ConnectionType, s.str("connection_type"))
	b := s.builder(c)
	fr := b.ref("failed_rate", sumBy(c.By, nil, c.rate(met.Failed+sel)))
	rr := b.ref("request_rate", sumBy(c.By, nil, c.rate(met.Requests+sel)))
	er := b.ref("error_ratio", guardedRatio(fr, rr, c.MinRate))
	b.alertOn(flowNames(met.Client, cl, met.Server, sv), c, c.Name, er+" > "+fmtFloat(thr), c.For, map[string]string{
		"summary": fmt.Sprintf("%s: {{ $value | humanizePercentage }} of requests %s fail (threshold %s)", c.Name, raw, fmtFloat(thr)),
		"description": fmt.Sprintf("rate(%s%s) / rate(%s%s) over %s has been {{ $value | humanizePercentage }} for %s, above %s. %s",
			met.Failed, sel, met.Requests, sel, c.Window, c.For, fmtFloat(thr), c.lowTrafficNote("the request rate of "+raw)),
	})
	return b.rules
}

var breakerStates = []string{"closed", "open", "half_open"}

func (s *sh) breaker(c common) []rulefmt.Rule {
	met := s.l.opts.Metrics
	for _, k := range []string{"min_rate", "window", "by"} {
		if s.m[k] != nil {
			s.errf(s.m[k], "%s: does not apply to a breaker rule", k)
		}
	}
	svc, tgt := s.str("service"), s.str("target")
	s.checkService(s.m["service"], "service", svc)
	s.checkService(s.m["target"], "target service", tgt)
	state := s.str("state")
	if state == "" {
		state = "open"
	} else if !containsStr(breakerStates, state) {
		s.errf(s.m["state"], "state: %q is not one of %s", state, strings.Join(breakerStates, ", "))
	}
	flaps := s.float("flapping_transitions", 3)
	if flaps < 0 || flaps != float64(int(flaps)) {
		s.errf(s.m["flapping_transitions"], "flapping_transitions: a whole number of transitions, 0 to disable")
	}
	fw := s.dur("flapping_window", 10*time.Minute)
	if fw <= 0 {
		s.errf(s.m["flapping_window"], "flapping_window: must be positive")
	}
	if !s.ok {
		return nil
	}
	b := s.builder(c)
	by := met.Service + ", " + met.Target
	stSel := met.BreakerState + matchers(met.Service, svc, met.Target, tgt, met.State, state)
	b.alert(c, c.Name, "max by ("+by+") ("+stSel+") == 1", c.For, map[string]string{
		"summary": fmt.Sprintf("%s: breaker of {{ $labels.%s }} towards {{ $labels.%s }} has been %s for more than %s", c.Name, met.Service, met.Target, state, c.For),
		"description": fmt.Sprintf("%s is 1 (the breaker is %s) and has stayed so for %s. A breaker the analyzer has no data for is not judged; closed is reported explicitly, so no data never reads as closed.",
			stSel, state, c.For),
	})
	if flaps > 0 {
		trSel := met.BreakerTransitions + matchers(met.Service, svc, met.Target, tgt, met.State, state)
		b.alert(c, c.Name+"Flapping", sumBy([]string{met.Service, met.Target}, nil, "increase("+trSel+"["+fw.String()+"])")+" >= "+fmtFloat(flaps), 0, map[string]string{
			"summary": fmt.Sprintf("%s: breaker of {{ $labels.%s }} towards {{ $labels.%s }} went %s {{ $value | printf \"%%.0f\" }} times in %s", c.Name, met.Service, met.Target, state, fw),
			"description": fmt.Sprintf("increase(%s[%s]) is {{ $value | printf \"%%.0f\" }}, at least %s: the breaker keeps entering %s, even if each stay is shorter than the evaluation interval.",
				trSel, fw, fmtFloat(flaps), state),
		})
	}
	return b.rules
}

func containsStr(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// conformance alerts when a service's share of log records carrying a
// field of the logging policy, or of calls recorded on both sides, falls
// below its target (conformance/policy names both).
func (s *sh) conformance(c common) []rulefmt.Rule {
	met := s.l.opts.Metrics
	if s.m["by"] != nil {
		s.errf(s.m["by"], "by: a conformance rule is always per service")
	}
	svc := s.str("service")
	s.checkService(s.m["service"], "service", svc)
	field, side := s.str("logs"), s.str("calls")
	switch {
	case (s.m["logs"] == nil) == (s.m["calls"] == nil):
		s.errf(nil, "conformance: give logs (a field every log record carries: %s) or calls (client or server: the calls a service makes or serves, recorded on both sides)",
			strings.Join(policy.Fields, ", "))
	case s.m["logs"] != nil && !policy.IsField(field):
		s.errf(s.m["logs"], "logs: %q is not one of %s", field, strings.Join(policy.Fields, ", "))
	case s.m["calls"] != nil && side != policy.SideClient && side != policy.SideServer:
		s.errf(s.m["calls"], "calls: %q is not one of client, server", side)
	}
	if s.m["target"] == nil {
		s.errf(nil, "conformance: give target, the lowest healthy share (0.99: 99 %% of records or calls)")
	}
	target := s.float("target", 0)
	if target <= 0 || target > 1 {
		s.errf(s.m["target"], "target: a share above 0 and at most 1, got %s", fmtFloat(target))
	}
	if !s.ok {
		return nil
	}
	by := []string{met.Service}
	var totalSel, goodSel, what, among string
	if field != "" {
		totalSel = met.ConformanceLogRecords + matchers(met.Service, svc)
		goodSel = met.ConformanceLogFields + matchers(met.Service, svc, met.Field, field)
		what, among = "log records carry "+field, "the rate of the service's log records"
	} else {
		totalSel = met.ConformanceCalls + matchers(met.Service, svc, met.Side, side)
		goodSel = met.ConformanceCalls + matchers(met.Service, svc, met.Side, side, met.Recorded, policy.RecordedBoth)
		made := map[string]string{policy.SideClient: "makes", policy.SideServer: "serves"}[side]
		what, among = "calls it "+made+" are recorded on both sides", "the rate of calls the service "+made
	}
	b := s.builder(c)
	tr := b.ref("total_rate", sumBy(by, nil, c.rate(totalSel)))
	gr := b.ref("conforming_rate", sumBy(by, nil, c.rate(goodSel)))
	share := b.ref("share", guardedRatio(gr, tr, c.MinRate))
	b.alertOn(nil, c, c.Name, share+" < "+fmtFloat(target), c.For, map[string]string{
		"summary": fmt.Sprintf("%s: {{ $labels.%s }}: {{ $value | humanizePercentage }} of %s, target %s", c.Name, met.Service, what, fmtFloat(target)),
		"description": fmt.Sprintf("rate(%s) / rate(%s) over %s has been {{ $value | humanizePercentage }} for %s, below the target %s. %s",
			goodSel, totalSel, c.Window, c.For, fmtFloat(target), c.lowTrafficNote(among)),
	})
	return b.rules
}
