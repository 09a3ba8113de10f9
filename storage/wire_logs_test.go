package storage

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

func marshalLogs(t testing.TB, ld plog.Logs) []byte {
	t.Helper()
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diffLogs is diffTraces for logs.
func diffLogs(b, prefill []byte, lim RowLimits) error {
	var want, got LogRows
	want.Limits, got.Limits = lim, lim
	if prefill != nil {
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(prefill)
		if err != nil {
			return err
		}
		want.AppendLogs(ld, nil)
		if _, err := got.AppendLogsProto(bytes.Clone(prefill), nil); err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
	}
	var wantRej, gotRej rejectLog
	ld, perr := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
	wantN := 0
	if perr == nil {
		wantN = want.AppendLogs(ld, wantRej.add)
	}
	req := bytes.Clone(b)
	gotN, err := got.AppendLogsProto(req, gotRej.add)
	switch {
	case perr != nil && err == nil:
		return fmt.Errorf("pdata refuses (%v), AppendLogsProto accepts", perr)
	case perr == nil && err != nil:
		return fmt.Errorf("pdata accepts, AppendLogsProto: %v", err)
	case gotN != wantN:
		return fmt.Errorf("AppendLogsProto = %d rows, AppendLogs %d", gotN, wantN)
	case !reflect.DeepEqual(wantRej, gotRej):
		return fmt.Errorf("rejects differ:\nwant %q\n got %q", wantRej, gotRej)
	}
	if err := sameColumns(logColumns, want.columns(), got.columns()); err != nil {
		return err
	}
	for i := range req {
		req[i] = 'X'
	}
	if err := sameColumns(logColumns, want.columns(), got.columns()); err != nil {
		return fmt.Errorf("after the request was overwritten: %w", err)
	}
	return nil
}

func logRecord(rl plog.ResourceLogs, body string, tn uint64) plog.LogRecord {
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("logger")
	sl.Scope().SetVersion("2.0")
	rec := sl.LogRecords().AppendEmpty()
	rec.Body().SetStr(body)
	rec.SetTimestamp(pcommon.NewTimestampFromTime(baseTime))
	rec.SetTraceID(traceIDOf(tn))
	rec.SetSpanID(spanIDOf(tn, 0))
	return rec
}

func logCases() map[string]plog.Logs {
	cases := map[string]plog.Logs{}
	add := func(name string, build func(ld plog.Logs)) {
		ld := plog.NewLogs()
		build(ld)
		cases[name] = ld
	}
	add("empty request", func(plog.Logs) {})
	add("empty resource and scope", func(ld plog.Logs) {
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	})
	add("every field", func(ld plog.Logs) {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		rl.Resource().Attributes().PutStr("service.name", "svc")
		rl.Resource().Attributes().PutBool("debug", true)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.SetSchemaUrl("scope-schema")
		sl.Scope().SetName("s")
		sl.Scope().SetVersion("v")
		sl.Scope().Attributes().PutStr("scope.attr", "x")
		sl.Scope().Attributes().PutInt("scope.n", 3)
		rec := sl.LogRecords().AppendEmpty()
		rec.SetTimestamp(pcommon.NewTimestampFromTime(baseTime))
		rec.SetObservedTimestamp(pcommon.NewTimestampFromTime(baseTime.Add(time.Second)))
		rec.SetSeverityNumber(plog.SeverityNumberError)
		rec.SetSeverityText("ERROR")
		rec.Body().SetStr("hello")
		rec.Attributes().PutStr("a", "b")
		rec.Attributes().PutDouble("d", 1e-9)
		rec.SetFlags(plog.LogRecordFlags(0x1ff))
		rec.SetTraceID(traceIDOf(3))
		rec.SetSpanID(spanIDOf(3, 1))
		rec.SetEventName("app.event")
		rec.SetDroppedAttributesCount(2)
	})
	add("body kinds", func(ld plog.Logs) {
		rl := ld.ResourceLogs().AppendEmpty()
		logRecord(rl, "", 1).Body().SetInt(-5)
		logRecord(rl, "", 2).Body().SetDouble(math.Pi)
		logRecord(rl, "", 3).Body().SetBool(false)
		logRecord(rl, "", 4).SetTimestamp(pcommon.NewTimestampFromTime(baseTime))
		logRecord(rl, "", 5).Body().SetDouble(1e300)
	})
	add("map body", func(ld plog.Logs) {
		m := logRecord(ld.ResourceLogs().AppendEmpty(), "", 1).Body().SetEmptyMap()
		m.PutStr("msg", "<hi>")
		m.PutEmptySlice("list").AppendEmpty().SetInt(1)
	})
	add("JSON scope and resource", func(ld plog.Logs) {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "j")
		rl.Resource().Attributes().PutEmptySlice("args").AppendEmpty().SetStr("-x")
		rec := logRecord(rl, "plain", 1)
		rec.Attributes().PutEmptyMap("ctx").PutInt("n", 1)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("json scope")
		sl.Scope().Attributes().PutEmptyMap("m").PutStr("k", "v")
		r := sl.LogRecords().AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(baseTime))
		r.Body().SetEmptyMap().PutStr("msg", strings.Repeat("z", 70))
		sl2 := rl.ScopeLogs().AppendEmpty()
		sl2.Scope().Attributes().PutEmptyMap("big").PutStr("k", strings.Repeat("s", 70))
		sl2.LogRecords().AppendEmpty().Body().SetEmptyMap()
		logRecord(rl, "after the bad scope", 2)
	})
	add("bytes body", func(ld plog.Logs) {
		logRecord(ld.ResourceLogs().AppendEmpty(), "", 1).Body().SetEmptyBytes().FromRaw([]byte("raw"))
	})
	add("observed time fallback and missing IDs", func(ld plog.Logs) {
		rec := logRecord(ld.ResourceLogs().AppendEmpty(), "obs", 1)
		rec.SetTimestamp(0)
		rec.SetObservedTimestamp(pcommon.NewTimestampFromTime(baseTime))
		rec.SetTraceID(pcommon.NewTraceIDEmpty())
		rec.SetSpanID(pcommon.NewSpanIDEmpty())
	})
	add("odd severities", func(ld plog.Logs) {
		rl := ld.ResourceLogs().AppendEmpty()
		logRecord(rl, "neg", 1).SetSeverityNumber(plog.SeverityNumber(-1))
		logRecord(rl, "big", 2).SetSeverityNumber(plog.SeverityNumber(300))
		logRecord(rl, "max", 3).SetSeverityNumber(plog.SeverityNumber(255))
	})
	add("rejects", func(ld plog.Logs) {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "rej")
		logRecord(rl, "ok", 1)
		logRecord(rl, "no time", 2).SetTimestamp(0)
		rec := logRecord(rl, "bad observed", 3)
		rec.SetTimestamp(0)
		rec.SetObservedTimestamp(pcommon.Timestamp(5))
		logRecord(rl, "future", 4).SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC)))
		logRecord(rl, strings.Repeat("b", 100), 5)
		logRecord(rl, "big attr", 6).Attributes().PutStr("x", strings.Repeat("x", 70))
		// a scope attribute over the limit rejects its records and those of
		// the later scopes of the same resource (AppendLogs' behaviour)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().Attributes().PutStr("big", strings.Repeat("s", 70))
		sl.LogRecords().AppendEmpty().SetTimestamp(pcommon.NewTimestampFromTime(baseTime))
		logRecord(rl, "after bad scope", 7)
		rl2 := ld.ResourceLogs().AppendEmpty()
		rl2.Resource().Attributes().PutStr("huge", strings.Repeat("h", 70))
		logRecord(rl2, "resource too big", 8)
		rl3 := ld.ResourceLogs().AppendEmpty()
		logRecord(rl3, "fine again", 9)
	})
	add("genLogs", func(ld plog.Logs) {
		genLogs(1, 30, baseTime, time.Second).CopyTo(ld)
	})
	add("wiretest", func(ld plog.Logs) {
		wiretest.Logs(0, 30).CopyTo(ld)
	})
	return cases
}

func rawLogCases() map[string][]byte {
	ts := uint64(baseTime.UnixNano())
	rec := wire(nil).fixed64(1, ts).bytes(5, wire(nil).bytes(1, []byte("body"))).bytes(6, kvStr("k", "v"))
	res := wire(nil).bytes(1, kvStr("service.name", "late"))
	req := func(rl wire) []byte { return wire(nil).bytes(1, rl) }
	return map[string][]byte{
		"resource and scope after records": req(wire(nil).bytes(2, wire(nil).bytes(2, rec).bytes(1, wire(nil).bytes(1, []byte("lib"))).bytes(3, []byte("ss"))).bytes(3, []byte("rs")).bytes(1, res)),
		"repeated resource":                req(wire(nil).bytes(1, res).bytes(1, res).bytes(2, wire(nil).bytes(2, rec))),
		"deprecated scope logs":            req(wire(nil).bytes(1000, wire(nil).bytes(2, rec))),
		"body fields merge":                req(wire(nil).bytes(2, wire(nil).bytes(2, rec.bytes(5, wire(nil).varint(3, 7)).bytes(5, wire(nil).bytes(20, nil))))),
		"severity overflow":                req(wire(nil).bytes(2, wire(nil).bytes(2, rec.varint(2, 1<<40|9)))),
		"short span id":                    req(wire(nil).bytes(2, wire(nil).bytes(2, rec.bytes(10, []byte{1, 2})))),
		"time as varint":                   req(wire(nil).bytes(2, wire(nil).bytes(2, rec.varint(11, 1)))),
		"flags as fixed64":                 req(wire(nil).bytes(2, wire(nil).bytes(2, rec.fixed64(8, 1)))),
		"map body then bad span id":        req(wire(nil).bytes(2, wire(nil).bytes(2, rec.bytes(5, wire(nil).bytes(6, nil)).bytes(10, []byte{1})))),
		"truncated":                        req(wire(nil).bytes(2, wire(nil).bytes(2, rec)))[:20],
	}
}

func TestAppendLogsProtoMatchesAppendLogs(t *testing.T) {
	prefill := marshalLogs(t, genLogs(100, 2, baseTime, time.Second))
	for name, ld := range logCases() {
		t.Run(name, func(t *testing.T) {
			b := marshalLogs(t, ld)
			for _, lim := range []RowLimits{{}, {MaxAttributeBytes: 64, MaxBodyBytes: 64}} {
				if err := diffLogs(b, nil, lim); err != nil {
					t.Errorf("limits %+v: %v", lim, err)
				}
				if err := diffLogs(b, prefill, lim); err != nil {
					t.Errorf("limits %+v, after other rows: %v", lim, err)
				}
			}
		})
	}
	for name, b := range rawLogCases() {
		t.Run(name, func(t *testing.T) {
			if err := diffLogs(b, prefill, RowLimits{}); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAppendLogsProtoFallsBackOnlyWhenNeeded(t *testing.T) {
	for name, ld := range logCases() {
		var r LogRows
		if _, err := r.AppendLogsProto(marshalLogs(t, ld), nil); err != nil {
			t.Fatal(err)
		}
		if r.wire.fallbacks > 0 {
			t.Errorf("%s: %d requests decoded by pdata", name, r.wire.fallbacks)
		}
		want := name == "map body" || name == "bytes body" || name == "JSON scope and resource"
		if (r.wire.pdataDecodes > 0) != want {
			t.Errorf("%s: %d messages decoded by pdata", name, r.wire.pdataDecodes)
		}
	}
}

func TestAppendLogsProtoMalformedLeavesRows(t *testing.T) {
	var r LogRows
	ok := marshalLogs(t, genLogs(1, 4, baseTime, time.Second))
	if n, err := r.AppendLogsProto(ok, nil); err != nil || n != 4 {
		t.Fatalf("AppendLogsProto = %d, %v", n, err)
	}
	bad := append(append([]byte(nil), ok...), 0x0a, 0x10, 0x01)
	n, err := r.AppendLogsProto(bad, func(error) { t.Error("reject on a malformed request") })
	if err == nil || n != 0 || r.Len() != 4 || !strings.Contains(err.Error(), "decode OTLP logs protobuf") {
		t.Fatalf("AppendLogsProto(malformed) = %d, %v; rows %d", n, err, r.Len())
	}
}
