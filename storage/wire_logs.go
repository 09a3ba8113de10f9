package storage

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowlens/flowlens/internal/otlpwire"
)

// AppendLogsProto appends the rows of an OTLP ExportLogsServiceRequest in
// protobuf, read in place: the same rows, rejects (same records, same error
// text) and count as AppendLogs on what plog.ProtoUnmarshaler decodes from b.
// b is only read and may be reused after the call: the strings of the new
// rows live in memory owned by r (see LogRows). Rejects are reported once the
// whole request has been read.
//
// Malformed bytes (anything pdata refuses) return an error wrapping pdata's
// and leave r as it was. A resource, scope or log record holding an array,
// map or bytes value (a structured body, say) is decoded by pdata on its own
// and converted by AppendLogs' code; repeated resource or scope messages and
// the deprecated instrumentation_library_logs send the whole request that
// way. Either gives the same result, more slowly.
func (r *LogRows) AppendLogsProto(b []byte, onReject RejectFunc) (int, error) {
	start := r.Len()
	w := &r.wire
	n, err := r.appendLogsWire(b)
	if err == nil {
		w.handRejects(onReject)
		return n, nil
	}
	w.handRejects(nil)
	w.fallbacks++
	r.truncate(start)
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
	if err != nil {
		return 0, fmt.Errorf("decode OTLP logs protobuf: %w", err)
	}
	return r.AppendLogs(ld, onReject), nil
}

// Truncate drops the rows from n on (n <= Len), and the rejections of a
// request being read: it undoes an append that did not finish (a reader
// that panicked part-way through a message).
func (r *LogRows) Truncate(n int) {
	r.wire.handRejects(nil)
	r.truncate(n)
}

// truncate drops the rows from n on.
func (r *LogRows) truncate(n int) {
	clear(r.ResourceAttributes[n:])
	clear(r.ScopeAttributes[n:])
	clear(r.LogAttributes[n:])
	r.Timestamp = r.Timestamp[:n]
	r.TraceID = r.TraceID[:n]
	r.SpanID = r.SpanID[:n]
	r.TraceFlags = r.TraceFlags[:n]
	r.SeverityText = r.SeverityText[:n]
	r.SeverityNumber = r.SeverityNumber[:n]
	r.ServiceName = r.ServiceName[:n]
	r.Body = r.Body[:n]
	r.ResourceSchemaURL = r.ResourceSchemaURL[:n]
	r.ResourceAttributes = r.ResourceAttributes[:n]
	r.ScopeSchemaURL = r.ScopeSchemaURL[:n]
	r.ScopeName = r.ScopeName[:n]
	r.ScopeVersion = r.ScopeVersion[:n]
	r.ScopeAttributes = r.ScopeAttributes[:n]
	r.LogAttributes = r.LogAttributes[:n]
	r.EventName = r.EventName[:n]
}

// appendLogsWire reads ExportLogsServiceRequest{1: ResourceLogs}.
// errWireFallback means: undo and ask pdata.
func (r *LogRows) appendLogsWire(b []byte) (int, error) {
	lim := r.Limits.withDefaults()
	n := 0
	for len(b) > 0 {
		f, size := otlpwire.Read(b)
		if size < 0 {
			return n, errWireFallback
		}
		b = b[size:]
		if f.Tag() != otlpwire.LogsRequestResourceLogs {
			if otlpwire.ExportLogsServiceRequest.WrongType(f.Num, f.Type) {
				return n, errWireFallback
			}
			continue
		}
		c, err := r.resourceLogsWire(f.V, lim)
		n += c
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// logScope is what a ScopeLogs gives its rows.
type logScope struct {
	schemaURL string
	scope     wireScope
}

// resourceLogsWire reads ResourceLogs{1: Resource, 2: ScopeLogs, 3: schema_url}.
func (r *LogRows) resourceLogsWire(b []byte, lim RowLimits) (int, error) {
	var resMsg, schema []byte
	nres := 0
	for p := b; len(p) > 0; {
		f, size := otlpwire.Read(p)
		if size < 0 {
			return 0, errWireFallback
		}
		p = p[size:]
		switch f.Tag() {
		case otlpwire.ResourceLogsResource:
			resMsg = f.V
			nres++
		case otlpwire.ResourceLogsSchemaURL:
			schema = f.V
		case otlpwire.ResourceLogsScopeLogs:
			// read below
		case otlpwire.ResourceLogsLibraryLogs:
			return 0, errWireFallback
		default:
			if otlpwire.ResourceLogs.WrongType(f.Num, f.Type) {
				return 0, errWireFallback
			}
		}
	}
	if nres > 1 { // pdata merges repeated messages
		return 0, errWireFallback
	}
	res, err := r.wire.resource(&r.keys, resMsg, lim.MaxAttributeBytes)
	if err != nil {
		return 0, err
	}
	resSchema := r.wire.str(schema)
	resErr := res.err // AppendLogs: a scope's error sticks to the later scopes of its resource
	n := 0
	for p := b; len(p) > 0; {
		f, rest, _ := otlpwire.Next(p)
		p = rest
		if f.Tag() != otlpwire.ResourceLogsScopeLogs {
			continue
		}
		c, err := r.scopeLogsWire(f.V, &res, resSchema, &resErr, lim)
		n += c
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// scopeLogsWire reads ScopeLogs{1: InstrumentationScope, 2: LogRecord, 3: schema_url}.
func (r *LogRows) scopeLogsWire(b []byte, res *wireResource, resSchema string, resErr *error, lim RowLimits) (int, error) {
	var scopeMsg, schema []byte
	nscope := 0
	for p := b; len(p) > 0; {
		f, size := otlpwire.Read(p)
		if size < 0 {
			return 0, errWireFallback
		}
		p = p[size:]
		switch f.Tag() {
		case otlpwire.ScopeLogsScope:
			scopeMsg = f.V
			nscope++
		case otlpwire.ScopeLogsSchemaURL:
			schema = f.V
		case otlpwire.ScopeLogsLogRecords:
			// read below
		default:
			if otlpwire.ScopeLogs.WrongType(f.Num, f.Type) {
				return 0, errWireFallback
			}
		}
	}
	if nscope > 1 {
		return 0, errWireFallback
	}
	sc, err := r.wire.scope(&r.keys, scopeMsg, lim.MaxAttributeBytes)
	if err != nil {
		return 0, err
	}
	if sc.err != nil && *resErr == nil {
		*resErr = fmt.Errorf("scope: %w", sc.err)
	}
	ls := logScope{schemaURL: r.wire.str(schema), scope: sc}
	n := 0
	for p := b; len(p) > 0; {
		f, rest, _ := otlpwire.Next(p)
		p = rest
		if f.Tag() != otlpwire.ScopeLogsLogRecords {
			continue
		}
		ok, err := r.logWire(f.V, res, resSchema, *resErr, &ls, lim)
		if err == errWireUnsupported {
			ok, err = r.pdataLog(f.V, res, resSchema, *resErr, &ls, lim)
		}
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// logWire reads one LogRecord and appends its row, or queues its reject.
func (r *LogRows) logWire(b []byte, res *wireResource, resSchema string, resErr error, ls *logScope, lim RowLimits) (bool, error) {
	w := &r.wire
	var (
		ts, observed                 uint64
		sev                          int32
		flags                        uint32
		sevText, tid, sid, eventName []byte
		body                         anyValue
		attrs                        = w.list(&w.hintSpan)
	)
	for len(b) > 0 {
		var f otlpwire.Field
		if num, v, n := otlpwire.ReadShortBytes(b); n > 0 {
			f.Num, f.Type, f.V = num, protowire.BytesType, v
			b = b[n:]
		} else {
			var size int
			if f, size = otlpwire.Read(b); size < 0 {
				return false, errWireFallback
			}
			b = b[size:]
		}
		switch f.Tag() {
		case otlpwire.LogRecordTime:
			ts = f.X
		case otlpwire.LogRecordObservedTime:
			observed = f.X
		case otlpwire.LogRecordSeverityNumber:
			sev = int32(f.X)
		case otlpwire.LogRecordFlags:
			flags = uint32(f.X)
		case otlpwire.LogRecordSeverityText:
			sevText = f.V
		case otlpwire.LogRecordBody:
			if err := body.read(f.V); err != nil {
				return false, err
			}
		case otlpwire.LogRecordAttributes:
			if _, _, err := attrs.add(&r.keys, f.V, lim.MaxAttributeBytes); err != nil {
				return false, err
			}
		case otlpwire.LogRecordTraceID:
			if len(f.V) != 0 && len(f.V) != 16 {
				return false, errWireFallback
			}
			tid = f.V
		case otlpwire.LogRecordSpanID:
			if len(f.V) != 0 && len(f.V) != 8 {
				return false, errWireFallback
			}
			sid = f.V
		case otlpwire.LogRecordEventName:
			eventName = f.V
		default:
			if otlpwire.LogRecord.WrongType(f.Num, f.Type) {
				return false, errWireFallback
			}
		}
	}
	logAttrs := attrs.close()

	// the checks of AppendLogs and appendLog, in their order
	what := "time"
	if ts == 0 {
		ts, what = observed, "observed time (time unset)"
	}
	bodyStr := w.asString(&body)
	reject := resErr
	if reject == nil {
		reject = checkTimestamp(pcommon.Timestamp(ts), what)
	}
	if reject == nil && len(bodyStr) > lim.MaxBodyBytes {
		reject = fmt.Errorf("%w: body is %d bytes (limit %d)", ErrAttributeTooLarge, len(bodyStr), lim.MaxBodyBytes)
	}
	if reject == nil {
		reject = attrs.tooBig
	}
	if reject != nil {
		var t pcommon.TraceID
		copy(t[:], tid)
		w.rejects = append(w.rejects, fmt.Errorf("log record of %s (trace %s): %w", quoteForError(res.service), hexTraceID(t), reject))
		return false, nil
	}
	if sev < 0 || sev > 255 {
		sev = 0
	}
	r.Timestamp = append(r.Timestamp, pcommon.Timestamp(ts).AsTime())
	r.TraceID = append(r.TraceID, w.hexID(tid))
	r.SpanID = append(r.SpanID, w.hexID(sid))
	r.TraceFlags = append(r.TraceFlags, uint8(flags))
	r.SeverityText = append(r.SeverityText, w.str(sevText))
	r.SeverityNumber = append(r.SeverityNumber, uint8(sev))
	r.Body = append(r.Body, bodyStr)
	r.LogAttributes = append(r.LogAttributes, logAttrs)
	r.EventName = append(r.EventName, w.str(eventName))
	r.appendResourceScope(res, resSchema, ls)
	return true, nil
}

// appendResourceScope appends the resource and scope columns of a row.
func (r *LogRows) appendResourceScope(res *wireResource, resSchema string, ls *logScope) {
	r.ServiceName = append(r.ServiceName, res.service)
	r.ResourceSchemaURL = append(r.ResourceSchemaURL, resSchema)
	r.ResourceAttributes = append(r.ResourceAttributes, res.attrs)
	r.ScopeSchemaURL = append(r.ScopeSchemaURL, ls.schemaURL)
	r.ScopeName = append(r.ScopeName, ls.scope.name)
	r.ScopeVersion = append(r.ScopeVersion, ls.scope.version)
	r.ScopeAttributes = append(r.ScopeAttributes, ls.scope.attrs)
}

// pdataLog converts one log record through pdata and appendLog, for a
// record holding values logWire leaves to pdata (a map or array body).
func (r *LogRows) pdataLog(b []byte, res *wireResource, resSchema string, resErr error, ls *logScope, lim RowLimits) (bool, error) {
	ld, err := r.wire.pdataLogs(b, otlpwire.LogsRequestResourceLogs, otlpwire.ResourceLogsScopeLogs, otlpwire.ScopeLogsLogRecords)
	if err != nil {
		return false, err
	}
	rec := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	err = resErr
	if err == nil {
		err = r.appendLog(rec, lim)
	}
	if err != nil {
		r.wire.rejects = append(r.wire.rejects, fmt.Errorf("log record of %s (trace %s): %w", quoteForError(res.service),
			hexTraceID(rec.TraceID()), err))
		return false, nil
	}
	r.appendResourceScope(res, resSchema, ls)
	return true, nil
}
