package otlpwire

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// pdataTraces is the reference: pdata's verdict and span count.
func pdataTraces(b []byte) (int, error) {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		return 0, err
	}
	return td.SpanCount(), nil
}

func pdataLogs(b []byte) (int, error) {
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
	if err != nil {
		return 0, err
	}
	return ld.LogRecordCount(), nil
}

// diff reports how validate and pdata disagree on b, or nil.
func diff(b []byte, validate, ref func([]byte) (int, error)) error {
	n, err := validate(b)
	want, werr := ref(b)
	switch {
	case err == nil && werr != nil:
		return fmt.Errorf("accepted (count %d), pdata refuses: %v", n, werr)
	case err != nil && werr == nil:
		return fmt.Errorf("refused (%v), pdata accepts (count %d)", err, want)
	case err != nil && !errors.Is(err, ErrMalformed):
		return fmt.Errorf("error does not wrap ErrMalformed: %v", err)
	case err == nil && n != want:
		return fmt.Errorf("count %d, pdata %d", n, want)
	}
	return nil
}

func diffTraces(b []byte) error { return diff(b, ValidateTraces, pdataTraces) }
func diffLogs(b []byte) error   { return diff(b, ValidateLogs, pdataLogs) }

// raw message builders
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func lenF(num protowire.Number, parts ...[]byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), cat(parts...))
}

func varF(num protowire.Number, x uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), x)
}

func f64F(num protowire.Number, x uint64) []byte {
	return protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), x)
}

func f32F(num protowire.Number, x uint32) []byte {
	return protowire.AppendFixed32(protowire.AppendTag(nil, num, protowire.Fixed32Type), x)
}

func tag(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }

func str(num protowire.Number, s string) []byte { return lenF(num, []byte(s)) }

var (
	tid16 = bytes.Repeat([]byte{1}, 16)
	sid8  = bytes.Repeat([]byte{2}, 8)
)

// context wrappers: put x (fields of the named message) into a request
type wrapper func(x []byte) []byte

func inTraceReq(x []byte) []byte   { return x }
func inResSpans(x []byte) []byte   { return lenF(1, x) }
func inResource(x []byte) []byte   { return inResSpans(lenF(1, x)) }
func inEntityRef(x []byte) []byte  { return inResource(lenF(3, x)) }
func inScopeSpans(x []byte) []byte { return inResSpans(lenF(2, x)) }
func inDeprecated(x []byte) []byte { return inResSpans(lenF(1000, x)) }
func inTraceScope(x []byte) []byte { return inScopeSpans(lenF(1, x)) }
func inSpan(x []byte) []byte       { return inScopeSpans(lenF(2, x)) }
func inEvent(x []byte) []byte      { return inSpan(lenF(11, x)) }
func inLink(x []byte) []byte       { return inSpan(lenF(13, x)) }
func inStatus(x []byte) []byte     { return inSpan(lenF(15, x)) }
func inKV(x []byte) []byte         { return inSpan(lenF(9, x)) }
func inAny(x []byte) []byte        { return inKV(lenF(2, x)) }
func inArray(x []byte) []byte      { return inAny(lenF(5, x)) }
func inKVList(x []byte) []byte     { return inAny(lenF(6, x)) }

func inLogsReq(x []byte) []byte   { return x }
func inResLogs(x []byte) []byte   { return lenF(1, x) }
func inScopeLogs(x []byte) []byte { return inResLogs(lenF(2, x)) }
func inLogScope(x []byte) []byte  { return inScopeLogs(lenF(1, x)) }
func inLog(x []byte) []byte       { return inScopeLogs(lenF(2, x)) }
func inBody(x []byte) []byte      { return inLog(lenF(5, x)) }
func inLogRes(x []byte) []byte    { return inResLogs(lenF(1, x)) }
func inDepLogs(x []byte) []byte   { return inResLogs(lenF(1000, x)) }

var traceContexts = map[string]wrapper{
	"request": inTraceReq, "resource_spans": inResSpans, "resource": inResource, "entity_ref": inEntityRef,
	"scope_spans": inScopeSpans, "deprecated scope_spans": inDeprecated, "scope": inTraceScope, "span": inSpan,
	"event": inEvent, "link": inLink, "status": inStatus, "key_value": inKV, "any_value": inAny,
	"array_value": inArray, "kvlist_value": inKVList,
}

var logContexts = map[string]wrapper{
	"request": inLogsReq, "resource_logs": inResLogs, "resource": inLogRes, "scope_logs": inScopeLogs,
	"deprecated scope_logs": inDepLogs, "scope": inLogScope, "log_record": inLog, "body": inBody,
}

// fieldVariants are fields of number num in every wire type, framed well
// and badly, with payloads of the sizes that matter (IDs) and nested
// messages that are valid as most OTLP messages.
func fieldVariants(num protowire.Number) map[string][]byte {
	return map[string][]byte{
		"varint":             varF(num, 1),
		"big varint":         varF(num, 1<<63),
		"fixed64":            f64F(num, 7),
		"fixed32":            f32F(num, 7),
		"empty bytes":        lenF(num),
		"8 bytes":            lenF(num, sid8),
		"16 bytes":           lenF(num, tid16),
		"5 bytes":            lenF(num, []byte("abcde")),
		"nested string":      lenF(num, str(1, "k")),
		"nested kv":          lenF(num, lenF(1, str(1, "k"), lenF(2, str(1, "v")))),
		"nested bad":         lenF(num, []byte{0x0a, 0x05}),
		"group":              cat(tag(num, protowire.StartGroupType), varF(1, 1), tag(num, protowire.EndGroupType)),
		"empty group":        cat(tag(num, protowire.StartGroupType), tag(num, protowire.EndGroupType)),
		"nested group":       cat(tag(num, protowire.StartGroupType), tag(2, protowire.StartGroupType), tag(2, protowire.EndGroupType), tag(num, protowire.EndGroupType)),
		"unterminated group": tag(num, protowire.StartGroupType),
		"lone end group":     tag(num, protowire.EndGroupType),
		"wire type 6":        cat(tag(num, 6), []byte{0}),
		"wire type 7":        cat(tag(num, 7), []byte{0}),
		"truncated bytes":    []byte(string(tag(num, protowire.BytesType)) + "\x05ab"),
		"truncated fixed64":  cat(tag(num, protowire.Fixed64Type), []byte{1, 2}),
		"truncated varint":   cat(tag(num, protowire.VarintType), []byte{0x80}),
	}
}

var fieldNums = []protowire.Number{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 100, 999, 1000, 1001, 1 << 20, protowire.MaxValidNumber}

// TestValidateFieldMatrix puts every field number OTLP uses, in every wire
// type, into every message of a request, and checks the verdict against pdata.
func TestValidateFieldMatrix(t *testing.T) {
	n := 0
	for _, c := range []struct {
		kind     string
		contexts map[string]wrapper
		diff     func([]byte) error
	}{{"traces", traceContexts, diffTraces}, {"logs", logContexts, diffLogs}} {
		for ctx, wrap := range c.contexts {
			for _, num := range fieldNums {
				for variant, field := range fieldVariants(num) {
					// alone, and followed by a valid field
					for _, x := range [][]byte{field, cat(field, str(1, "x"))} {
						b := wrap(x)
						n++
						if err := c.diff(b); err != nil {
							t.Errorf("%s, in %s, field %d %s: %v\n%x", c.kind, ctx, num, variant, err, b)
						}
					}
				}
			}
		}
	}
	t.Logf("%d requests", n)
}

// nest returns an AnyValue nested levels deep through arrays and kvlists.
func nest(levels int, kv bool) []byte {
	v := str(1, "leaf")
	for i := 0; i < levels; i++ {
		if kv {
			v = lenF(6, lenF(1, str(1, "k"), lenF(2, v)))
		} else {
			v = lenF(5, lenF(1, v))
		}
	}
	return v
}

func TestValidateTracesCases(t *testing.T) {
	span := func(fields ...[]byte) []byte { return lenF(2, fields...) }
	goodSpan := cat(lenF(1, tid16), lenF(2, sid8), str(5, "GET /"), varF(6, 2), f64F(7, 1), f64F(8, 2),
		lenF(9, str(1, "http.method"), lenF(2, str(1, "GET"))), lenF(9, str(1, "n"), lenF(2, varF(3, 7))),
		lenF(11, f64F(1, 1), str(2, "ev"), lenF(3, str(1, "a"), lenF(2, varF(2, 1)))),
		lenF(13, lenF(1, tid16), lenF(2, sid8), str(3, "k=v"), f32F(6, 1)),
		lenF(15, str(2, "boom"), varF(3, 2)), f32F(16, 1))
	tests := []struct {
		name  string
		b     []byte
		count int    // when pdata accepts
		msg   string // in the error when pdata refuses
	}{
		{name: "empty request", b: nil},
		{name: "empty resource spans", b: inResSpans(nil)},
		{name: "one span", b: inScopeSpans(span(goodSpan)), count: 1},
		{name: "empty span", b: inScopeSpans(span()), count: 1},
		{name: "spans in two scopes and resources", b: cat(inScopeSpans(cat(span(goodSpan), span())), inResSpans(cat(lenF(2, span()), lenF(2, span(), span())))), count: 5},
		{name: "deprecated spans are not counted", b: inDeprecated(cat(span(goodSpan), span())), count: 0},
		{name: "deprecated and current", b: inResSpans(cat(lenF(1000, span()), lenF(2, span()))), count: 1},
		{name: "repeated resource and scope", b: inResSpans(cat(lenF(1, lenF(1, str(1, "a"))), lenF(1), lenF(2, lenF(1), lenF(1), span()))), count: 1},
		{name: "bad second resource", b: inResSpans(cat(lenF(1), lenF(1, varF(1, 1)))), msg: "resource_spans[0]: resource: field 1 (attributes) has wire type 0, want 2"},
		{name: "trace_id 5 bytes", b: inScopeSpans(cat(span(), span(lenF(1, []byte("abcde"))))), msg: "spans[1]: trace_id is 5 bytes, want 16"},
		{name: "trace_id empty", b: inSpan(lenF(1)), count: 1},
		{name: "span_id 9 bytes", b: inSpan(lenF(2, tid16[:9])), msg: "span_id is 9 bytes"},
		{name: "parent_span_id 16 bytes", b: inSpan(lenF(4, tid16)), msg: "parent_span_id is 16 bytes"},
		{name: "link trace_id 8 bytes", b: inLink(lenF(1, sid8)), msg: "links[0]: trace_id is 8 bytes"},
		{name: "link span_id empty", b: inLink(lenF(2)), count: 1},
		{name: "span name as varint", b: inSpan(varF(5, 1)), msg: "spans[0]: field 5 (name) has wire type 0, want 2"},
		{name: "start time as varint", b: inSpan(varF(7, 1)), msg: "start_time_unix_nano"},
		{name: "flags as fixed64", b: inSpan(f64F(16, 1)), msg: "flags"},
		{name: "status code as bytes", b: inStatus(lenF(3)), msg: "status: field 3 (code)"},
		{name: "status field 1 is unknown", b: inStatus(lenF(1, []byte("x"))), count: 1},
		{name: "event attribute value as int", b: inEvent(lenF(3, varF(2, 1))), msg: "events[0]: attributes[0]: field 2 (value)"},
		{name: "any double as fixed32", b: inAny(f32F(4, 1)), msg: "value: field 4 (double_value)"},
		{name: "entity ref id_keys as varint", b: inEntityRef(varF(3, 1)), msg: "entity_refs[0]: field 3 (id_keys)"},
		{name: "entity refs", b: inResSpans(cat(lenF(1, lenF(3, str(1, "s"), str(2, "host"), str(3, "host.id"), str(3, "host.name"), str(4, "os"))), lenF(2, span()))), count: 1},
		{name: "scope dropped count as bytes", b: inTraceScope(lenF(4)), msg: "scope: field 4"},
		{name: "truncated request", b: inSpan(lenF(1, tid16))[:10], msg: "bad field framing at byte 0"},
		{name: "unknown fields everywhere", b: inResSpans(cat(varF(9, 1), lenF(2, f64F(9, 1), lenF(2, f32F(99, 1), goodSpan)), str(55, "x"))), count: 1},
		{name: "unknown group in span", b: inSpan(cat(tag(20, protowire.StartGroupType), tag(20, protowire.EndGroupType), str(5, "x"))), count: 1},
		// pdata's group skipping stops after the first non-group field: the end tag is then alone
		{name: "group holding a field", b: inSpan(cat(tag(20, protowire.StartGroupType), varF(1, 1), tag(20, protowire.EndGroupType))), msg: "bad field framing at byte 4 of 6"},
		// and a group must not end its message
		{name: "group ending a span", b: inSpan(cat(tag(20, protowire.StartGroupType), tag(20, protowire.EndGroupType))), msg: "bad field framing at byte 0"},
		{name: "group on a known field", b: inSpan(cat(tag(9, protowire.StartGroupType), tag(9, protowire.EndGroupType), str(5, "x"))), msg: "field 9 (attributes) has wire type 3"},
		{name: "lone end group", b: inSpan(tag(20, protowire.EndGroupType)), msg: "bad field framing"},
		// KeyValue is level 0, each array adds two levels (ArrayValue, AnyValue), each kvlist three
		{name: "array 49 deep", b: inKV(lenF(2, nest(49, false))), count: 1},
		{name: "array 50 deep", b: inKV(lenF(2, nest(50, false))), msg: "nested over 100 levels"},
		{name: "kvlist 32 deep", b: inKV(lenF(2, nest(32, true))), count: 1},
		{name: "kvlist 33 deep", b: inKV(lenF(2, nest(33, true))), msg: "nested over 100 levels"},
		// the short key-value shapes ValidateTraces reads without a loop, and near misses
		{name: "kv value first", b: inSpan(lenF(9, lenF(2, varF(3, 1<<40)), str(1, "k"))), count: 1},
		{name: "kv double then junk", b: inSpan(lenF(9, lenF(2, f64F(4, 1), []byte{0}), str(1, "k"))), msg: "bad field framing"},
		{name: "kv bool then junk", b: inSpan(lenF(9, str(1, "k"), lenF(2, varF(2, 1), []byte{0x80}))), msg: "bad field framing"},
		{name: "kv int of eleven bytes", b: inSpan(lenF(9, str(1, "k"), lenF(2, []byte{0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}))), msg: "bad field framing"},
		{name: "kv array as varint", b: inSpan(lenF(9, str(1, "k"), lenF(2, varF(5, 1)))), msg: "array_value"},
		{name: "kv strindex", b: inSpan(lenF(9, str(1, "k"), lenF(2, varF(8, 1)))), count: 1},
		{name: "kv two keys", b: inSpan(lenF(9, str(1, "k"), str(1, "k"))), count: 1},
		{name: "kv two values", b: inSpan(lenF(9, lenF(2, str(1, "v")), lenF(2, varF(1, 3)))), msg: "string_value"},
		{name: "bytes and double values", b: inSpan(cat(lenF(9, str(1, "b"), lenF(2, lenF(7, []byte{0, 1}))), lenF(9, str(1, "d"), lenF(2, f64F(4, 1))))), count: 1},
		{name: "field number over int32", b: protowire.AppendBytes(protowire.AppendVarint(nil, (1<<32+1)<<3|uint64(protowire.BytesType)), lenF(2, lenF(2))), count: 1},
		{name: "field number 0", b: []byte{0x00, 0x00}, msg: "bad field framing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := diffTraces(tt.b); err != nil {
				t.Fatalf("%v\n%x", err, tt.b)
			}
			n, err := ValidateTraces(tt.b)
			if tt.msg == "" {
				if err != nil || n != tt.count {
					t.Fatalf("ValidateTraces = %d, %v; want %d", n, err, tt.count)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("ValidateTraces error %v; want one containing %q", err, tt.msg)
			}
		})
	}
}

func TestValidateLogsCases(t *testing.T) {
	rec := func(fields ...[]byte) []byte { return lenF(2, fields...) }
	good := cat(f64F(1, 1), varF(2, 9), str(3, "INFO"), lenF(5, str(1, "hello")), lenF(6, str(1, "k"), lenF(2, varF(3, 1))),
		varF(7, 0), f32F(8, 1), lenF(9, tid16), lenF(10, sid8), f64F(11, 2), str(12, "ev"))
	tests := []struct {
		name  string
		b     []byte
		count int
		msg   string
	}{
		{name: "empty request", b: nil},
		{name: "one record", b: inScopeLogs(rec(good)), count: 1},
		{name: "two resources", b: cat(inScopeLogs(cat(rec(good), rec())), inScopeLogs(rec())), count: 3},
		{name: "deprecated not counted", b: inDepLogs(rec(good)), count: 0},
		{name: "field 4 is unknown", b: inLog(lenF(4, []byte("x"))), count: 1},
		{name: "trace_id 15 bytes", b: inLog(lenF(9, tid16[:15])), msg: "log_records[0]: trace_id is 15 bytes, want 16"},
		{name: "span_id 16 bytes", b: inLog(lenF(10, tid16)), msg: "span_id is 16 bytes"},
		{name: "severity as fixed32", b: inLog(f32F(2, 1)), msg: "field 2 (severity_number)"},
		{name: "observed time as varint", b: inLog(varF(11, 1)), msg: "observed_time_unix_nano"},
		{name: "body kvlist", b: inBody(lenF(6, lenF(1, str(1, "k"), lenF(2, lenF(5, lenF(1, varF(3, 1))))))), count: 1},
		{name: "body wrong", b: inBody(varF(6, 1)), msg: "body: field 6 (kvlist_value)"},
		// the body is level 0, each array adds two
		{name: "body 49 deep", b: inLog(lenF(5, nest(49, false))), count: 1},
		{name: "body 50 deep", b: inLog(lenF(5, nest(50, false))), msg: "nested over 100"},
		{name: "truncated", b: inLog(good)[:20], msg: "bad field framing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := diffLogs(tt.b); err != nil {
				t.Fatalf("%v\n%x", err, tt.b)
			}
			n, err := ValidateLogs(tt.b)
			if tt.msg == "" {
				if err != nil || n != tt.count {
					t.Fatalf("ValidateLogs = %d, %v; want %d", n, err, tt.count)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("ValidateLogs error %v; want one containing %q", err, tt.msg)
			}
		})
	}
}

// richTraces has every kind of value, events, links and status.
func richTraces() ptrace.Traces {
	td := wiretest.Traces(0, 20, 3)
	s := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	a := s.Attributes()
	a.PutBool("b", true)
	a.PutDouble("d", 1.5)
	a.PutEmptyBytes("raw").FromRaw([]byte{0, 1, 2})
	arr := a.PutEmptySlice("arr")
	arr.AppendEmpty().SetStr("x")
	arr.AppendEmpty().SetEmptyMap().PutInt("n", 1)
	m := a.PutEmptyMap("map")
	m.PutEmptySlice("inner").AppendEmpty().SetEmptySlice().AppendEmpty().SetBool(false)
	l := s.Links().AppendEmpty()
	l.SetTraceID(wiretest.TraceID(9))
	l.SetSpanID(wiretest.SpanID(9))
	l.TraceState().FromRaw("k=v")
	l.Attributes().PutStr("l", "v")
	l.SetFlags(1)
	s.TraceState().FromRaw("a=b")
	s.SetDroppedAttributesCount(3)
	s.SetDroppedEventsCount(1)
	s.SetDroppedLinksCount(2)
	s.SetFlags(0x301)
	rs := td.ResourceSpans().At(1)
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	rs.ScopeSpans().At(0).Scope().Attributes().PutStr("scope.attr", "v")
	rs.ScopeSpans().At(0).Scope().SetDroppedAttributesCount(1)
	rs.Resource().SetDroppedAttributesCount(2)
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	return td
}

func richLogs() plog.Logs {
	ld := wiretest.Logs(0, 20)
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	body := lr.Body().SetEmptyMap()
	body.PutStr("msg", "hi")
	body.PutEmptySlice("list").AppendEmpty().SetDouble(2.5)
	lr.SetEventName("login")
	lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	lr.SetDroppedAttributesCount(4)
	ld.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(0).Body().SetEmptyBytes().FromRaw([]byte("raw"))
	ld.ResourceLogs().AppendEmpty()
	return ld
}

func marshalTraces(tb testing.TB, td ptrace.Traces) []byte {
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func marshalLogs(tb testing.TB, ld plog.Logs) []byte {
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func traceSeeds(tb testing.TB) [][]byte {
	return [][]byte{
		marshalTraces(tb, wiretest.Traces(0, 1, 1)),
		marshalTraces(tb, wiretest.Traces(0, 30, 4)),
		marshalTraces(tb, richTraces()),
		marshalTraces(tb, ptrace.NewTraces()),
	}
}

func logSeeds(tb testing.TB) [][]byte {
	return [][]byte{
		marshalLogs(tb, wiretest.Logs(0, 1)),
		marshalLogs(tb, wiretest.Logs(0, 30)),
		marshalLogs(tb, richLogs()),
	}
}

// TestValidateGenerated: requests pdata built are accepted, counted right.
func TestValidateGenerated(t *testing.T) {
	for _, n := range []int{0, 1, 7, 100, 1000} {
		b := marshalTraces(t, wiretest.Traces(n, n, 3))
		if got, err := ValidateTraces(b); err != nil || got != n {
			t.Errorf("traces %d: ValidateTraces = %d, %v", n, got, err)
		}
		b = marshalLogs(t, wiretest.Logs(n, n))
		if got, err := ValidateLogs(b); err != nil || got != n {
			t.Errorf("logs %d: ValidateLogs = %d, %v", n, got, err)
		}
	}
	for i, b := range traceSeeds(t) {
		if err := diffTraces(b); err != nil {
			t.Errorf("trace seed %d: %v", i, err)
		}
	}
	for i, b := range logSeeds(t) {
		if err := diffLogs(b); err != nil {
			t.Errorf("log seed %d: %v", i, err)
		}
	}
}

// mutate returns b with one random byte changed, removed or inserted.
func mutate(rng *rand.Rand, b []byte) []byte {
	m := append([]byte(nil), b...)
	if len(m) == 0 {
		return []byte{byte(rng.IntN(256))}
	}
	i := rng.IntN(len(m))
	switch rng.IntN(4) {
	case 0:
		m[i] ^= byte(1 << rng.IntN(8))
	case 1:
		m[i] = byte(rng.IntN(256))
	case 2:
		m = append(m[:i], m[i+1:]...)
	default:
		m = append(m[:i], append([]byte{byte(rng.IntN(256))}, m[i:]...)...)
	}
	return m
}

// TestValidateMutations is a deterministic slice of the fuzz targets, run
// with every go test: one- to three-byte mutations and truncations of
// valid requests, checked against pdata.
func TestValidateMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		kind  string
		seeds [][]byte
		diff  func([]byte) error
	}{{"traces", traceSeeds(t), diffTraces}, {"logs", logSeeds(t), diffLogs}} {
		for _, s := range c.seeds {
			for i := 0; i <= len(s) && i < 2000; i++ { // every truncation
				if err := c.diff(s[:i]); err != nil {
					t.Fatalf("%s truncated at %d: %v", c.kind, i, err)
				}
			}
		}
		for i := 0; i < 6000; i++ {
			b := c.seeds[i%len(c.seeds)]
			for k := 0; k <= i%3; k++ {
				b = mutate(rng, b)
			}
			if err := c.diff(b); err != nil {
				t.Fatalf("%s %x: %v", c.kind, b, err)
			}
		}
	}
}

func TestValidateNoAllocs(t *testing.T) {
	tb := marshalTraces(t, richTraces())
	lb := marshalLogs(t, richLogs())
	if a := testing.AllocsPerRun(50, func() { _, _ = ValidateTraces(tb) }); a != 0 {
		t.Errorf("ValidateTraces: %v allocs", a)
	}
	if a := testing.AllocsPerRun(50, func() { _, _ = ValidateLogs(lb) }); a != 0 {
		t.Errorf("ValidateLogs: %v allocs", a)
	}
}

func FuzzValidateTraces(f *testing.F) {
	for _, b := range traceSeeds(f) {
		f.Add(b)
	}
	for _, num := range []protowire.Number{1, 2, 9, 11, 13, 15, 20} {
		for _, v := range fieldVariants(num) {
			f.Add(inSpan(v))
		}
	}
	f.Add(inKV(lenF(2, nest(49, false))))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := diffTraces(b); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzValidateLogs(f *testing.F) {
	for _, b := range logSeeds(f) {
		f.Add(b)
	}
	for _, num := range []protowire.Number{1, 2, 5, 6, 9, 10, 12} {
		for _, v := range fieldVariants(num) {
			f.Add(inLog(v))
		}
	}
	f.Add(inLog(lenF(5, nest(34, true))))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := diffLogs(b); err != nil {
			t.Fatal(err)
		}
	})
}

const benchSpans = 10000

func benchTraces(b *testing.B) []byte {
	return marshalTraces(b, wiretest.Traces(0, benchSpans, 4))
}

func BenchmarkValidateTraces(b *testing.B) {
	buf := benchTraces(b)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := ValidateTraces(buf); err != nil || n != benchSpans {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(benchSpans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkPdataUnmarshalTraces is what ValidateTraces replaces.
func BenchmarkPdataUnmarshalTraces(b *testing.B) {
	buf := benchTraces(b)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(buf)
		if err != nil || td.SpanCount() != benchSpans {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchSpans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

func BenchmarkValidateLogs(b *testing.B) {
	buf := marshalLogs(b, wiretest.Logs(0, benchSpans))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := ValidateLogs(buf); err != nil || n != benchSpans {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(benchSpans)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkPdataUnmarshalLogs(b *testing.B) {
	buf := marshalLogs(b, wiretest.Logs(0, benchSpans))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(buf)
		if err != nil || ld.LogRecordCount() != benchSpans {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchSpans)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestUsesDeprecatedLibraryField: requests with records in the pre-0.15
// field are spotted (so the agent hands them to pdata, which migrates
// them); current ones are not.
func TestUsesDeprecatedLibraryField(t *testing.T) {
	current, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(wiretest.Traces(0, 10, 2))
	if err != nil {
		t.Fatal(err)
	}
	// ResourceSpans{1000: {2: Span{5: "op"}}} inside Request{1: ...}
	span := protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), []byte("op"))
	lib := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), span)
	rs := protowire.AppendBytes(protowire.AppendTag(nil, 1000, protowire.BytesType), lib)
	old := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), rs)
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{{"current", current, false}, {"deprecated", old, true}, {"both", append(append([]byte{}, current...), old...), true}, {"empty", nil, false}} {
		if got := UsesDeprecatedLibraryField(tc.b); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
