// Package suggest drafts flow rules from the rollup history: the ratios
// between related flows that stayed stable (an edge's calls per request
// its caller served, the messages a consumer received per message its
// producer sent, one downstream's calls per another's of the same caller)
// and each edge's latency, as a rule file in flowlens shorthand, every
// rule commented with what was observed. `flowlens rules suggest`, the
// console and the API answer from it (through package query); the draft
// is for `flowlens rules check` and a person's review, not to be trusted
// blindly.
//
// The history is cut into windows as long as a rule's rate window
// (default 5m), so the spread observed is the spread the rule will see. A
// window is judged, as the rule judges it, only while the denominator's
// rate is above min_rate.
package suggest

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/rules/rulefile"
	"github.com/flowlens/flowlens/storage"
)

// Options of an analysis. Zero fields take the defaults.
type Options struct {
	// Window is the rules' rate window and the length of the windows the
	// history is cut into (default rulefile.DefaultWindow, 5m).
	Window time.Duration `json:"window_ns"`
	// MinRate is the rules' min_rate: a window is judged only while the
	// denominator's rate is above it (default rulefile.DefaultMinRate).
	MinRate float64 `json:"min_rate"`
	// Sigmas is the tolerance of a ratio in standard deviations of its
	// windows (default 4; the largest deviation seen if that is wider).
	Sigmas float64 `json:"sigmas"`
	// MinBand is the narrowest tolerance relative to the value (default
	// 0.02): the evaluator's windows slide and count calls as they are
	// paired, so even a ratio that never moved in the history's aligned
	// windows wavers by the calls in flight.
	MinBand float64 `json:"min_band"`
	// MinWindows is how many windows must be judged (default 12: an hour
	// of 5-minute windows), MinCoverage the share of the history's
	// windows (default 0.5): a pair judged less often has too little
	// traffic for a rule.
	MinWindows  int     `json:"min_windows"`
	MinCoverage float64 `json:"min_coverage"`
	// LatencyMargin is how far above the slowest window's p99 a latency
	// threshold lies at least (default 1.25), before rounding up to a
	// bound of the latency histogram.
	LatencyMargin float64 `json:"latency_margin"`
	// Max bounds the ratio rules and the latency rules (default 50 each).
	Max int `json:"max"`
}

// DefaultWindow is the rules' rate window unless Options say otherwise.
const DefaultWindow = rulefile.DefaultWindow

func (o *Options) setDefaults() {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MinRate <= 0 {
		o.MinRate = rulefile.DefaultMinRate
	}
	if o.Sigmas <= 0 {
		o.Sigmas = 4
	}
	if o.MinBand <= 0 {
		o.MinBand = 0.02
	}
	if o.MinWindows <= 0 {
		o.MinWindows = 12
	}
	if o.MinCoverage <= 0 {
		o.MinCoverage = 0.5
	}
	if o.LatencyMargin <= 0 {
		o.LatencyMargin = 1.25
	}
	if o.Max <= 0 {
		o.Max = 50
	}
}

// History is what the analysis reads: the edges of [From, To) summed per
// window of Options.Window (storage.EdgeWindows), and optionally the
// services' messaging destinations, to name the queue of a delivery rule.
type History struct {
	From, To time.Time
	Windows  []storage.EdgeWindow
	Topics   []storage.ServiceTopic
}

// Kinds of suggestions.
const (
	KindEdgePerRequest   = "edge per request" // calls on an edge per request its caller served
	KindDelivery         = "delivery"         // messages a consumer received per message sent
	KindSiblings         = "siblings"         // one downstream's calls per another's, same caller
	KindLatency          = "latency"          // a quantile of an edge's latency
	skipTooLittleTraffic = "too little traffic"
	skipUnstable         = "unstable"
	skipTooSlow          = "slower than the histogram"
)

// Flow is one side of a ratio as the rule writes it: an edge ("a->b",
// "*->b"), or messages sent to or received from a destination ("*" any)
// by a service.
type Flow struct {
	Edge     string `json:"edge,omitempty"`
	Sent     string `json:"sent,omitempty"`
	Received string `json:"received,omitempty"`
	Service  string `json:"service,omitempty"`
}

func (f Flow) String() string {
	switch {
	case f.Edge != "":
		return f.Edge
	case f.Sent != "":
		return "messages " + f.Service + " sent to " + anyDest(f.Sent)
	default:
		return "messages " + f.Service + " received from " + anyDest(f.Received)
	}
}

func anyDest(d string) string {
	if d == "*" {
		return "any destination"
	}
	return d
}

// Suggestion is one rule with what was observed.
type Suggestion struct {
	Kind string `json:"kind"`
	Name string `json:"name"` // the alert's name
	// Numerator and Denominator of a ratio rule.
	Numerator   *Flow `json:"numerator,omitempty"`
	Denominator *Flow `json:"denominator,omitempty"`
	// Client and Server of a latency rule, and the side whose histogram
	// it reads (client, or server when no caller records the calls).
	Client string `json:"client,omitempty"`
	Server string `json:"server,omitempty"`
	Side   string `json:"side,omitempty"`

	// Observed over the judged windows: a ratio's value (total numerator
	// over total denominator) and its spread (standard deviation of the
	// windows' values), the lowest and highest window; a latency's mean
	// and spread of the windows' p99, and the slowest.
	Mean    float64 `json:"mean"`
	Spread  float64 `json:"spread"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Windows int     `json:"windows"` // judged
	Of      int     `json:"of"`      // windows in the history
	// Count is the denominator's total (requests or messages), or the
	// requests of a latency rule's edge; Rate its mean per second over the
	// judged windows.
	Count uint64  `json:"count"`
	Rate  float64 `json:"rate"`

	// The rule: a ratio's expected value and tolerance, a latency's
	// quantile and threshold (seconds).
	Expected  float64 `json:"expected,omitempty"`
	Tolerance float64 `json:"tolerance,omitempty"`
	Quantile  float64 `json:"quantile,omitempty"`
	Threshold float64 `json:"threshold_seconds,omitempty"`
}

// Band is the tolerance relative to the expected value: what suggestions
// are ranked by (lower is steadier).
func (s Suggestion) Band() float64 {
	if s.Expected == 0 {
		return math.Inf(1)
	}
	return s.Tolerance / s.Expected
}

// Skipped is a pair that gets no rule, and why.
type Skipped struct {
	Kind   string `json:"kind"`
	What   string `json:"what"`   // "front->rare per request into front"
	Reason string `json:"reason"` // too little traffic, unstable, ...
	Detail string `json:"detail"`
}

// Result is the analysis of a history.
type Result struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Options are those of the analysis, defaults filled in.
	Options Options `json:"options"`
	// Ratios are ranked by Band, then by traffic; Latency by traffic.
	Ratios  []Suggestion `json:"ratios"`
	Latency []Suggestion `json:"latency"`
	Skipped []Skipped    `json:"skipped"`
}

// ratioStats summarises num/den over the judged windows.
type ratioStats struct {
	judged           int
	num, den         float64 // totals over the judged windows
	mean, sd         float64
	min, max, maxDev float64
}

// ratioOf judges the windows where den's rate is above minRate.
func ratioOf(num, den []float64, window time.Duration, minRate float64) ratioStats {
	var st ratioStats
	var values []float64
	limit := minRate * window.Seconds()
	for w := range den {
		if den[w] <= limit {
			continue
		}
		v := num[w] / den[w]
		values = append(values, v)
		st.num += num[w]
		st.den += den[w]
	}
	st.judged = len(values)
	if st.judged == 0 {
		return st
	}
	st.mean = st.num / st.den
	st.min, st.max = math.Inf(1), math.Inf(-1)
	var avg float64
	for _, v := range values {
		avg += v
		st.min, st.max = math.Min(st.min, v), math.Max(st.max, v)
		st.maxDev = math.Max(st.maxDev, math.Abs(v-st.mean))
	}
	avg /= float64(len(values))
	var ss float64
	for _, v := range values {
		ss += (v - avg) * (v - avg)
	}
	if len(values) > 1 {
		st.sd = math.Sqrt(ss / float64(len(values)-1))
	}
	return st
}

// roundUp rounds v up to two significant digits: a tolerance is never
// narrower than what was computed.
func roundUp(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v))-1)
	return digits(math.Ceil(v/p-1e-9)*p, 2)
}

// round4 rounds v to four significant digits.
func round4(v float64) float64 { return digits(v, 4) }

// digits is v with n significant digits, as its shortest decimal: a rule
// file shows 0.087, not 0.08700000000000001.
func digits(v float64, n int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', n, 64), 64)
	return f
}

// camel turns service names into a rule name's part: payment-provider ->
// PaymentProvider; characters an alert name cannot hold are dropped.
func camel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			if up {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	if b.Len() == 0 {
		return "X"
	}
	return b.String()
}

// names hands out unique alert names.
type names map[string]bool

func (n names) unique(base string) string {
	name := base
	for i := 2; n[name]; i++ {
		name = fmt.Sprintf("%s%d", base, i)
	}
	n[name] = true
	return name
}

// sortRatios ranks ratio suggestions: the narrowest band first, then the
// busiest denominator.
func sortRatios(s []Suggestion) {
	sort.SliceStable(s, func(i, j int) bool {
		bi, bj := s[i].Band(), s[j].Band()
		if bi != bj {
			return bi < bj
		}
		if s[i].Rate != s[j].Rate {
			return s[i].Rate > s[j].Rate
		}
		return s[i].Name < s[j].Name
	})
}
