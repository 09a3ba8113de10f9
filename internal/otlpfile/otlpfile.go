// Package otlpfile decodes files of OTLP export requests: OTLP JSON (one
// request, or one per line as the OpenTelemetry Collector's file exporter
// writes them) or one OTLP protobuf ExportTraceServiceRequest /
// ExportLogsServiceRequest. It tells traces from logs when not told which.
package otlpfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Kind is what a file holds.
type Kind string

const (
	Auto   Kind = "auto" // traces or logs, detected
	Traces Kind = "traces"
	Logs   Kind = "logs"
)

// ErrAmbiguous is returned for protobuf that decodes as plausible traces
// and as plausible logs: the caller has to say which it is.
var ErrAmbiguous = errors.New("cannot tell whether the protobuf holds traces or logs")

// Requests are the export requests of one file: of traces or of logs,
// never both.
type Requests struct {
	Traces []ptrace.Traces // nil for a file of logs
	Logs   []plog.Logs     // nil for a file of traces
}

// Decode reads the requests of a file's contents, of the given kind (Auto:
// detected). On success exactly one of Traces and Logs is non-nil.
func Decode(data []byte, kind Kind) (Requests, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Requests{}, errors.New("empty file")
	}
	if trimmed[0] == '{' {
		return decodeJSON(trimmed, kind)
	}
	return decodeProto(data, kind)
}

func decodeJSON(data []byte, kind Kind) (Requests, error) {
	var docs [][]byte
	// One document, or one per line (the file exporter's format).
	if json.Valid(data) {
		docs = [][]byte{data}
	} else {
		for i, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if !json.Valid(line) {
				return Requests{}, fmt.Errorf("line %d: not valid JSON", i+1)
			}
			docs = append(docs, line)
		}
	}
	var reqs Requests
	for i, doc := range docs {
		k := kind
		if k == Auto {
			var top map[string]json.RawMessage
			if err := json.Unmarshal(doc, &top); err != nil {
				return Requests{}, fmt.Errorf("document %d: %w", i+1, err)
			}
			_, hasSpans := top["resourceSpans"]
			_, hasLogs := top["resourceLogs"]
			switch {
			case hasSpans && !hasLogs:
				k = Traces
			case hasLogs && !hasSpans:
				k = Logs
			default:
				return Requests{}, fmt.Errorf("document %d: neither OTLP traces (resourceSpans) nor logs (resourceLogs)", i+1)
			}
		}
		if k == Traces {
			td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(doc)
			if err != nil {
				return Requests{}, fmt.Errorf("document %d: OTLP JSON traces: %w", i+1, err)
			}
			reqs.Traces = append(reqs.Traces, td)
		} else {
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(doc)
			if err != nil {
				return Requests{}, fmt.Errorf("document %d: OTLP JSON logs: %w", i+1, err)
			}
			reqs.Logs = append(reqs.Logs, ld)
		}
	}
	if len(reqs.Traces) > 0 && len(reqs.Logs) > 0 {
		return Requests{}, errors.New("file mixes traces and logs; load them from separate files")
	}
	return reqs, nil
}

// decodeProto tells traces from logs by decoding both ways: the field
// numbers overlap, but a request of the other kind either fails to decode
// (wire types differ) or decodes into records without IDs or timestamps.
func decodeProto(data []byte, kind Kind) (Requests, error) {
	var (
		td         ptrace.Traces
		ld         plog.Logs
		tErr, lErr error
		tOK, lOK   bool
	)
	if kind != Logs {
		td, tErr = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		tOK = tErr == nil && td.SpanCount() > 0 && plausibleTraces(td)
		if kind == Traces {
			if tErr != nil {
				return Requests{}, fmt.Errorf("OTLP protobuf traces: %w", tErr)
			}
			return Requests{Traces: []ptrace.Traces{td}}, nil
		}
	}
	ld, lErr = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(data)
	lOK = lErr == nil && ld.LogRecordCount() > 0 && plausibleLogs(ld)
	if kind == Logs {
		if lErr != nil {
			return Requests{}, fmt.Errorf("OTLP protobuf logs: %w", lErr)
		}
		return Requests{Logs: []plog.Logs{ld}}, nil
	}
	switch {
	case tOK && !lOK:
		return Requests{Traces: []ptrace.Traces{td}}, nil
	case lOK && !tOK:
		return Requests{Logs: []plog.Logs{ld}}, nil
	case tOK && lOK:
		return Requests{}, ErrAmbiguous
	}
	return Requests{}, fmt.Errorf("neither OTLP JSON nor OTLP protobuf traces or logs (as traces: %v; as logs: %v)",
		errOrEmpty(tErr), errOrEmpty(lErr))
}

func errOrEmpty(err error) string {
	if err == nil {
		return "no spans with IDs and start times"
	}
	return err.Error()
}

func plausibleTraces(td ptrace.Traces) bool {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		ss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < ss.Len(); j++ {
			spans := ss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() || sp.StartTimestamp() == 0 {
					return false
				}
			}
		}
	}
	return true
}

func plausibleLogs(ld plog.Logs) bool {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sl := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sl.Len(); j++ {
			recs := sl.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				r := recs.At(k)
				if r.Timestamp() == 0 && r.ObservedTimestamp() == 0 {
					return false
				}
			}
		}
	}
	return true
}
