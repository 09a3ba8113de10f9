package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

func marshalTraces(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attrsSeq is an Attrs column as key/value sequences.
func attrsSeq(col []*Attrs) [][]string {
	out := make([][]string, len(col))
	for i, a := range col {
		if a == nil {
			out[i] = []string{"<nil>"}
			continue
		}
		out[i] = []string{}
		out[i] = append(out[i], a.kv...)
	}
	return out
}

func attrsSeqs(col [][]*Attrs) [][][]string {
	out := make([][][]string, len(col))
	for i, c := range col {
		out[i] = attrsSeq(c)
	}
	return out
}

// sameColumns compares two column lists (Attrs by their key/value sequence)
// and returns the first difference.
func sameColumns(names []string, want, got []any) error {
	for i := range want {
		w, g := want[i], got[i]
		switch wc := w.(type) {
		case []*Attrs:
			w, g = attrsSeq(wc), attrsSeq(g.([]*Attrs))
		case [][]*Attrs:
			w, g = attrsSeqs(wc), attrsSeqs(g.([][]*Attrs))
		}
		if reflect.ValueOf(w).Len() == 0 && reflect.ValueOf(g).Len() == 0 {
			continue // nil or empty
		}
		if !reflect.DeepEqual(w, g) {
			return fmt.Errorf("column %s differs:\nwant %v\n got %v", names[i], w, g)
		}
	}
	return nil
}

type rejectLog []string

func (l *rejectLog) add(err error) {
	s := err.Error()
	switch {
	case errors.Is(err, ErrBadTimestamp):
		s += " [ErrBadTimestamp]"
	case errors.Is(err, ErrAttributeTooLarge):
		s += " [ErrAttributeTooLarge]"
	}
	*l = append(*l, s)
}

// diffTraces runs b through pdata + AppendTraces and AppendTracesProto (both
// onto rows already holding prefill) and reports any difference, also once
// the request is overwritten after the call (the rows must own their
// strings).
func diffTraces(b, prefill []byte, lim RowLimits) error {
	var want, got SpanRows
	want.Limits, got.Limits = lim, lim
	if prefill != nil {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(prefill)
		if err != nil {
			return err
		}
		want.AppendTraces(td, nil)
		if _, err := got.AppendTracesProto(bytes.Clone(prefill), nil); err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
	}
	var wantRej, gotRej rejectLog
	td, perr := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	wantN := 0
	if perr == nil {
		wantN = want.AppendTraces(td, wantRej.add)
	}
	req := bytes.Clone(b)
	gotN, err := got.AppendTracesProto(req, gotRej.add)
	switch {
	case perr != nil && err == nil:
		return fmt.Errorf("pdata refuses (%v), AppendTracesProto accepts", perr)
	case perr == nil && err != nil:
		return fmt.Errorf("pdata accepts, AppendTracesProto: %v", err)
	case gotN != wantN:
		return fmt.Errorf("AppendTracesProto = %d rows, AppendTraces %d", gotN, wantN)
	case !reflect.DeepEqual(wantRej, gotRej):
		return fmt.Errorf("rejects differ:\nwant %q\n got %q", wantRej, gotRej)
	}
	if err := sameColumns(spanColumns, want.columns(), got.columns()); err != nil {
		return err
	}
	for i := range req {
		req[i] = 'X'
	}
	if err := sameColumns(spanColumns, want.columns(), got.columns()); err != nil {
		return fmt.Errorf("after the request was overwritten: %w", err)
	}
	return nil
}

func span(rs ptrace.ResourceSpans, name string, tn uint64) ptrace.Span {
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("lib")
	ss.Scope().SetVersion("1.0")
	sp := ss.Spans().AppendEmpty()
	sp.SetName(name)
	sp.SetTraceID(traceIDOf(tn))
	sp.SetSpanID(spanIDOf(tn, 1))
	sp.SetParentSpanID(spanIDOf(tn, 0))
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(baseTime))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(baseTime.Add(time.Millisecond)))
	return sp
}

// traceCases are hand-built requests covering what AppendTraces converts.
func traceCases() map[string]ptrace.Traces {
	cases := map[string]ptrace.Traces{}
	add := func(name string, build func(td ptrace.Traces)) {
		td := ptrace.NewTraces()
		build(td)
		cases[name] = td
	}
	add("empty request", func(ptrace.Traces) {})
	add("empty resource and scope", func(td ptrace.Traces) {
		td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	})
	add("every value kind", func(td ptrace.Traces) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutInt("service.name", 42)
		a := span(rs, "kinds", 1).Attributes()
		a.PutStr("s", "str")
		a.PutStr("empty", "")
		a.PutInt("i", -7)
		a.PutInt("max", math.MaxInt64)
		a.PutBool("t", true)
		a.PutBool("f", false)
		for i, f := range []float64{0, 1.5, -2, 1e21, 1e-7, 123456789.125, 1e-6, math.NaN(), math.Inf(1), math.Inf(-1), 5e-324, math.MaxFloat64} {
			a.PutDouble(fmt.Sprintf("d%d", i), f)
		}
		a.PutEmpty("nil")
		a.PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2})
		a.PutEmptySlice("slice").AppendEmpty().SetStr("x")
		m := a.PutEmptyMap("map")
		m.PutStr("k", "<v&>")
		m.PutInt("n", 1)
	})
	add("JSON values in resource, event and link", func(td ptrace.Traces) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "json")
		rs.Resource().Attributes().PutEmptySlice("process.command_args").FromRaw([]any{"/bin/app", "-v"})
		span(rs, "plain", 1).Attributes().PutStr("k", "v")
		sp := span(rs, "event", 2)
		sp.Events().AppendEmpty().Attributes().PutEmptyMap("m").PutDouble("x", 1.5)
		sp = span(rs, "link", 3)
		sp.Links().AppendEmpty().Attributes().PutEmptyBytes("b").FromRaw([]byte("\xff\x00"))
		sp = span(rs, "rejected with JSON", 4)
		sp.SetStartTimestamp(0)
		sp.Attributes().PutEmptySlice("s").AppendEmpty().SetBool(true)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scope with JSON")
		ss.Scope().Attributes().PutEmptyMap("m").PutStr("a", "b")
		s := ss.Spans().AppendEmpty()
		s.SetName("in JSON scope")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(baseTime))
		rs2 := td.ResourceSpans().AppendEmpty()
		rs2.Resource().Attributes().PutEmptyMap("huge").PutStr("v", strings.Repeat("h", 80))
		span(rs2, "resource with oversize JSON", 5)
	})
	add("double attribute", func(td ptrace.Traces) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutDouble("service.name", 0.1)
		span(rs, "d", 1).Attributes().PutDouble("ratio", 2.0/3)
	})
	add("events and links", func(td ptrace.Traces) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc")
		sp := span(rs, "ev", 3)
		for i := 0; i < 3; i++ {
			ev := sp.Events().AppendEmpty()
			ev.SetName(fmt.Sprintf("event-%d", i))
			ev.SetTimestamp(pcommon.NewTimestampFromTime(baseTime.Add(time.Duration(i))))
			if i > 0 {
				ev.Attributes().PutStr("exception.message", "boom")
				ev.Attributes().PutInt("n", int64(i))
			}
		}
		sp.Events().AppendEmpty() // all unset
		l := sp.Links().AppendEmpty()
		l.SetTraceID(traceIDOf(9))
		l.SetSpanID(spanIDOf(9, 2))
		l.TraceState().FromRaw("k=v")
		l.Attributes().PutStr("link.kind", "follows")
		sp.Links().AppendEmpty() // empty IDs
		sp.TraceState().FromRaw("rojo=00f067aa0ba902b7")
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage("failed")
		sp.SetKind(ptrace.SpanKindConsumer)
		sp.SetFlags(1)
		sp.SetDroppedAttributesCount(3)
		sp.SetDroppedEventsCount(1)
		sp.SetDroppedLinksCount(2)
	})
	add("empty and missing IDs", func(td ptrace.Traces) {
		rs := td.ResourceSpans().AppendEmpty()
		sp := span(rs, "noids", 1)
		sp.SetTraceID(pcommon.NewTraceIDEmpty())
		sp.SetSpanID(pcommon.NewSpanIDEmpty())
		sp.SetParentSpanID(pcommon.NewSpanIDEmpty())
		sp.SetEndTimestamp(0) // end before start: duration 0
	})
	add("multiple resources and scopes", func(td ptrace.Traces) {
		for i := 0; i < 3; i++ {
			rs := td.ResourceSpans().AppendEmpty()
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
			rs.Resource().Attributes().PutStr("service.name", services[i])
			rs.Resource().Attributes().PutStr("host.name", "h")
			rs.Resource().SetDroppedAttributesCount(1)
			for j := 0; j < 2; j++ {
				ss := rs.ScopeSpans().AppendEmpty()
				ss.SetSchemaUrl("s")
				ss.Scope().SetName(fmt.Sprintf("scope-%d", j))
				ss.Scope().SetVersion("v")
				ss.Scope().Attributes().PutStr("scope.attr", "x")
				for k := 0; k < 2; k++ {
					sp := ss.Spans().AppendEmpty()
					sp.SetName(fmt.Sprintf("op-%d-%d-%d", i, j, k))
					sp.SetTraceID(traceIDOf(uint64(i)))
					sp.SetSpanID(spanIDOf(uint64(i), j*2+k))
					sp.SetKind(ptrace.SpanKind(k + 1))
					sp.SetStartTimestamp(pcommon.NewTimestampFromTime(baseTime))
					sp.SetEndTimestamp(pcommon.NewTimestampFromTime(baseTime.Add(time.Second)))
				}
			}
		}
	})
	add("duplicate keys and service.name", func(td ptrace.Traces) {
		rs := td.ResourceSpans().AppendEmpty()
		m := rs.Resource().Attributes()
		m.PutStr("service.name", "first")
		kv := m.PutEmpty("other")
		kv.SetStr("x")
		span(rs, "dup", 1).Attributes().PutStr("k", "v")
	})
	add("unknown kind and status", func(td ptrace.Traces) {
		sp := span(td.ResourceSpans().AppendEmpty(), "odd", 1)
		sp.SetKind(ptrace.SpanKind(17))
		sp.Status().SetCode(ptrace.StatusCode(-3))
	})
	add("rejects", func(td ptrace.Traces) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "rej")
		span(rs, "ok", 1)
		span(rs, "no start", 2).SetStartTimestamp(0)
		span(rs, "far future", 3).SetStartTimestamp(pcommon.NewTimestampFromTime(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)))
		span(rs, "ancient", 4).SetStartTimestamp(pcommon.Timestamp(1))
		span(rs, strings.Repeat("n", 70), 5)
		span(rs, "big status", 6).Status().SetMessage(strings.Repeat("m", 70))
		span(rs, "big attr", 7).Attributes().PutStr("big", strings.Repeat("v", 70))
		span(rs, "big key", 8).Attributes().PutInt(strings.Repeat("k", 70), 1)
		sp := span(rs, "big event attr", 9)
		sp.Events().AppendEmpty().SetName("fine")
		sp.Events().AppendEmpty().Attributes().PutStr("e", strings.Repeat("e", 70))
		sp.Events().AppendEmpty().Attributes().PutStr("e", strings.Repeat("f", 80))
		span(rs, "big link attr", 10).Links().AppendEmpty().Attributes().PutStr("l", strings.Repeat("l", 70))
		sp = span(rs, "attr then event", 11)
		sp.Attributes().PutStr("a", strings.Repeat("a", 70))
		sp.Events().AppendEmpty().Attributes().PutStr("e", strings.Repeat("e", 70))
		span(rs, "last ok", 12).Attributes().PutStr("fine", "yes")
		rs2 := td.ResourceSpans().AppendEmpty()
		rs2.Resource().Attributes().PutStr("service.name", "bigres")
		rs2.Resource().Attributes().PutStr("huge", strings.Repeat("h", 70))
		span(rs2, "resource too big", 13)
		span(rs2, "resource too big 2", 14)
	})
	add("many attributes and long values", func(td ptrace.Traces) {
		rs := td.ResourceSpans().AppendEmpty()
		for i := 0; i < 3; i++ {
			a := span(rs, "wide", uint64(i)).Attributes()
			for j := 0; j < 1500*i; j++ {
				a.PutInt(fmt.Sprintf("k%d", j), int64(j))
			}
			a.PutStr("long", strings.Repeat("x", 5000))
		}
	})
	add("genTraces", func(td ptrace.Traces) {
		genTraces(1, 20, 5, baseTime, time.Second).CopyTo(td)
	})
	add("wiretest", func(td ptrace.Traces) {
		wiretest.Traces(0, 30, 3).CopyTo(td)
	})
	add("resources that do not repeat, then do", func(td ptrace.Traces) {
		uniqueThenRepeatedResources().CopyTo(td)
	})
	return cases
}

func TestAppendTracesProtoMatchesAppendTraces(t *testing.T) {
	prefill := marshalTraces(t, genTraces(100, 2, 2, baseTime, time.Second))
	for name, td := range traceCases() {
		t.Run(name, func(t *testing.T) {
			b := marshalTraces(t, td)
			for _, lim := range []RowLimits{{}, {MaxAttributeBytes: 64}} {
				if err := diffTraces(b, nil, lim); err != nil {
					t.Errorf("limits %+v: %v", lim, err)
				}
				if err := diffTraces(b, prefill, lim); err != nil {
					t.Errorf("limits %+v, after other rows: %v", lim, err)
				}
			}
		})
	}
}

// wire builds protobuf by hand for what pdata's marshaller never writes.
type wire []byte

func (w wire) bytes(num protowire.Number, v []byte) wire {
	return protowire.AppendBytes(protowire.AppendTag(w, num, protowire.BytesType), v)
}
func (w wire) varint(num protowire.Number, v uint64) wire {
	return protowire.AppendVarint(protowire.AppendTag(w, num, protowire.VarintType), v)
}
func (w wire) fixed64(num protowire.Number, v uint64) wire {
	return protowire.AppendFixed64(protowire.AppendTag(w, num, protowire.Fixed64Type), v)
}
func (w wire) fixed32(num protowire.Number, v uint32) wire {
	return protowire.AppendFixed32(protowire.AppendTag(w, num, protowire.Fixed32Type), v)
}

func kvStr(k, v string) wire {
	return wire(nil).bytes(1, []byte(k)).bytes(2, wire(nil).bytes(1, []byte(v)))
}

// rawTraceCases are requests in raw protobuf: field orders, repeats and
// malformations pdata's marshaller does not produce.
func rawTraceCases() map[string][]byte {
	start := uint64(baseTime.UnixNano())
	tid := traceIDOf(1)
	sid := spanIDOf(1, 1)
	spanMsg := wire(nil).bytes(1, tid[:]).bytes(2, sid[:]).bytes(5, []byte("op")).fixed64(7, start).fixed64(8, start+1000).bytes(9, kvStr("a", "b"))
	res := wire(nil).bytes(1, kvStr("service.name", "late"))
	scope := wire(nil).bytes(1, []byte("lib"))
	req := func(rs wire) []byte { return wire(nil).bytes(1, rs) }
	return map[string][]byte{
		"resource after scope spans": req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg).bytes(1, scope)).bytes(1, res)),
		"repeated resource":          req(wire(nil).bytes(1, res).bytes(2, wire(nil).bytes(2, spanMsg)).bytes(1, wire(nil).bytes(1, kvStr("x", "y")))),
		"repeated scope":             req(wire(nil).bytes(2, wire(nil).bytes(1, scope).bytes(2, spanMsg).bytes(1, wire(nil).bytes(2, []byte("v2"))))),
		"deprecated scope spans":     req(wire(nil).bytes(1000, wire(nil).bytes(2, spanMsg))),
		"fields repeated, last wins": req(wire(nil).bytes(2, wire(nil).bytes(2, append(spanMsg.bytes(5, []byte("renamed")).varint(6, 2).varint(6, 3).bytes(15, wire(nil).varint(3, 2)).bytes(15, wire(nil).bytes(2, []byte("msg"))), wire(nil).bytes(1, make([]byte, 16))...)))),
		"value fields merge": req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(9, wire(nil).bytes(1, []byte("m")).
			bytes(2, wire(nil).varint(3, 5)).bytes(2, wire(nil).bytes(99, []byte("x"))).bytes(2, wire(nil).varint(2, 1).fixed64(4, math.Float64bits(2.5))))))),
		"duplicate service.name":        req(wire(nil).bytes(1, res.bytes(1, kvStr("service.name", "second"))).bytes(2, wire(nil).bytes(2, spanMsg))),
		"key-value with field 0":        req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(9, []byte{0x02, 0x01, 'k', 0x1a, 0x02, 0x0a, 0x00})))),
		"key-value with field 3 bytes":  req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(9, []byte{0x1a, 0x01, 'k', 0x02, 0x02, 0x0a, 0x00})))),
		"value before key":              req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(9, wire(nil).bytes(2, wire(nil).varint(3, 1<<62)).bytes(1, []byte("n")))))),
		"array value then bad trace id": req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(9, wire(nil).bytes(1, []byte("a")).bytes(2, wire(nil).bytes(5, nil))).bytes(1, []byte{1})))),
		"array value in a bad resource": req(wire(nil).bytes(1, res.bytes(1, wire(nil).bytes(2, wire(nil).bytes(6, nil))).varint(3, 1)).bytes(2, wire(nil).bytes(2, spanMsg))),
		"key without value":             req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(9, wire(nil).bytes(1, []byte("k")))))),
		"unknown fields everywhere":     req(wire(nil).varint(77, 1).bytes(1, wire(nil).fixed32(50, 1).bytes(2, wire(nil).fixed64(60, 1).bytes(2, spanMsg.bytes(40, []byte("?")).fixed32(41, 1)).bytes(1, scope)).bytes(1, res.varint(9, 9)))),
		"group in span":                 req(wire(nil).bytes(2, wire(nil).bytes(2, append(append(wire(nil), spanMsg...), 0xa3, 0x01, 0x08, 0x01)))),
		"string table value":            req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(9, wire(nil).bytes(1, []byte("k")).bytes(2, wire(nil).varint(8, 3)))))),
		"entity refs":                   req(wire(nil).bytes(1, res.bytes(3, wire(nil).bytes(2, []byte("service")).bytes(3, []byte("service.name")))).bytes(2, wire(nil).bytes(2, spanMsg))),
		"bad entity ref":                req(wire(nil).bytes(1, res.bytes(3, wire(nil).varint(2, 1))).bytes(2, wire(nil).bytes(2, spanMsg))),
		"flags and dropped":             req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.fixed32(16, 0x301).varint(10, 1).bytes(13, wire(nil).fixed32(6, 1).varint(5, 2))))),
		"short trace id":                req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(1, []byte{1, 2, 3})))),
		"long span id":                  req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(2, make([]byte, 9))))),
		"short link span id":            req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(13, wire(nil).bytes(2, []byte{1}))))),
		"start time as varint":          req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.varint(7, 1)))),
		"kind as fixed":                 req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.fixed64(6, 1)))),
		"flags as varint":               req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.varint(16, 1)))),
		"string value as varint":        req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg.bytes(9, wire(nil).bytes(1, []byte("k")).bytes(2, wire(nil).varint(1, 3)))))),
		"truncated":                     req(wire(nil).bytes(2, wire(nil).bytes(2, spanMsg)))[:40],
		"resource spans as varint":      wire(nil).varint(1, 5),
		"unknown top-level field only":  wire(nil).bytes(5, []byte("hello")),
		"ten-byte varint":               req(wire(nil).bytes(2, wire(nil).bytes(2, append(append(wire(nil), spanMsg...), 0x30, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f)))),
	}
}

func TestAppendTracesProtoRawCases(t *testing.T) {
	prefill := marshalTraces(t, genTraces(100, 2, 2, baseTime, time.Second))
	for name, b := range rawTraceCases() {
		t.Run(name, func(t *testing.T) {
			if err := diffTraces(b, prefill, RowLimits{}); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAppendTracesProtoMalformedLeavesRows(t *testing.T) {
	var r SpanRows
	ok := marshalTraces(t, genTraces(1, 3, 2, baseTime, time.Second))
	if n, err := r.AppendTracesProto(ok, nil); err != nil || n != 6 {
		t.Fatalf("AppendTracesProto = %d, %v", n, err)
	}
	// a valid first resource, then garbage: the first resource's rows go
	bad := append(append([]byte(nil), ok...), 0x0a, 0x10, 0x01)
	n, err := r.AppendTracesProto(bad, func(error) { t.Error("reject on a malformed request") })
	if err == nil || n != 0 || r.Len() != 6 {
		t.Fatalf("AppendTracesProto(malformed) = %d, %v; rows %d", n, err, r.Len())
	}
	if !strings.Contains(err.Error(), "decode OTLP traces protobuf") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestSpanRowsResetKeepsStrings(t *testing.T) {
	var r SpanRows
	b := marshalTraces(t, genTraces(1, 5, 4, baseTime, time.Second))
	if _, err := r.AppendTracesProto(b, nil); err != nil {
		t.Fatal(err)
	}
	held := append([]string(nil), r.SpanName...)
	held = append(held, r.TraceID...)
	heldAttrs := r.SpanAttributes[3]
	var copies []string
	for _, s := range held {
		copies = append(copies, strings.Clone(s))
	}
	wantAttrs := attrsSeq([]*Attrs{heldAttrs})
	r.Reset()
	clear(b) // the rows must not refer to the input
	b2 := marshalTraces(t, genTraces(50, 5, 4, baseTime, time.Second))
	for i := 0; i < 3; i++ {
		if _, err := r.AppendTracesProto(b2, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(held, copies) || !reflect.DeepEqual(attrsSeq([]*Attrs{heldAttrs}), wantAttrs) {
		t.Fatal("strings taken from the rows changed after Reset and reuse")
	}
}

func TestAppendTracesProtoFallsBackOnlyWhenNeeded(t *testing.T) {
	for name, td := range traceCases() {
		var r SpanRows
		if _, err := r.AppendTracesProto(marshalTraces(t, td), nil); err != nil {
			t.Fatal(err)
		}
		if r.wire.fallbacks > 0 {
			t.Errorf("%s: %d requests decoded by pdata", name, r.wire.fallbacks)
		}
		if want := strings.HasPrefix(name, "every value kind") || strings.HasPrefix(name, "JSON"); (r.wire.pdataDecodes > 0) != want {
			t.Errorf("%s: %d messages decoded by pdata", name, r.wire.pdataDecodes)
		}
	}
}

// TestProtoRowsRoundTrip stores rows read by the proto readers (arena
// strings, shared and hint-boxed attribute values) and reads them back.
func TestProtoRowsRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	td, ld, wantSpans, wantLogs := fullTrace()
	var sr SpanRows
	var lr LogRows
	for _, b := range [][]byte{marshalTraces(t, td), marshalTraces(t, genTraces(1, 20, 5, wantSpans[0].Timestamp.Add(-time.Second), 100*time.Millisecond))} {
		if _, err := sr.AppendTracesProto(b, func(err error) { t.Errorf("rejected: %v", err) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lr.AppendLogsProto(marshalLogs(t, ld), func(err error) { t.Errorf("rejected: %v", err) }); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertLogs(ctx, &lr, ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetTrace(ctx, wantSpans[0].TraceID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spans, wantSpans) {
		t.Errorf("spans differ\n got %+v\nwant %+v", got.Spans, wantSpans)
	}
	if !reflect.DeepEqual(got.Logs, wantLogs) {
		t.Errorf("logs differ\n got %+v\nwant %+v", got.Logs, wantLogs)
	}
}

// uniqueThenRepeatedResources is a span under a resource of its own, 400
// times (more than the resource cache holds), then 100 spans under 2
// resources seen before.
func uniqueThenRepeatedResources() ptrace.Traces {
	td := ptrace.NewTraces()
	for i := range 500 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", i%7))
		rs.Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("pod-%d", min(i, 400+i%2)))
		span(rs, "GET /", uint64(i))
	}
	return td
}

// TestResourceCacheStepsAsideWhenResourcesDoNotRepeat: resources that do
// not repeat stop going through the cache (the rows are the same either
// way: TestAppendTracesProtoMatchesAppendTraces), repeated ones keep it.
func TestResourceCacheStepsAsideWhenResourcesDoNotRepeat(t *testing.T) {
	var rows SpanRows
	if _, err := rows.AppendTracesProto(marshalTraces(t, uniqueThenRepeatedResources()), nil); err != nil {
		t.Fatal(err)
	}
	if rows.wire.cacheResources() {
		t.Errorf("after %d misses and %d hits, resources are still cached", rows.wire.resMisses, rows.wire.resHits)
	}
	rows.Reset()
	if _, err := rows.AppendTracesProto(marshalTraces(t, genTraces(1, 300, 5, baseTime, time.Second)), nil); err != nil {
		t.Fatal(err)
	}
	if !rows.wire.cacheResources() || rows.wire.resHits == 0 {
		t.Errorf("repeated resources: %d misses and %d hits, cached: %v", rows.wire.resMisses, rows.wire.resHits, rows.wire.cacheResources())
	}
}
