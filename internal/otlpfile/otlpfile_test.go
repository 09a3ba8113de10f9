package otlpfile_test

import (
	"bytes"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/otlpfile"
)

// spans and records are requests of n spans or log records.
func spans(n int) ptrace.Traces { return wiretest.Traces(0, n, 4) }
func records(n int) plog.Logs   { return wiretest.Logs(0, n) }

func tracesJSON(t *testing.T, td ptrace.Traces) []byte {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logsJSON(t *testing.T, ld plog.Logs) []byte {
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTellsTracesFromLogs(t *testing.T) {
	tracesPB, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(spans(4))
	logsPB, _ := (&plog.ProtoMarshaler{}).MarshalLogs(records(3))
	jsonLines := bytes.Join([][]byte{logsJSON(t, records(1)), logsJSON(t, records(2)), nil}, []byte("\n"))
	for _, tc := range []struct {
		name           string
		data           []byte
		traces, logs   int // requests
		spans, records int
	}{
		{"JSON document of traces", tracesJSON(t, spans(4)), 1, 0, 4, 0},
		{"JSON document of logs, indented", append([]byte("\n  "), logsJSON(t, records(3))...), 0, 1, 0, 3},
		{"JSON lines of logs", jsonLines, 0, 2, 0, 3},
		{"protobuf traces", tracesPB, 1, 0, 4, 0},
		{"protobuf logs", logsPB, 0, 1, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs, err := otlpfile.Decode(tc.data, otlpfile.Auto)
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs.Traces) != tc.traces || len(reqs.Logs) != tc.logs {
				t.Fatalf("%d trace and %d log requests, want %d and %d", len(reqs.Traces), len(reqs.Logs), tc.traces, tc.logs)
			}
			n, m := 0, 0
			for _, td := range reqs.Traces {
				n += td.SpanCount()
			}
			for _, ld := range reqs.Logs {
				m += ld.LogRecordCount()
			}
			if n != tc.spans || m != tc.records {
				t.Fatalf("%d spans and %d log records, want %d and %d", n, m, tc.spans, tc.records)
			}
		})
	}
}

func TestDecodeTakesTheKindItIsTold(t *testing.T) {
	tracesPB, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(spans(2))
	reqs, err := otlpfile.Decode(tracesPB, otlpfile.Traces)
	if err != nil || len(reqs.Traces) != 1 || reqs.Logs != nil {
		t.Fatalf("traces told: %+v, %v", reqs, err)
	}
	// Trace protobuf read as logs: a field of another wire type.
	if _, err := otlpfile.Decode(tracesPB, otlpfile.Logs); err == nil || !strings.HasPrefix(err.Error(), "OTLP protobuf logs: ") {
		t.Fatalf("traces read as logs: %v", err)
	}
}

func TestDecodeRefusesWhatItCannotRead(t *testing.T) {
	mixed := bytes.Join([][]byte{tracesJSON(t, spans(1)), logsJSON(t, records(1))}, []byte("\n"))
	badLine := bytes.Join([][]byte{logsJSON(t, records(1)), []byte("{not json")}, []byte("\n"))
	for _, tc := range []struct {
		name, data, err string
	}{
		{"empty", " \n", "empty file"},
		{"traces and logs in one file", string(mixed), "file mixes traces and logs; load them from separate files"},
		{"a line that is not JSON", string(badLine), "line 2: not valid JSON"},
		{"JSON that is not OTLP", `{"spans": []}`, "document 1: neither OTLP traces (resourceSpans) nor logs (resourceLogs)"},
		{"garbage", "\x00\x01not otlp at all", "neither OTLP JSON nor OTLP protobuf traces or logs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := otlpfile.Decode([]byte(tc.data), otlpfile.Auto); err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
