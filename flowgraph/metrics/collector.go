// Package metrics exposes the flow graph in Prometheus format: the service
// graph names Grafana's service-graph views query
// (traces_service_graph_request_total, ..._failed_total, ..._server_seconds,
// ..._client_seconds, ..._unpaired_spans_total; labels client, server,
// connection_type) and flowlens' own flow metrics (messages sent and received
// per destination, retries, breaker states and transitions), all with an
// instance label so several analyzers never collide.
//
// The Collector reads the analyzer's aggregates at scrape time: nothing is
// updated per span, so exposition costs nothing on the hot path.
//
// Every counter and histogram carries a created timestamp (the OpenMetrics
// and Prometheus protobuf "created"/start timestamp): a time at which it was
// still 0. A scraper that ingests it as a zero sample (the rules evaluator
// always does; Prometheus with --enable-feature=created-timestamp-zero-ingestion)
// sees the first increase of a new series, which rate() otherwise misses as
// the series is born at its value, and sees a restart of the analyzer as a
// counter reset even when a counter comes back to exactly its old value.
package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/flowlens/flowlens/conformance/policy"
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/prometheus/client_golang/prometheus"
)

// SelfStats are the analyzer's own counters.
type SelfStats struct {
	Spans         uint64
	Outcomes      map[string]uint64 // by pairing outcome
	StoreItems    int
	StoreCapacity int
	Edges         int
	FoldedEdges   uint64
	NamesOverflow uint64
	// What the bounds on untrusted names dropped or cut.
	EvictedEdges    uint64
	Names           int
	NamesTruncated  uint64
	NamesEvicted    uint64
	Breakers        int
	BreakersDropped uint64
	BreakersEvicted uint64
}

// Source is what the Collector reads; flowgraph.Analyzer implements it.
// Every method must be safe for concurrent use.
type Source interface {
	Edges() []edges.Edge
	Breakers() []breaker.Status
	SelfStats() SelfStats
	// Started is when every counter was 0.
	Started() time.Time
}

// LogPolicySource is a Source that also counts, per service, the log
// records it read and those carrying each field of the logging policy
// (conformance/policy); flowgraph.Analyzer is one. The Collector then
// exposes them as flowlens_conformance_log_records_total and
// flowlens_conformance_log_records_with_total.
type LogPolicySource interface {
	LogPolicy() map[string]extract.LogPolicyCounts
}

// Options configure a Collector.
type Options struct {
	// Instance labels every series, so several analyzers never collide.
	Instance string
	// Now is the clock of the created timestamps; nil: time.Now.
	Now func() time.Time
}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src Source
	now func() time.Time

	// mu serialises Collect: created timestamps come from the order of
	// collections.
	mu sync.Mutex
	// zeroAt is the created timestamp of every series that appears at the
	// next Collect: just after the last Collect read the source (at first:
	// when the source started). A series that Collect did not see was 0
	// then, at most one scrape interval before its first count, so the zero
	// sample falls inside rate() windows. It is 1 ms after the read so that
	// the zero of a series that comes back (a restarted analyzer scraped by
	// a scraper that kept running) falls after the stale marker the scraper
	// wrote, at its own timestamp in ms, when the read did not see it.
	zeroAt time.Time
	// created holds the created timestamp of every counter series the last
	// Collect emitted; seen collects them during a Collect. A series that
	// vanishes and comes back starts again from 0 with a new timestamp.
	created, seen map[seriesKey]time.Time

	requests, failed, unpaired, retries      *prometheus.Desc
	serverSec, clientSec, messagingSec       *prometheus.Desc
	sent, received                           *prometheus.Desc
	brkState, brkTransitions                 *prometheus.Desc
	spans, outcomes, items, capacity, edgesN *prometheus.Desc
	folded, namesOverflow                    *prometheus.Desc
	edgesEvicted, names, namesTruncated      *prometheus.Desc
	namesEvicted, breakers, breakersDropped  *prometheus.Desc
	breakersEvicted                          *prometheus.Desc
	logRecords, logFields, calls             *prometheus.Desc
}

// seriesKey is a series of the Collector: its descriptor and label values
// (at most three).
type seriesKey struct {
	d       *prometheus.Desc
	a, b, c string
}

// New returns a collector over src.
func New(src Source, opt Options) *Collector {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	cl := prometheus.Labels{"instance": opt.Instance}
	edge := []string{"client", "server", "connection_type"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, cl)
	}
	return &Collector{
		src:            src,
		now:            opt.Now,
		zeroAt:         src.Started(),
		created:        map[seriesKey]time.Time{},
		seen:           map[seriesKey]time.Time{},
		requests:       d("traces_service_graph_request_total", "Requests between two nodes (paired spans, or a span and a virtual node).", edge...),
		failed:         d("traces_service_graph_request_failed_total", "Requests between two nodes with status ERROR on either side.", edge...),
		unpaired:       d("traces_service_graph_unpaired_spans_total", "Spans whose other side never arrived within the wait (one side is a virtual node).", edge...),
		serverSec:      d("traces_service_graph_request_server_seconds", "Server-side (or consumer-side) duration of requests between two nodes.", edge...),
		clientSec:      d("traces_service_graph_request_client_seconds", "Client-side (or producer-side) duration of requests between two nodes.", edge...),
		messagingSec:   d("traces_service_graph_request_messaging_system_seconds", "Time from the producer span start to the consumer span start.", edge...),
		retries:        d("flowlens_flow_retries_total", "Client spans that were retry attempts (http.request.resend_count > 0 or the configured retry attribute).", edge...),
		sent:           d("flowlens_flow_messages_sent_total", "Messages sent (producer spans) by a service to a destination.", "service", "destination"),
		received:       d("flowlens_flow_messages_received_total", "Messages received (consumer spans, one per link) by a service from a destination.", "service", "destination"),
		brkState:       d("flowlens_breaker_state", "1 for the current state of a circuit breaker, 0 for the others; every state is emitted.", "service", "target", "state"),
		brkTransitions: d("flowlens_breaker_transitions_total", "Transitions of a circuit breaker into a state.", "service", "target", "state"),
		spans:          d("flowlens_flowgraph_spans_total", "Spans consumed by the flow analyzer."),
		outcomes:       d("flowlens_flowgraph_span_outcomes_total", "What happened to spans in the pairing store, by outcome (expired and evicted halves are counted, never silently lost).", "outcome"),
		items:          d("flowlens_flowgraph_store_items", "Halves waiting in the pairing store."),
		capacity:       d("flowlens_flowgraph_store_capacity", "Maximum halves the pairing store holds."),
		edgesN:         d("flowlens_flowgraph_edges", "Edge aggregates held in memory (summed over shards; an edge seen by two shards counts twice)."),
		folded:         d("flowlens_flowgraph_folded_observations_total", "Observations folded into the __overflow__ edge because max_edges was reached."),
		namesOverflow:  d("flowlens_flowgraph_names_overflow_total", "Names mapped to __overflow__ because max_names was reached."),
		edgesEvicted:   d("flowlens_flowgraph_edges_evicted_total", "Edges removed from memory after max_idle without a call (their rollups stay in storage)."),
		names:          d("flowlens_flowgraph_names", "Names (services, peers, destinations) held in memory."),
		namesTruncated: d("flowlens_flowgraph_names_truncated_total", "Names longer than max_name_bytes, cut (counted per occurrence)."),
		namesEvicted:   d("flowlens_flowgraph_names_evicted_total", "Names removed from memory once no edge or waiting span referred to them."),
		breakers:       d("flowlens_flowgraph_breakers", "Circuit breakers tracked in memory."),
		breakersDropped: d("flowlens_flowgraph_breaker_observations_dropped_total",
			"Breaker observations dropped because max_breakers breakers were tracked already."),
		breakersEvicted: d("flowlens_flowgraph_breakers_evicted_total", "Circuit breakers forgotten after max_idle without an observation."),
		logRecords:      d("flowlens_conformance_log_records_total", "Log records of a service read from the log stream.", "service"),
		logFields: d("flowlens_conformance_log_records_with_total",
			"Log records of a service that carry a field of the logging policy: service_name, instance, timestamp, severity, trace_id.", "service", "field"),
		calls: d("flowlens_conformance_calls_total",
			"Calls a service made (side client: client and producer spans) or served (side server), recorded on both sides (recorded both) or on its side only (one_side: an uninstrumented peer, or a call its caller did not record). Database calls and root requests are not counted.",
			"service", "side", "recorded"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.failed, c.unpaired, c.serverSec, c.clientSec, c.messagingSec,
		c.retries, c.sent, c.received, c.brkState, c.brkTransitions, c.spans, c.outcomes, c.items, c.capacity,
		c.edgesN, c.folded, c.namesOverflow, c.edgesEvicted, c.names, c.namesTruncated, c.namesEvicted,
		c.breakers, c.breakersDropped, c.breakersEvicted, c.logRecords, c.logFields, c.calls} {
		ch <- d
	}
}

type edgeKey struct{ client, server, conn string }

type flowKey struct{ service, dest string }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// read the clock before the source: what the source does not hold yet
	// was 0 then
	readAt := c.now()

	// the service-graph series have no destination label: merge edges that
	// differ only by destination
	byEdge := map[edgeKey]*edges.Counters{}
	var order []edgeKey
	sent, recv := map[flowKey]uint64{}, map[flowKey]uint64{}
	for _, e := range c.src.Edges() {
		k := edgeKey{e.Client, e.Server, e.Conn.String()}
		if acc, ok := byEdge[k]; ok {
			acc.Add(&e.Counters)
		} else {
			cp := e.Counters
			byEdge[k] = &cp
			order = append(order, k)
		}
		if e.Sent > 0 {
			sent[flowKey{e.Client, e.Destination}] += e.Sent
		}
		if e.Received > 0 {
			recv[flowKey{e.Server, e.Destination}] += e.Received
		}
	}
	for _, k := range order {
		e := byEdge[k]
		lv := []string{k.client, k.server, k.conn}
		ch <- c.counter(c.requests, e.Requests, lv...)
		ch <- c.counter(c.failed, e.Failed, lv...)
		if e.Unpaired > 0 {
			ch <- c.counter(c.unpaired, e.Unpaired, lv...)
		}
		if e.Retries > 0 {
			ch <- c.counter(c.retries, e.Retries, lv...)
		}
		if e.ServerLatency.Count > 0 {
			ch <- c.histogram(c.serverSec, &e.ServerLatency, edges.LatencyBounds, lv)
		}
		if e.ClientLatency.Count > 0 {
			ch <- c.histogram(c.clientSec, &e.ClientLatency, edges.LatencyBounds, lv)
		}
		if e.Delay.Count > 0 {
			ch <- c.histogram(c.messagingSec, &e.Delay, edges.DelayBounds, lv)
		}
	}
	c.emitFlows(ch, c.sent, sent)
	c.emitFlows(ch, c.received, recv)
	c.emitConformance(ch, order, byEdge)

	for _, b := range c.src.Breakers() {
		for _, s := range breaker.States {
			v := 0.0
			if b.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.brkState, prometheus.GaugeValue, v, b.Service, b.Target, s.String())
			ch <- c.counter(c.brkTransitions, b.Transitions[s], b.Service, b.Target, s.String())
		}
	}

	st := c.src.SelfStats()
	ch <- c.counter(c.spans, st.Spans)
	outs := make([]string, 0, len(st.Outcomes))
	for k := range st.Outcomes {
		outs = append(outs, k)
	}
	sort.Strings(outs)
	for _, k := range outs {
		ch <- c.counter(c.outcomes, st.Outcomes[k], k)
	}
	ch <- prometheus.MustNewConstMetric(c.items, prometheus.GaugeValue, float64(st.StoreItems))
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(st.StoreCapacity))
	ch <- prometheus.MustNewConstMetric(c.edgesN, prometheus.GaugeValue, float64(st.Edges))
	ch <- c.counter(c.folded, st.FoldedEdges)
	ch <- c.counter(c.namesOverflow, st.NamesOverflow)
	ch <- c.counter(c.edgesEvicted, st.EvictedEdges)
	ch <- c.counter(c.namesTruncated, st.NamesTruncated)
	ch <- c.counter(c.namesEvicted, st.NamesEvicted)
	ch <- c.counter(c.breakersDropped, st.BreakersDropped)
	ch <- c.counter(c.breakersEvicted, st.BreakersEvicted)
	ch <- prometheus.MustNewConstMetric(c.names, prometheus.GaugeValue, float64(st.Names))
	ch <- prometheus.MustNewConstMetric(c.breakers, prometheus.GaugeValue, float64(st.Breakers))

	c.created, c.seen = c.seen, c.created
	clear(c.seen)
	c.zeroAt = readAt.Add(time.Millisecond)
}

// createdAt returns the created timestamp of a counter series and marks it
// seen. The caller holds c.mu.
func (c *Collector) createdAt(d *prometheus.Desc, lv []string) time.Time {
	k := seriesKey{d: d}
	switch len(lv) {
	case 3:
		k.c = lv[2]
		fallthrough
	case 2:
		k.b = lv[1]
		fallthrough
	case 1:
		k.a = lv[0]
	}
	ct, ok := c.created[k]
	if !ok {
		ct = c.zeroAt
	}
	c.seen[k] = ct
	return ct
}

func (c *Collector) counter(d *prometheus.Desc, v uint64, lv ...string) prometheus.Metric {
	return prometheus.MustNewConstMetricWithCreatedTimestamp(d, prometheus.CounterValue, float64(v), c.createdAt(d, lv), lv...)
}

// emitConformance emits the logging policy's counters: calls recorded on
// both sides, from the edges (nothing is counted per span for them), and
// the log records' fields when the source counts them.
func (c *Collector) emitConformance(ch chan<- prometheus.Metric, order []edgeKey, byEdge map[edgeKey]*edges.Counters) {
	type callKey struct{ service, side, recorded string }
	calls := map[callKey]uint64{}
	var callOrder []callKey
	for _, k := range order {
		e := byEdge[k]
		for _, cc := range policy.EdgeCalls(k.client, k.server, k.conn, e.Requests, e.ClientLatency.Count, e.ServerLatency.Count, e.Sent+e.Received > 0) {
			ck := callKey{cc.Service, cc.Side, cc.Recorded}
			if _, ok := calls[ck]; !ok {
				callOrder = append(callOrder, ck)
			}
			calls[ck] += cc.Calls
		}
	}
	for _, ck := range callOrder {
		ch <- c.counter(c.calls, calls[ck], ck.service, ck.side, ck.recorded)
	}
	ls, ok := c.src.(LogPolicySource)
	if !ok {
		return
	}
	counts := ls.LogPolicy()
	services := make([]string, 0, len(counts))
	for svc := range counts {
		services = append(services, svc)
	}
	sort.Strings(services)
	for _, svc := range services {
		n := counts[svc]
		ch <- c.counter(c.logRecords, n.Records, svc)
		for _, f := range []struct {
			field string
			v     uint64
		}{{policy.FieldServiceName, n.ServiceName}, {policy.FieldInstance, n.Instance}, {policy.FieldTimestamp, n.Timestamp},
			{policy.FieldSeverity, n.Severity}, {policy.FieldTraceID, n.TraceID}} {
			ch <- c.counter(c.logFields, f.v, svc, f.field)
		}
	}
}

func (c *Collector) emitFlows(ch chan<- prometheus.Metric, d *prometheus.Desc, m map[flowKey]uint64) {
	for k, v := range m {
		ch <- c.counter(d, v, k.service, k.dest)
	}
}

func (c *Collector) histogram(d *prometheus.Desc, h *edges.Histogram, bounds []float64, lv []string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	return prometheus.MustNewConstHistogramWithCreatedTimestamp(d, h.Count, float64(h.SumNs)/1e9, buckets, c.createdAt(d, lv), lv...)
}
