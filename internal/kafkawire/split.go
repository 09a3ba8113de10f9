package kafkawire

import (
	"encoding/hex"
	"fmt"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/internal/otlpwire"
)

// Encoder builds Kafka messages from pdata the way the OTel Collector kafka
// exporter does with partition_traces_by_id / partition_logs_by_trace_id:
// one message per trace ID, the resource and scope structure kept, the key
// the lowercase hex trace ID. Produce them with a kafka-go Writer using
// &kafka.Hash{} (Sarama-compatible FNV-1a), so every span of a trace lands on
// one partition whichever producer wrote it.
//
// One departure from the exporter: a CONSUMER span with a span link is keyed
// by its first linked trace ID (its producer's trace, see SpanPartitionID),
// not its own, so the flow analyzer instance that reads the producer's
// partition also reads the consumer and pairs them.
//
// An Encoder keeps scratch space between calls and is not safe for
// concurrent use; use one per goroutine.
type Encoder struct {
	// Encoding of the values; default otlp_proto.
	Encoding Encoding
	// PartitionByTraceID splits requests into one message per trace ID. When
	// false, each request becomes one message with an empty key (round
	// robin with the Hash balancer).
	PartitionByTraceID bool

	byID   map[pcommon.TraceID]int
	traces []traceGroup
	logs   []logGroup
	wire   wireSplitter
}

// group is the part of a request under one partition ID, built in pdata:
// D is the request type, R its resource and S its record slice.
type group[D, R, S any] struct {
	id        pcommon.TraceID
	req       D
	lastRes   int
	lastScope int
	recs      S
	res       R
}

type (
	traceGroup = group[ptrace.Traces, ptrace.ResourceSpans, ptrace.SpanSlice]
	logGroup   = group[plog.Logs, plog.ResourceLogs, plog.LogRecordSlice]
)

func (e *Encoder) reset() {
	if e.byID == nil {
		e.byID = make(map[pcommon.TraceID]int, 64)
	}
	clear(e.byID)
}

// AppendTraceMessages appends the messages of td to dst. td is handed over:
// with PartitionByTraceID and otlp_json its spans are moved out. With
// otlp_proto, td is marshalled once and the bytes are split by trace ID
// (no pdata copy); the values of one call share one backing array.
func (e *Encoder) AppendTraceMessages(dst []kafka.Message, td ptrace.Traces) ([]kafka.Message, error) {
	if td.SpanCount() == 0 {
		return dst, nil
	}
	return appendPdata(e, dst, td, "traces", MarshalTraces, (*Encoder).AppendTraceMessagesProto,
		singleTraceID, (*Encoder).splitTraces)
}

// AppendTraceMessagesProto appends the messages of b, an
// ExportTraceServiceRequest already in otlp_proto (and already validated:
// see otlpwire.ValidateTraces), split by trace ID when PartitionByTraceID
// is set. No pdata: the bytes are cut in place. The values may alias b.
func (e *Encoder) AppendTraceMessagesProto(dst []kafka.Message, b []byte) ([]kafka.Message, error) {
	return e.appendProto(dst, b, otlpwire.SpanTraceID)
}

// AppendLogMessagesProto is AppendTraceMessagesProto for an
// ExportLogsServiceRequest.
func (e *Encoder) AppendLogMessagesProto(dst []kafka.Message, b []byte) ([]kafka.Message, error) {
	return e.appendProto(dst, b, otlpwire.LogRecordTraceID)
}

// appendProto splits request b by the trace ID in field traceIDField of
// its records, or keeps it whole.
func (e *Encoder) appendProto(dst []kafka.Message, b []byte, traceIDField otlpwire.Tag) ([]kafka.Message, error) {
	if !e.PartitionByTraceID {
		return append(dst, kafka.Message{Value: b}), nil
	}
	e.wire.splitBy(traceIDField)
	return e.appendWireSplit(dst, b)
}

// SplitTracesByID splits td into one Traces per partition ID (the trace ID,
// or a consumer's linked trace ID: SpanPartitionID), in order of first
// appearance, moving the spans (td is left with empty spans). Resource and
// scope (with their attributes and schema URLs) are copied into every part
// that has spans under them.
func SplitTracesByID(td ptrace.Traces) []ptrace.Traces {
	var e Encoder
	groups := e.splitTraces(td)
	out := make([]ptrace.Traces, len(groups))
	for i := range groups {
		out[i] = groups[i].req
	}
	return out
}

func (e *Encoder) splitTraces(td ptrace.Traces) []traceGroup {
	e.reset()
	groups := e.traces[:0]
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				id := SpanPartitionID(span)
				gi, ok := e.byID[id]
				if !ok {
					gi = len(groups)
					e.byID[id] = gi
					groups = append(groups, traceGroup{id: id, req: ptrace.NewTraces(), lastRes: -1, lastScope: -1})
				}
				g := &groups[gi]
				if g.lastRes != i {
					g.res = g.req.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(g.res.Resource())
					g.res.SetSchemaUrl(rs.SchemaUrl())
					g.lastRes = i
					g.lastScope = -1
				}
				if g.lastScope != j {
					nss := g.res.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(nss.Scope())
					nss.SetSchemaUrl(ss.SchemaUrl())
					g.recs = nss.Spans()
					g.lastScope = j
				}
				span.MoveTo(g.recs.AppendEmpty())
			}
		}
	}
	e.traces = groups
	return groups
}

// SpanPartitionID is the trace ID a span is keyed by on Kafka: its own, or
// for a CONSUMER span with links the first linked trace ID that is set. The
// messaging conventions put a consumer in a trace of its own, linked to the
// producer's span; keyed by its own trace it would land on another partition
// than its producer, so with several analyzer instances in one group the two
// halves would often be read by different instances and never pair. A batch
// consumer linked to several traces can meet only the first one's producer.
func SpanPartitionID(span ptrace.Span) pcommon.TraceID {
	if span.Kind() == ptrace.SpanKindConsumer {
		links := span.Links()
		for i := 0; i < links.Len(); i++ {
			if id := links.At(i).TraceID(); !id.IsEmpty() {
				return id
			}
		}
	}
	return span.TraceID()
}

func singleTraceID(td ptrace.Traces) (pcommon.TraceID, bool) {
	var first pcommon.TraceID
	seen := false
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				id := SpanPartitionID(spans.At(k))
				if !seen {
					first, seen = id, true
				} else if id != first {
					return first, false
				}
			}
		}
	}
	return first, seen
}

func singleLogTraceID(ld plog.Logs) (pcommon.TraceID, bool) {
	var first pcommon.TraceID
	seen := false
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				id := lrs.At(k).TraceID()
				if !seen {
					first, seen = id, true
				} else if id != first {
					return first, false
				}
			}
		}
	}
	return first, seen
}

// hexKey appends the lowercase hex of id to dst, or returns nil for an
// empty ID with a nil dst.
func hexKey(id pcommon.TraceID, dst []byte) []byte {
	if id.IsEmpty() && dst == nil {
		return nil
	}
	n := len(dst)
	if cap(dst)-n < 32 {
		nd := make([]byte, n, n+32)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:n+32]
	hex.Encode(dst[n:], id[:])
	return dst
}

// AppendLogMessages appends the messages of ld to dst. With
// PartitionByTraceID, records are grouped by trace ID and keyed by it;
// records without a trace ID share one message with an empty key. ld is
// handed over, as in AppendTraceMessages.
func (e *Encoder) AppendLogMessages(dst []kafka.Message, ld plog.Logs) ([]kafka.Message, error) {
	if ld.LogRecordCount() == 0 {
		return dst, nil
	}
	return appendPdata(e, dst, ld, "logs", MarshalLogs, (*Encoder).AppendLogMessagesProto,
		singleLogTraceID, (*Encoder).splitLogs)
}

// appendPdata is AppendTraceMessages and AppendLogMessages, which differ
// only in their request type D and the functions passed (what names the
// signal in errors). It appends the messages of req, which is not empty:
// whole without PartitionByTraceID, split on the wire in otlp_proto, whole
// when it is one trace, else split in pdata and each part marshalled.
func appendPdata[D, R, S any](e *Encoder, dst []kafka.Message, req D, what string,
	marshal func(Encoding, D) ([]byte, error),
	appendProto func(*Encoder, []kafka.Message, []byte) ([]kafka.Message, error),
	singleID func(D) (pcommon.TraceID, bool),
	split func(*Encoder, D) []group[D, R, S],
) ([]kafka.Message, error) {
	if !e.PartitionByTraceID {
		v, err := marshal(e.Encoding, req)
		if err != nil {
			return dst, fmt.Errorf("marshal %s: %w", what, err)
		}
		return append(dst, kafka.Message{Value: v}), nil
	}
	if e.Encoding == EncodingProto || e.Encoding == "" {
		v, err := marshal(EncodingProto, req)
		if err != nil {
			return dst, fmt.Errorf("marshal %s: %w", what, err)
		}
		return appendProto(e, dst, v)
	}
	// Fast path: the whole request is one trace, no copy at all.
	if id, single := singleID(req); single {
		v, err := marshal(e.Encoding, req)
		if err != nil {
			return dst, fmt.Errorf("marshal %s: %w", what, err)
		}
		return append(dst, kafka.Message{Key: hexKey(id, nil), Value: v}), nil
	}
	groups := split(e, req)
	// Zeroed on the way out, so that req's memory can go.
	defer clear(groups)
	keys := make([]byte, 0, 32*len(groups))
	for i := range groups {
		g := &groups[i]
		v, err := marshal(e.Encoding, g.req)
		if err != nil {
			return dst, fmt.Errorf("marshal %s: %w", what, err)
		}
		var key []byte
		if !g.id.IsEmpty() {
			start := len(keys)
			keys = hexKey(g.id, keys)
			key = keys[start:len(keys):len(keys)]
		}
		dst = append(dst, kafka.Message{Key: key, Value: v})
	}
	return dst, nil
}

func (e *Encoder) splitLogs(ld plog.Logs) []logGroup {
	e.reset()
	groups := e.logs[:0]
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				id := lr.TraceID()
				gi, ok := e.byID[id]
				if !ok {
					gi = len(groups)
					e.byID[id] = gi
					groups = append(groups, logGroup{id: id, req: plog.NewLogs(), lastRes: -1, lastScope: -1})
				}
				g := &groups[gi]
				if g.lastRes != i {
					g.res = g.req.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(g.res.Resource())
					g.res.SetSchemaUrl(rl.SchemaUrl())
					g.lastRes = i
					g.lastScope = -1
				}
				if g.lastScope != j {
					nsl := g.res.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(nsl.Scope())
					nsl.SetSchemaUrl(sl.SchemaUrl())
					g.recs = nsl.LogRecords()
					g.lastScope = j
				}
				lr.MoveTo(g.recs.AppendEmpty())
			}
		}
	}
	e.logs = groups
	return groups
}

// appendWireSplit splits a marshalled request by trace ID into messages.
func (e *Encoder) appendWireSplit(dst []kafka.Message, buf []byte) ([]kafka.Message, error) {
	n, err := e.wire.scan(buf)
	if err != nil {
		return dst, fmt.Errorf("split by trace ID: %w", err)
	}
	if n <= 1 {
		var key []byte
		if n == 1 {
			key = hexKey(e.wire.groups[0].id, nil)
		}
		return append(dst, kafka.Message{Key: key, Value: buf}), nil
	}
	total, keyed := 0, 0
	for gi := range e.wire.groups {
		g := &e.wire.groups[gi]
		g.size = e.wire.sizeGroup(gi)
		total += g.size
		if !g.id.IsEmpty() {
			keyed++
		}
	}
	values := make([]byte, 0, total)
	keys := make([]byte, 0, 32*keyed)
	for gi := range e.wire.groups {
		g := &e.wire.groups[gi]
		e.wire.sizeGroup(gi)
		start := len(values)
		values = e.wire.appendGroup(values, buf, gi)
		if len(values)-start != g.size {
			return dst, fmt.Errorf("split by trace ID: part %d is %d bytes, computed %d", gi, len(values)-start, g.size)
		}
		var key []byte
		if !g.id.IsEmpty() {
			ks := len(keys)
			keys = hexKey(g.id, keys)
			key = keys[ks:len(keys):len(keys)]
		}
		dst = append(dst, kafka.Message{Key: key, Value: values[start:len(values):len(values)]})
	}
	return dst, nil
}
