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
package metrics

import (
	"sort"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
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
}

// Source is what the Collector reads; flowgraph.Analyzer implements it.
// Every method must be safe for concurrent use.
type Source interface {
	Edges() []edges.Edge
	Breakers() []breaker.Status
	SelfStats() SelfStats
}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src Source

	requests, failed, unpaired, retries      *prometheus.Desc
	serverSec, clientSec, messagingSec       *prometheus.Desc
	sent, received                           *prometheus.Desc
	brkState, brkTransitions                 *prometheus.Desc
	spans, outcomes, items, capacity, edgesN *prometheus.Desc
	folded, namesOverflow                    *prometheus.Desc
}

// New returns a collector labelling every series with instance.
func New(src Source, instance string) *Collector {
	cl := prometheus.Labels{"instance": instance}
	edge := []string{"client", "server", "connection_type"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, cl)
	}
	return &Collector{
		src:            src,
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
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.failed, c.unpaired, c.serverSec, c.clientSec, c.messagingSec,
		c.retries, c.sent, c.received, c.brkState, c.brkTransitions, c.spans, c.outcomes, c.items, c.capacity,
		c.edgesN, c.folded, c.namesOverflow} {
		ch <- d
	}
}

type edgeKey struct{ client, server, conn string }

type flowKey struct{ service, dest string }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
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
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(e.Requests), lv...)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(e.Failed), lv...)
		if e.Unpaired > 0 {
			ch <- prometheus.MustNewConstMetric(c.unpaired, prometheus.CounterValue, float64(e.Unpaired), lv...)
		}
		if e.Retries > 0 {
			ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(e.Retries), lv...)
		}
		if e.ServerLatency.Count > 0 {
			ch <- constHistogram(c.serverSec, &e.ServerLatency, edges.LatencyBounds, lv)
		}
		if e.ClientLatency.Count > 0 {
			ch <- constHistogram(c.clientSec, &e.ClientLatency, edges.LatencyBounds, lv)
		}
		if e.Delay.Count > 0 {
			ch <- constHistogram(c.messagingSec, &e.Delay, edges.DelayBounds, lv)
		}
	}
	emitFlows(ch, c.sent, sent)
	emitFlows(ch, c.received, recv)

	for _, b := range c.src.Breakers() {
		for _, s := range breaker.States {
			v := 0.0
			if b.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.brkState, prometheus.GaugeValue, v, b.Service, b.Target, s.String())
			ch <- prometheus.MustNewConstMetric(c.brkTransitions, prometheus.CounterValue, float64(b.Transitions[s]), b.Service, b.Target, s.String())
		}
	}

	st := c.src.SelfStats()
	ch <- prometheus.MustNewConstMetric(c.spans, prometheus.CounterValue, float64(st.Spans))
	outs := make([]string, 0, len(st.Outcomes))
	for k := range st.Outcomes {
		outs = append(outs, k)
	}
	sort.Strings(outs)
	for _, k := range outs {
		ch <- prometheus.MustNewConstMetric(c.outcomes, prometheus.CounterValue, float64(st.Outcomes[k]), k)
	}
	ch <- prometheus.MustNewConstMetric(c.items, prometheus.GaugeValue, float64(st.StoreItems))
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(st.StoreCapacity))
	ch <- prometheus.MustNewConstMetric(c.edgesN, prometheus.GaugeValue, float64(st.Edges))
	ch <- prometheus.MustNewConstMetric(c.folded, prometheus.CounterValue, float64(st.FoldedEdges))
	ch <- prometheus.MustNewConstMetric(c.namesOverflow, prometheus.CounterValue, float64(st.NamesOverflow))
}

func emitFlows(ch chan<- prometheus.Metric, d *prometheus.Desc, m map[flowKey]uint64) {
	for k, v := range m {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), k.service, k.dest)
	}
}

func constHistogram(d *prometheus.Desc, h *edges.Histogram, bounds []float64, lv []string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, float64(h.SumNs)/1e9, buckets, lv...)
}
