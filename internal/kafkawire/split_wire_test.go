package kafkawire

import (
	"bytes"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/otlpwire"
)

// The byte-level splitter must produce exactly what splitting the pdata
// objects produces.
func TestWireSplitMatchesPdataSplit(t *testing.T) {
	for _, tc := range []struct {
		n, perTrace int
		consumers   bool // with linkedConsumers' producer and consumer spans
	}{{1, 1, false}, {10, 1, false}, {100, 3, false}, {500, 7, false}, {64, 64, false}, {100, 3, true}} {
		td := wiretest.Traces(0, tc.n, tc.perTrace)
		if tc.consumers {
			linkedConsumers().ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		td.ResourceSpans().At(0).SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		td.ResourceSpans().At(0).ScopeSpans().At(0).SetSchemaUrl("https://example.com/scope")
		td.ResourceSpans().At(0).ScopeSpans().At(0).Scope().Attributes().PutStr("k", "v")
		ref := ptrace.NewTraces()
		td.CopyTo(ref)

		enc := Encoder{PartitionByTraceID: true}
		msgs, err := enc.AppendTraceMessages(nil, td)
		if err != nil {
			t.Fatal(err)
		}
		want := SplitTracesByID(ref)
		if len(msgs) != len(want) {
			t.Fatalf("n=%d: %d wire parts, %d pdata parts", tc.n, len(msgs), len(want))
		}
		var jm ptrace.JSONMarshaler
		for i := range msgs {
			got, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(msgs[i].Value)
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			a, _ := jm.MarshalTraces(got)
			b, _ := jm.MarshalTraces(want[i])
			if !bytes.Equal(a, b) {
				t.Fatalf("n=%d part %d differs:\nwire  %s\npdata %s", tc.n, i, a, b)
			}
		}
	}
}

func TestWireSplitLogsMatchesPdataSplit(t *testing.T) {
	ld := wiretest.Logs(0, 301)
	ref := plog.NewLogs()
	ld.CopyTo(ref)
	wire := Encoder{PartitionByTraceID: true}
	msgs, err := wire.AppendLogMessages(nil, ld)
	if err != nil {
		t.Fatal(err)
	}
	pd := Encoder{PartitionByTraceID: true, Encoding: EncodingJSON}
	want, err := pd.AppendLogMessages(nil, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d wire parts, %d pdata parts", len(msgs), len(want))
	}
	var jm plog.JSONMarshaler
	for i := range msgs {
		got, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(msgs[i].Value)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := jm.MarshalLogs(got)
		if !bytes.Equal(a, want[i].Value) || !bytes.Equal(msgs[i].Key, want[i].Key) {
			t.Fatalf("part %d differs:\nwire  %s %s\npdata %s %s", i, msgs[i].Key, a, want[i].Key, want[i].Value)
		}
	}
}

// FuzzWireSplit feeds arbitrary requests through the encoder's byte-level
// split, which decides the key and partition of every OTLP request: each
// part holds exactly one partition ID (trace ID, or a consumer's linked one), is keyed by its lowercase hex (no key for
// spans without one), and equals the part the pdata splitter makes.
func FuzzWireSplit(f *testing.F) {
	for _, td := range []ptrace.Traces{wiretest.Traces(0, 2, 2), wiretest.Traces(0, 4, 2), wiretest.Traces(0, 5, 2), wiretest.Traces(0, 30, 4), linkedConsumers(), ptrace.NewTraces()} {
		b, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(in)
		if err != nil {
			return
		}
		var probe wireSplitter
		probe.splitBy(otlpwire.SpanTraceID)
		if _, err := probe.scan(in); err != nil {
			return // refusing is fine (e.g. unknown top-level fields); the agent validates requests first
		}
		enc := Encoder{PartitionByTraceID: true}
		msgs, err := enc.AppendTraceMessagesProto(nil, in)
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		spans := td.SpanCount()
		want := SplitTracesByID(td)
		if spans == 0 {
			// nothing to split: the request goes as it came, without a key
			if len(msgs) > 1 || len(msgs) == 1 && (msgs[0].Key != nil || !bytes.Equal(msgs[0].Value, in)) {
				t.Fatalf("a request without spans became %d messages", len(msgs))
			}
			return
		}
		if len(msgs) != len(want) {
			t.Fatalf("%d wire parts, %d pdata parts", len(msgs), len(want))
		}
		spans -= checkWireParts(t, msgs, want, (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces, spanTraceIDs,
			dropEmptyTraces, ptrace.Traces.SpanCount, (&ptrace.JSONMarshaler{}).MarshalTraces)
		if spans != 0 {
			t.Fatalf("%d spans more before the split than after", spans)
		}
	})
}

// FuzzWireSplitLogs is FuzzWireSplit for log requests, where records
// without a trace ID are one part without a key.
func FuzzWireSplitLogs(f *testing.F) {
	for _, ld := range []plog.Logs{wiretest.Logs(0, 7), wiretest.Logs(3, 40), plog.NewLogs()} {
		b, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(in)
		if err != nil {
			return
		}
		var probe wireSplitter
		probe.splitBy(otlpwire.LogRecordTraceID)
		if _, err := probe.scan(in); err != nil {
			return
		}
		enc := Encoder{PartitionByTraceID: true}
		msgs, err := enc.AppendLogMessagesProto(nil, in)
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		records := ld.LogRecordCount()
		var pd Encoder
		want := pd.splitLogs(ld)
		if records == 0 {
			if len(msgs) > 1 || len(msgs) == 1 && (msgs[0].Key != nil || !bytes.Equal(msgs[0].Value, in)) {
				t.Fatalf("a request without records became %d messages", len(msgs))
			}
			return
		}
		if len(msgs) != len(want) {
			t.Fatalf("%d wire parts, %d pdata parts", len(msgs), len(want))
		}
		parts := make([]plog.Logs, len(want))
		for i := range want {
			parts[i] = want[i].req
		}
		records -= checkWireParts(t, msgs, parts, (&plog.ProtoUnmarshaler{}).UnmarshalLogs, logTraceIDs,
			dropEmptyLogs, plog.Logs.LogRecordCount, (&plog.JSONMarshaler{}).MarshalLogs)
		if records != 0 {
			t.Fatalf("%d records more before the split than after", records)
		}
	})
}

// checkWireParts checks the messages of the byte-level split against
// want, the parts of the pdata split (D is ptrace.Traces or plog.Logs):
// each decodes, holds one partition ID (ids), is keyed by its hex and, its
// resources and scopes without records dropped (dropEmpty), equals its
// pdata part. It returns the records (count) of the parts.
func checkWireParts[D any](t *testing.T, msgs []kafka.Message, want []D, unmarshal func([]byte) (D, error),
	ids func(D) []pcommon.TraceID, dropEmpty func(D), count func(D) int, json func(D) ([]byte, error)) int {
	t.Helper()
	records := 0
	seen := map[pcommon.TraceID]bool{}
	for i, m := range msgs {
		got, err := unmarshal(m.Value)
		if err != nil {
			t.Fatalf("part %d does not decode: %v", i, err)
		}
		ids := ids(got)
		if len(ids) != 1 {
			t.Fatalf("part %d holds %d trace IDs: %v", i, len(ids), ids)
		}
		id := ids[0]
		if seen[id] {
			t.Fatalf("trace %v split over more than one part", id)
		}
		seen[id] = true
		if wantKey := keyOf(id); string(m.Key) != wantKey {
			t.Fatalf("part %d of trace %v has key %q, want %q", i, id, m.Key, wantKey)
		}
		dropEmpty(got) // a request with one trace goes whole, with its resources and scopes without records
		records += count(got)
		a, _ := json(got)
		b, _ := json(want[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("part %d differs:\nwire  %s\npdata %s", i, a, b)
		}
	}
	return records
}

// keyOf is the Kafka key a trace's messages must have: the OTel Collector's
// lowercase hex trace ID, none without one.
func keyOf(id pcommon.TraceID) string {
	if id.IsEmpty() {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// spanTraceIDs lists the distinct partition IDs (SpanPartitionID: the trace
// ID, a consumer's linked trace ID) of td's spans.
func spanTraceIDs(td ptrace.Traces) []pcommon.TraceID {
	var ids []pcommon.TraceID
	for _, span := range wiretest.Spans(td) {
		if id := SpanPartitionID(span); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func logTraceIDs(ld plog.Logs) []pcommon.TraceID {
	var ids []pcommon.TraceID
	for _, lr := range wiretest.LogRecords(ld) {
		if id := lr.TraceID(); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func dropEmptyTraces(td ptrace.Traces) {
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })
		return rs.ScopeSpans().Len() == 0
	})
}

func dropEmptyLogs(ld plog.Logs) {
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool { return sl.LogRecords().Len() == 0 })
		return rl.ScopeLogs().Len() == 0
	})
}

// BenchmarkAppendMessagesProto measures the byte-level split alone, as the
// agent's OTLP receivers run it on requests already in otlp_proto: 512
// spans (about 100 traces) or 512 log records (one trace each).
func BenchmarkAppendMessagesProto(b *testing.B) {
	traces, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(wiretest.Traces(0, 512, 5))
	if err != nil {
		b.Fatal(err)
	}
	logs, err := (&plog.ProtoMarshaler{}).MarshalLogs(wiretest.Logs(0, 512))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		req    []byte
		append func(*Encoder, []kafka.Message, []byte) ([]kafka.Message, error)
	}{
		{"traces", traces, (*Encoder).AppendTraceMessagesProto},
		{"logs", logs, (*Encoder).AppendLogMessagesProto},
	} {
		b.Run(bc.name, func(b *testing.B) {
			enc := Encoder{PartitionByTraceID: true}
			var msgs []kafka.Message
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.req)))
			for b.Loop() {
				if msgs, err = bc.append(&enc, msgs[:0], bc.req); err != nil {
					b.Fatal(err)
				}
			}
			if len(msgs) < 2 {
				b.Fatalf("%d messages: not split", len(msgs))
			}
		})
	}
}

// linkedConsumers is a request of producer and consumer spans: trace 1's
// producer, a consumer in trace 2 linked to it, a consumer in trace 3 whose
// first link has no trace ID and whose second links to trace 1, a
// consumer without links (trace 4) and a server span with a link (trace 5,
// keyed by its own trace: only consumers follow their links).
func linkedConsumers() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	add := func(trace uint64, kind ptrace.SpanKind, links ...pcommon.TraceID) {
		s := spans.AppendEmpty()
		s.SetTraceID(wiretest.TraceID(trace))
		s.SetSpanID(wiretest.SpanID(uint64(spans.Len())))
		s.SetKind(kind)
		s.SetName("op")
		for _, l := range links {
			nl := s.Links().AppendEmpty()
			nl.SetTraceID(l)
			nl.SetSpanID(wiretest.SpanID(1))
		}
	}
	add(1, ptrace.SpanKindProducer)
	add(2, ptrace.SpanKindConsumer, wiretest.TraceID(1))
	add(3, ptrace.SpanKindConsumer, pcommon.TraceID{}, wiretest.TraceID(1))
	add(4, ptrace.SpanKindConsumer)
	add(5, ptrace.SpanKindServer, wiretest.TraceID(1))
	return td
}

// A consumer span in a trace of its own, linked to its producer, travels
// with the producer's trace: same message, same key, same partition, so
// the analyzer instance that reads one reads the other. Both splitters
// (pdata for otlp_json, bytes for otlp_proto) agree.
func TestConsumerSpanKeyedByLinkedTrace(t *testing.T) {
	for _, enc := range []Encoding{EncodingProto, EncodingJSON} {
		e := Encoder{Encoding: enc, PartitionByTraceID: true}
		msgs, err := e.AppendTraceMessages(nil, linkedConsumers())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{} // key -> "trace:kind" of its spans
		for _, m := range msgs {
			td, err := (Decoder{Encoding: enc}).DecodeTraces(m.Value, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range wiretest.Spans(td) {
				got[string(m.Key)] = append(got[string(m.Key)], keyOf(s.TraceID())[:4]+":"+s.Kind().String())
			}
		}
		k := func(n uint64) string { return keyOf(wiretest.TraceID(n)) }
		want := map[string][]string{
			k(1): {k(1)[:4] + ":Producer", k(2)[:4] + ":Consumer", k(3)[:4] + ":Consumer"},
			k(4): {k(4)[:4] + ":Consumer"},
			k(5): {k(5)[:4] + ":Server"},
		}
		if len(got) != len(want) {
			t.Fatalf("%s: messages %v, want %v", enc, got, want)
		}
		for key, w := range want {
			if !slices.Equal(got[key], w) {
				t.Errorf("%s: message %s holds %v, want %v", enc, key, got[key], w)
			}
		}
	}
}
