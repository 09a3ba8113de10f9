package suggest

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/storage"
)

// pair is a client and a server, whatever the connection type.
type pair struct{ client, server string }

func (p pair) String() string { return p.client + "->" + p.server }

// latencyWindows are an edge's per-window p99 on one side and the count
// of calls it was computed from.
type latencyWindows struct {
	p99   []float64 // seconds
	count []float64
}

// series are the history's counts per window.
type series struct {
	n int // windows
	// calls on each client-server pair, messaging edges and the edges of
	// dropped messages left out (their flows are the delivery ratios')
	calls map[pair][]float64
	// inbound is every call a service served, as *->server counts them
	inbound map[string][]float64
	// sent by each producer, received by each consumer (in total and from
	// each producer)
	sent, received map[string][]float64
	receivedFrom   map[pair][]float64
	// dropped are the messages a producer sent that nobody received, on
	// the edge to the destination they were sent to
	dropped map[pair][]float64
	// latency of each pair on the server and on the client side
	server, client map[pair]*latencyWindows
	// pairs in first-seen order, so that ties rank the same every time
	order []pair
}

func (s *series) of(m map[string][]float64, k string) []float64 {
	v := m[k]
	if v == nil {
		v = make([]float64, s.n)
		m[k] = v
	}
	return v
}

func (s *series) ofPair(m map[pair][]float64, k pair) []float64 {
	v := m[k]
	if v == nil {
		v = make([]float64, s.n)
		m[k] = v
	}
	return v
}

func (s *series) latency(m map[pair]*latencyWindows, k pair) *latencyWindows {
	l := m[k]
	if l == nil {
		l = &latencyWindows{p99: make([]float64, s.n), count: make([]float64, s.n)}
		m[k] = l
	}
	return l
}

// windows cuts [from, to) into windows of the given length, aligned as the
// engine aligns steps (multiples of the window since the epoch): from is
// rounded up and to down, so every window is whole.
func windows(from, to time.Time, window time.Duration) (first time.Time, n int) {
	first = from.UTC().Truncate(window)
	if first.Before(from) {
		first = first.Add(window)
	}
	last := to.UTC().Truncate(window)
	if !last.After(first) {
		return first, 0
	}
	return first, int(last.Sub(first) / window)
}

// build reads the history into per-window series.
func build(h History, window time.Duration) *series {
	first, n := windows(h.From, h.To, window)
	s := &series{n: n, calls: map[pair][]float64{}, inbound: map[string][]float64{}, sent: map[string][]float64{},
		received: map[string][]float64{}, receivedFrom: map[pair][]float64{}, dropped: map[pair][]float64{}, server: map[pair]*latencyWindows{},
		client: map[pair]*latencyWindows{}}
	seen := map[pair]bool{}
	for i := range h.Windows {
		p := &h.Windows[i]
		w := int(p.Time.UTC().Sub(first) / window)
		if p.Time.Before(first) || w >= n {
			continue
		}
		k := pair{p.Client, p.Server}
		s.of(s.inbound, p.Server)[w] += float64(p.Requests)
		if p.MessagesSent > 0 {
			s.of(s.sent, p.Client)[w] += float64(p.MessagesSent)
		}
		if p.MessagesReceived > 0 {
			s.of(s.received, p.Server)[w] += float64(p.MessagesReceived)
		}
		if p.ConnectionType == flowmodel.ConnectionMessaging {
			s.ofPair(s.receivedFrom, k)[w] += float64(p.MessagesReceived)
			continue
		}
		if p.ConnectionType == flowmodel.ConnectionVirtual && p.MessagesSent > 0 {
			s.ofPair(s.dropped, k)[w] += float64(p.MessagesSent)
		}
		if p.MessagesSent > 0 || p.MessagesReceived > 0 || p.Client == "user" {
			continue // dropped messages, consumers without a producer, root requests
		}
		if !seen[k] {
			seen[k] = true
			s.order = append(s.order, k)
		}
		s.ofPair(s.calls, k)[w] += float64(p.Requests)
		// every edge of the pair carries the pair's latency
		if p.ClientCalls > 0 {
			l := s.latency(s.client, k)
			l.count[w], l.p99[w] = float64(p.ClientCalls), p.ClientP99
		}
		if p.ServerCalls > 0 {
			l := s.latency(s.server, k)
			l.count[w], l.p99[w] = float64(p.ServerCalls), p.ServerP99
		}
	}
	return s
}

// Analyze drafts the rules the history supports.
func Analyze(h History, opts Options) Result {
	opts.setDefaults()
	s := build(h, opts.Window)
	res := Result{From: h.From, To: h.To, Options: opts, Ratios: []Suggestion{}, Latency: []Suggestion{}, Skipped: []Skipped{}}
	a := &analysis{opts: opts, s: s, res: &res, names: names{}, topics: destinations(h.Topics)}
	a.edgesPerRequest()
	a.deliveries()
	a.siblings()
	a.latencies()
	sortRatios(res.Ratios)
	sort.SliceStable(res.Latency, func(i, j int) bool { return res.Latency[i].Rate > res.Latency[j].Rate })
	if len(res.Ratios) > opts.Max {
		res.Ratios = res.Ratios[:opts.Max]
	}
	if len(res.Latency) > opts.Max {
		res.Latency = res.Latency[:opts.Max]
	}
	return res
}

type analysis struct {
	opts   Options
	s      *series
	res    *Result
	names  names
	topics topicIndex
	// band of each edge's ratio per request, for the siblings
	edgeBand map[pair]float64
}

// ratio judges num/den and adds the suggestion, or says why not. It
// returns the suggestion's band (+Inf when none).
func (a *analysis) ratio(kind, what, name string, num, den []float64, nf, df Flow) float64 {
	st := ratioOf(num, den, a.opts.Window, a.opts.MinRate)
	if st.judged < a.opts.MinWindows || float64(st.judged) < a.opts.MinCoverage*float64(a.s.n) || st.num == 0 {
		detail := fmt.Sprintf("judged in %d of %d windows of %s (the denominator above %g/s in %d; at least %d and half of them needed)",
			st.judged, a.s.n, a.opts.Window, a.opts.MinRate, st.judged, a.opts.MinWindows)
		if st.judged > 0 && st.num == 0 {
			detail = "the numerator never happened while the denominator did"
		}
		a.res.Skipped = append(a.res.Skipped, Skipped{Kind: kind, What: what, Reason: skipTooLittleTraffic, Detail: detail})
		return math.Inf(1)
	}
	if numRate := st.num / (float64(st.judged) * a.opts.Window.Seconds()); numRate <= a.opts.MinRate {
		a.res.Skipped = append(a.res.Skipped, Skipped{Kind: kind, What: what, Reason: skipTooLittleTraffic,
			Detail: fmt.Sprintf("%s happens %.3g/s, at most min_rate %g/s: one call more or less swings the ratio", nf, numRate, a.opts.MinRate)})
		return math.Inf(1)
	}
	tol := a.tolerance(st)
	if tol >= st.mean {
		a.res.Skipped = append(a.res.Skipped, Skipped{Kind: kind, What: what, Reason: skipUnstable,
			Detail: fmt.Sprintf("%.4g ± %.4g (standard deviation) over %d windows, from %.4g to %.4g: a band of ± %.4g would reach 0, so a flow that stops would not fire",
				st.mean, st.sd, st.judged, st.min, st.max, tol)})
		return math.Inf(1)
	}
	sg := Suggestion{Kind: kind, Name: a.names.unique(name), Numerator: &nf, Denominator: &df,
		Mean: st.mean, Spread: st.sd, Min: st.min, Max: st.max, Windows: st.judged, Of: a.s.n,
		Count: uint64(math.Round(st.den)), Rate: st.den / (float64(st.judged) * a.opts.Window.Seconds()),
		Expected: round4(st.mean), Tolerance: tol}
	a.res.Ratios = append(a.res.Ratios, sg)
	return sg.Band()
}

// tolerance is a ratio's: Sigmas standard deviations, the widest
// deviation seen if wider, and at least MinBand of the value.
func (a *analysis) tolerance(st ratioStats) float64 {
	return roundUp(math.Max(math.Max(a.opts.Sigmas*st.sd, st.maxDev), a.opts.MinBand*st.mean))
}

// edgesPerRequest: each edge's calls per request its caller served.
func (a *analysis) edgesPerRequest() {
	a.edgeBand = map[pair]float64{}
	for _, k := range a.s.order {
		in := a.s.inbound[k.client]
		if in == nil {
			continue // the caller serves nothing: nothing to be per
		}
		a.edgeBand[k] = a.ratio(KindEdgePerRequest, k.String()+" per request into "+k.client, camel(k.client)+"To"+camel(k.server)+"PerRequest",
			a.s.calls[k], in, Flow{Edge: k.String()}, Flow{Edge: "*->" + k.client})
	}
}

// deliveries: the messages each consumer received per message sent to the
// destination it reads, where it receives from that producer only (or the
// rule's numerator would count other producers' messages too). Rollups do
// not name destinations: the producer's and consumer's spans do (History
// Topics). A producer that sends to one destination sent everything to it;
// one that sends to several sent to a consumer's destination what that
// consumer received plus what was dropped on the way there (each message
// reaches every consumer of its destination, or none).
func (a *analysis) deliveries() {
	var ks []pair
	for k := range a.s.receivedFrom {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].String() < ks[j].String() })
	consumers := map[string]int{}
	for _, k := range ks {
		consumers[k.client]++
	}
	for _, k := range ks {
		producer, consumer := k.client, k.server
		what := "messages " + consumer + " received per message " + producer + " sent"
		skip := func(reason, detail string) {
			a.res.Skipped = append(a.res.Skipped, Skipped{Kind: KindDelivery, What: what, Reason: reason, Detail: detail})
		}
		if sum(a.s.received[consumer]) != sum(a.s.receivedFrom[k]) {
			skip("several producers", consumer+" receives messages from other producers too: a rule on its receipts would count theirs")
			continue
		}
		sends := a.topics.sends[producer]
		dest := a.topics.shared(producer, consumer)
		den := a.s.sent[producer]
		switch {
		case len(sends) == 1 && dest != "":
		case len(sends) > 1 && dest != "":
			den = make([]float64, a.s.n)
			for w := range den {
				den[w] = a.s.receivedFrom[k][w]
				if d := a.s.dropped[pair{producer, dest}]; d != nil {
					den[w] += d[w]
				}
			}
		case len(sends) == 0 && consumers[producer] == 1 && len(a.droppedBy(producer)) <= 1:
			dest = "*" // one queue, by all the rollups show: any destination counts the same messages
		default:
			skip("destinations unknown", "no spans of "+producer+" and "+consumer+" in storage name the destination between them, and "+
				producer+" sends to several consumers: the rollups cannot tell its destinations apart")
			continue
		}
		base := camel(producer) + "MessagesTo" + camel(consumer)
		if dest != "*" {
			base = camel(dest) + "DeliveryTo" + camel(consumer)
		}
		a.ratio(KindDelivery, what, base, a.s.received[consumer], den,
			Flow{Received: dest, Service: consumer}, Flow{Sent: dest, Service: producer})
	}
}

// droppedBy are the destinations a producer's dropped messages were sent to.
func (a *analysis) droppedBy(producer string) []string {
	var out []string
	for k := range a.s.dropped {
		if k.client == producer {
			out = append(out, k.server)
		}
	}
	return out
}

// siblings: one downstream's calls per another's of the same caller, where
// that is steadier than both against the caller's requests (a caller
// serving several kinds of request in changing proportions calls its
// downstreams in steadier proportion to each other).
func (a *analysis) siblings() {
	by := map[string][]pair{}
	var callers []string
	for _, k := range a.s.order {
		if by[k.client] == nil {
			callers = append(callers, k.client)
		}
		by[k.client] = append(by[k.client], k)
	}
	for _, c := range callers {
		ks := by[c]
		for i := range ks {
			for j := range ks {
				x, y := ks[i], ks[j]
				// the fewer calls over the more: one ratio per pair
				sx, sy := sum(a.s.calls[x]), sum(a.s.calls[y])
				if i == j || sx > sy || (sx == sy && i > j) {
					continue
				}
				st := ratioOf(a.s.calls[x], a.s.calls[y], a.opts.Window, a.opts.MinRate)
				if st.judged == 0 || st.mean == 0 {
					continue
				}
				band := a.tolerance(st) / round4(st.mean)
				if band >= math.Min(a.edgeBand[x], a.edgeBand[y]) {
					continue // no steadier than what the per-request rules watch
				}
				a.ratio(KindSiblings, x.String()+" per "+y.String(), camel(c)+"To"+camel(x.server)+"Per"+camel(y.server),
					a.s.calls[x], a.s.calls[y], Flow{Edge: x.String()}, Flow{Edge: y.String()})
			}
		}
	}
}

// latencies: each edge's p99 threshold, above the slowest window seen, on
// the client side: what the caller waits for (the callee's time, the
// network, queueing), recorded for databases and uninstrumented peers too;
// the server side only where no caller records the calls.
func (a *analysis) latencies() {
	bounds := flowmodel.LatencyBounds
	for _, k := range a.s.order {
		side, l := "client", a.s.client[k]
		if l == nil {
			side, l = "server", a.s.server[k]
		}
		if l == nil {
			continue
		}
		what := "p99 latency of " + k.String()
		limit := a.opts.MinRate * a.opts.Window.Seconds()
		var ps []float64
		var count float64
		for w := range l.count {
			if l.count[w] > limit {
				ps = append(ps, l.p99[w])
				count += l.count[w]
			}
		}
		if len(ps) < a.opts.MinWindows || float64(len(ps)) < a.opts.MinCoverage*float64(a.s.n) {
			a.res.Skipped = append(a.res.Skipped, Skipped{Kind: KindLatency, What: what, Reason: skipTooLittleTraffic,
				Detail: fmt.Sprintf("judged in %d of %d windows of %s", len(ps), a.s.n, a.opts.Window)})
			continue
		}
		var mean, slowest float64
		for _, p := range ps {
			mean += p
			slowest = math.Max(slowest, p)
		}
		mean /= float64(len(ps))
		var ss float64
		for _, p := range ps {
			ss += (p - mean) * (p - mean)
		}
		sd := 0.0
		if len(ps) > 1 {
			sd = math.Sqrt(ss / float64(len(ps)-1))
		}
		want := time.Duration(slowest * a.opts.LatencyMargin * float64(time.Second))
		i := flowmodel.BucketIndex(bounds, want)
		if i >= len(bounds) {
			a.res.Skipped = append(a.res.Skipped, Skipped{Kind: KindLatency, What: what, Reason: skipTooSlow,
				Detail: fmt.Sprintf("the slowest window's p99 is %s; the histogram's largest bound is %s", time.Duration(slowest*1e9), bounds[len(bounds)-1])})
			continue
		}
		a.res.Latency = append(a.res.Latency, Suggestion{Kind: KindLatency, Name: a.names.unique(camel(k.client) + "To" + camel(k.server) + "P99"),
			Client: k.client, Server: k.server, Side: side, Mean: mean, Spread: sd, Min: minOf(ps), Max: slowest,
			Windows: len(ps), Of: a.s.n, Count: uint64(math.Round(count)), Rate: count / (float64(len(ps)) * a.opts.Window.Seconds()),
			Quantile: 0.99, Threshold: bounds[i].Seconds()})
	}
}

func sum(v []float64) float64 {
	var t float64
	for _, x := range v {
		t += x
	}
	return t
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

// topicIndex knows which destinations each service sends to and receives
// from.
type topicIndex struct{ sends, receives map[string][]string }

func destinations(ts []storage.ServiceTopic) topicIndex {
	ix := topicIndex{sends: map[string][]string{}, receives: map[string][]string{}}
	for _, t := range ts {
		if t.Sends {
			ix.sends[t.Service] = append(ix.sends[t.Service], t.Name)
		}
		if t.Receives {
			ix.receives[t.Service] = append(ix.receives[t.Service], t.Name)
		}
	}
	return ix
}

// shared is the destination the producer sends to and the consumer
// receives from, when there is exactly one ("" otherwise).
func (ix topicIndex) shared(producer, consumer string) string {
	found := ""
	for _, s := range ix.sends[producer] {
		for _, r := range ix.receives[consumer] {
			if r == s {
				if found != "" && found != s {
					return ""
				}
				found = s
			}
		}
	}
	return found
}
