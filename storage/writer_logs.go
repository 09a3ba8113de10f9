package storage

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

// LogRows is a columnar buffer of otel_logs rows. Fill it with AppendLogs
// or AppendLogsProto, store it with Store.InsertLogs, then Reset and reuse
// it. Not safe for concurrent use.
//
// Memory: as for SpanRows, AppendLogsProto's strings and attribute maps live
// in chunks owned by the rows; Reset drops them without overwriting them,
// so values taken from the rows stay valid after Reset.
type LogRows struct {
	// Limits apply to records appended afterwards; zero fields take defaults.
	Limits RowLimits
	keys   keyCache
	wire   wireArena // AppendLogsProto's memory (wire_rows.go)

	Timestamp          []time.Time
	TraceID            []string
	SpanID             []string
	TraceFlags         []uint8
	SeverityText       []string
	SeverityNumber     []uint8
	ServiceName        []string
	Body               []string
	ResourceSchemaURL  []string
	ResourceAttributes []*Attrs
	ScopeSchemaURL     []string
	ScopeName          []string
	ScopeVersion       []string
	ScopeAttributes    []*Attrs
	LogAttributes      []*Attrs
	EventName          []string
}

var logColumns = []string{
	"Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber",
	"ServiceName", "Body", "ResourceSchemaUrl", "ResourceAttributes", "ScopeSchemaUrl",
	"ScopeName", "ScopeVersion", "ScopeAttributes", "LogAttributes", "EventName",
}

func (r *LogRows) columns() []any {
	return []any{
		r.Timestamp, r.TraceID, r.SpanID, r.TraceFlags, r.SeverityText, r.SeverityNumber,
		r.ServiceName, r.Body, r.ResourceSchemaURL, r.ResourceAttributes, r.ScopeSchemaURL,
		r.ScopeName, r.ScopeVersion, r.ScopeAttributes, r.LogAttributes, r.EventName,
	}
}

// Len is the number of rows buffered.
func (r *LogRows) Len() int { return len(r.Timestamp) }

// Reset empties the buffer, keeping its capacity.
func (r *LogRows) Reset() {
	r.wire.reset()
	r.truncate(0)
}

// AppendLogs converts every log record of ld into a row, as the
// OpenTelemetry ClickHouse exporter does: Timestamp is the record's time, or
// its observed time when unset; ServiceName from the resource's service.name;
// Body as a string (maps and arrays as JSON). A record that cannot be stored
// (no usable time, a body or attribute over the limit) is passed to onReject
// (may be nil) and skipped. It returns the number of rows appended.
func (r *LogRows) AppendLogs(ld plog.Logs, onReject RejectFunc) int {
	lim := r.Limits.withDefaults()
	n := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource()
		service := ""
		if v, ok := res.Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		resAttrs, resErr := attrsOf(res.Attributes(), lim.MaxAttributeBytes, &r.keys)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := sl.Scope()
			scopeAttrs, scopeErr := attrsOf(scope.Attributes(), lim.MaxAttributeBytes, &r.keys)
			if scopeErr != nil && resErr == nil {
				resErr = fmt.Errorf("scope: %w", scopeErr)
			}
			recs := sl.LogRecords()
			for k := 0; k < recs.Len(); k++ {
				rec := recs.At(k)
				err := resErr
				if err == nil {
					err = r.appendLog(rec, lim)
				}
				if err != nil {
					if onReject != nil {
						onReject(fmt.Errorf("log record of %s (trace %s): %w", quoteForError(service), hexTraceID(rec.TraceID()), err))
					}
					continue
				}
				r.ServiceName = append(r.ServiceName, service)
				r.ResourceSchemaURL = append(r.ResourceSchemaURL, rl.SchemaUrl())
				r.ResourceAttributes = append(r.ResourceAttributes, resAttrs)
				r.ScopeSchemaURL = append(r.ScopeSchemaURL, sl.SchemaUrl())
				r.ScopeName = append(r.ScopeName, scope.Name())
				r.ScopeVersion = append(r.ScopeVersion, scope.Version())
				r.ScopeAttributes = append(r.ScopeAttributes, scopeAttrs)
				n++
			}
		}
	}
	return n
}

// appendLog appends the record's own columns (the caller appends the
// resource and scope ones).
func (r *LogRows) appendLog(rec plog.LogRecord, lim RowLimits) error {
	ts := rec.Timestamp()
	what := "time"
	if ts == 0 {
		ts, what = rec.ObservedTimestamp(), "observed time (time unset)"
	}
	if err := checkTimestamp(ts, what); err != nil {
		return err
	}
	body := rec.Body().AsString()
	if len(body) > lim.MaxBodyBytes {
		return fmt.Errorf("%w: body is %d bytes (limit %d)", ErrAttributeTooLarge, len(body), lim.MaxBodyBytes)
	}
	attrs, err := attrsOf(rec.Attributes(), lim.MaxAttributeBytes, &r.keys)
	if err != nil {
		return err
	}
	sev := rec.SeverityNumber()
	if sev < 0 || sev > 255 {
		sev = 0
	}
	r.Timestamp = append(r.Timestamp, ts.AsTime())
	r.TraceID = append(r.TraceID, hexTraceID(rec.TraceID()))
	r.SpanID = append(r.SpanID, hexSpanID(rec.SpanID()))
	r.TraceFlags = append(r.TraceFlags, uint8(rec.Flags()))
	r.SeverityText = append(r.SeverityText, rec.SeverityText())
	r.SeverityNumber = append(r.SeverityNumber, uint8(sev))
	r.Body = append(r.Body, body)
	r.LogAttributes = append(r.LogAttributes, attrs)
	r.EventName = append(r.EventName, rec.EventName())
	return nil
}

// InsertLogs stores rows in one INSERT; dedupToken as for InsertSpans.
func (s *Store) InsertLogs(ctx context.Context, rows *LogRows, dedupToken string) error {
	if rows.Len() == 0 {
		return nil
	}
	if err := s.insertColumns(ctx, LogsTable, logColumns, rows.columns(), dedupToken, true); err != nil {
		return fmt.Errorf("insert %d logs: %w", rows.Len(), err)
	}
	return nil
}
