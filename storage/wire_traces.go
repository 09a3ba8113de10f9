package storage

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowlens/flowlens/internal/otlpwire"
)

// AppendTracesProto appends the rows of an OTLP ExportTraceServiceRequest in
// protobuf, read in place: the same rows, rejects (same spans, same error
// text) and count as AppendTraces on what ptrace.ProtoUnmarshaler decodes
// from b, at a fraction of the cost. b is only read and may be reused after
// the call: the strings of the new rows live in memory owned by r (see
// SpanRows). Rejects are reported once the whole request has been read.
//
// Malformed bytes (anything pdata refuses, e.g. an ID of the wrong length)
// return an error wrapping pdata's, and leave r as it was: no rows, no
// rejects. A resource, scope or span holding an array, map or bytes value
// (whose AsString is JSON or base64) is decoded by pdata on its own and
// converted by AppendTraces' code; repeated resource or scope messages and
// the deprecated instrumentation_library_spans send the whole request that
// way. Either gives the same result, more slowly.
//
// A typical loop: rows.AppendTracesProto(msg.Value, deadLetterRecord); an
// error means the message cannot be decoded (dead-letter it whole).
func (r *SpanRows) AppendTracesProto(b []byte, onReject RejectFunc) (int, error) {
	start := r.Len()
	w := &r.wire
	n, err := r.appendTracesWire(b)
	if err == nil {
		w.handRejects(onReject)
		return n, nil
	}
	w.handRejects(nil)
	w.fallbacks++
	r.truncate(start)
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		return 0, fmt.Errorf("decode OTLP traces protobuf: %w", err)
	}
	return r.AppendTraces(td, onReject), nil
}

// Truncate drops the rows from n on (n <= Len), and the rejections of a
// request being read: it undoes an append that did not finish (a reader
// that panicked part-way through a message).
func (r *SpanRows) Truncate(n int) {
	r.wire.handRejects(nil)
	r.truncate(n)
}

// truncate drops the rows from n on.
func (r *SpanRows) truncate(n int) {
	clear(r.ResourceAttributes[n:])
	clear(r.SpanAttributes[n:])
	clear(r.EventsAttributes[n:])
	clear(r.LinksAttributes[n:])
	r.Timestamp = r.Timestamp[:n]
	r.TraceID = r.TraceID[:n]
	r.SpanID = r.SpanID[:n]
	r.ParentSpanID = r.ParentSpanID[:n]
	r.TraceState = r.TraceState[:n]
	r.SpanName = r.SpanName[:n]
	r.SpanKind = r.SpanKind[:n]
	r.ServiceName = r.ServiceName[:n]
	r.ResourceAttributes = r.ResourceAttributes[:n]
	r.ScopeName = r.ScopeName[:n]
	r.ScopeVersion = r.ScopeVersion[:n]
	r.SpanAttributes = r.SpanAttributes[:n]
	r.Duration = r.Duration[:n]
	r.StatusCode = r.StatusCode[:n]
	r.StatusMessage = r.StatusMessage[:n]
	r.EventsTimestamp = r.EventsTimestamp[:n]
	r.EventsName = r.EventsName[:n]
	r.EventsAttributes = r.EventsAttributes[:n]
	r.LinksTraceID = r.LinksTraceID[:n]
	r.LinksSpanID = r.LinksSpanID[:n]
	r.LinksTraceState = r.LinksTraceState[:n]
	r.LinksAttributes = r.LinksAttributes[:n]
}

// appendTracesWire reads ExportTraceServiceRequest{1: ResourceSpans}.
// errWireFallback means: undo and ask pdata.
func (r *SpanRows) appendTracesWire(b []byte) (int, error) {
	lim := r.Limits.withDefaults()
	n := 0
	for len(b) > 0 {
		f, size := otlpwire.Read(b)
		if size < 0 {
			return n, errWireFallback
		}
		b = b[size:]
		if f.Tag() != otlpwire.TracesRequestResourceSpans {
			if otlpwire.ExportTraceServiceRequest.WrongType(f.Num, f.Type) {
				return n, errWireFallback
			}
			continue
		}
		c, err := r.resourceSpansWire(f.V, lim)
		n += c
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// resourceSpansWire reads ResourceSpans{1: Resource, 2: ScopeSpans, 3: schema_url}.
func (r *SpanRows) resourceSpansWire(b []byte, lim RowLimits) (int, error) {
	// the resource may follow its scope spans on the wire: find it first
	var resMsg []byte
	nres := 0
	for p := b; len(p) > 0; {
		f, size := otlpwire.Read(p)
		if size < 0 {
			return 0, errWireFallback
		}
		p = p[size:]
		switch f.Tag() {
		case otlpwire.ResourceSpansResource:
			resMsg = f.V
			nres++
		case otlpwire.ResourceSpansScopeSpans, otlpwire.ResourceSpansSchemaURL:
			// scopes: read below
		case otlpwire.ResourceSpansLibrarySpans:
			return 0, errWireFallback
		default:
			if otlpwire.ResourceSpans.WrongType(f.Num, f.Type) {
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
	n := 0
	for p := b; len(p) > 0; {
		f, rest, _ := otlpwire.Next(p)
		p = rest
		if f.Tag() != otlpwire.ResourceSpansScopeSpans {
			continue
		}
		c, err := r.scopeSpansWire(f.V, &res, lim)
		n += c
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// scopeSpansWire reads ScopeSpans{1: InstrumentationScope, 2: Span, 3: schema_url}.
func (r *SpanRows) scopeSpansWire(b []byte, res *wireResource, lim RowLimits) (int, error) {
	var scopeMsg []byte
	nscope := 0
	for p := b; len(p) > 0; {
		f, size := otlpwire.Read(p)
		if size < 0 {
			return 0, errWireFallback
		}
		p = p[size:]
		switch f.Tag() {
		case otlpwire.ScopeSpansScope:
			scopeMsg = f.V
			nscope++
		case otlpwire.ScopeSpansSpans, otlpwire.ScopeSpansSchemaURL:
			// spans: read below
		default:
			if otlpwire.ScopeSpans.WrongType(f.Num, f.Type) {
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
	n := 0
	for p := b; len(p) > 0; {
		f, rest, _ := otlpwire.Next(p)
		p = rest
		if f.Tag() != otlpwire.ScopeSpansSpans {
			continue
		}
		ok, err := r.spanWire(f.V, res, &sc, lim)
		if err == errWireUnsupported {
			ok, err = r.pdataSpan(f.V, res, &sc, lim)
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

// spanWire reads one Span and appends its row, or queues its reject.
func (r *SpanRows) spanWire(b []byte, res *wireResource, sc *wireScope, lim RowLimits) (bool, error) {
	w := &r.wire
	limit := lim.MaxAttributeBytes
	var (
		tid, sid, pid, state, name, msg []byte
		kind, code                      int32
		start, end                      uint64
		attrs                           = w.list(&w.hintSpan)
	)
	evs, lnks := w.evs[:0], w.lnks[:0]
	defer func() { w.evs, w.lnks = evs[:0], lnks[:0] }()
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
		case otlpwire.SpanTraceID:
			if len(f.V) != 0 && len(f.V) != 16 {
				return false, errWireFallback
			}
			tid = f.V
		case otlpwire.SpanSpanID:
			if len(f.V) != 0 && len(f.V) != 8 {
				return false, errWireFallback
			}
			sid = f.V
		case otlpwire.SpanParentSpanID:
			if len(f.V) != 0 && len(f.V) != 8 {
				return false, errWireFallback
			}
			pid = f.V
		case otlpwire.SpanTraceState:
			state = f.V
		case otlpwire.SpanName:
			name = f.V
		case otlpwire.SpanKind:
			kind = int32(f.X)
		case otlpwire.SpanStartTime:
			start = f.X
		case otlpwire.SpanEndTime:
			end = f.X
		case otlpwire.SpanAttributes:
			if _, _, err := attrs.add(&r.keys, f.V, limit); err != nil {
				return false, err
			}
		case otlpwire.SpanEvents:
			evs = append(evs, f.V)
		case otlpwire.SpanLinks:
			lnks = append(lnks, f.V)
		case otlpwire.SpanStatus:
			for v := f.V; len(v) > 0; {
				g, size := otlpwire.Read(v)
				if size < 0 {
					return false, errWireFallback
				}
				v = v[size:]
				switch g.Tag() {
				case otlpwire.StatusMessage:
					msg = g.V
				case otlpwire.StatusCode:
					code = int32(g.X)
				default:
					if otlpwire.Status.WrongType(g.Num, g.Type) {
						return false, errWireFallback
					}
				}
			}
		default:
			if otlpwire.Span.WrongType(f.Num, f.Type) {
				return false, errWireFallback
			}
		}
	}
	spanAttrs := attrs.close()
	evErr, err := r.eventsWire(evs, limit)
	if err != nil {
		return false, err
	}
	linkErr, err := r.linksWire(lnks, limit)
	if err != nil {
		return false, err
	}

	// the checks of appendSpan, in its order
	var reject error
	switch {
	case res.err != nil:
		reject = fmt.Errorf("resource: %w", res.err)
	case checkTimestamp(pcommon.Timestamp(start), "start time") != nil:
		reject = checkTimestamp(pcommon.Timestamp(start), "start time")
	case len(name) > limit:
		reject = fmt.Errorf("%w: span name is %d bytes (limit %d)", ErrAttributeTooLarge, len(name), limit)
	case len(msg) > limit:
		reject = fmt.Errorf("%w: status message is %d bytes (limit %d)", ErrAttributeTooLarge, len(msg), limit)
	case attrs.tooBig != nil:
		reject = attrs.tooBig
	case evErr != nil:
		reject = evErr
	case linkErr != nil:
		reject = linkErr
	}
	if reject != nil {
		var t pcommon.TraceID
		var s pcommon.SpanID
		copy(t[:], tid)
		copy(s[:], sid)
		w.rejects = append(w.rejects, fmt.Errorf("span %s/%s of %s: %w", hexTraceID(t), hexSpanID(s),
			quoteForError(res.service), reject))
		return false, nil
	}

	var dur uint64
	if end > start {
		dur = end - start
	}
	r.Timestamp = append(r.Timestamp, pcommon.Timestamp(start).AsTime())
	r.TraceID = append(r.TraceID, w.hexID(tid))
	r.SpanID = append(r.SpanID, w.hexID(sid))
	r.ParentSpanID = append(r.ParentSpanID, w.hexID(pid))
	r.TraceState = append(r.TraceState, w.str(state))
	r.SpanName = append(r.SpanName, w.internName(w.str(name)))
	r.SpanKind = append(r.SpanKind, ptrace.SpanKind(kind).String())
	r.ServiceName = append(r.ServiceName, res.service)
	r.ResourceAttributes = append(r.ResourceAttributes, res.attrs)
	r.ScopeName = append(r.ScopeName, sc.name)
	r.ScopeVersion = append(r.ScopeVersion, sc.version)
	r.SpanAttributes = append(r.SpanAttributes, spanAttrs)
	r.Duration = append(r.Duration, dur)
	r.StatusCode = append(r.StatusCode, ptrace.StatusCode(code).String())
	r.StatusMessage = append(r.StatusMessage, w.str(msg))
	if len(evs) > 0 {
		r.EventsTimestamp = append(r.EventsTimestamp, take(w, &w.times, w.evTimes))
		r.EventsName = append(r.EventsName, take(w, &w.names, w.evNames))
		r.EventsAttributes = append(r.EventsAttributes, take(w, &w.attrPtrs, w.evAttrs))
	} else {
		r.EventsTimestamp = append(r.EventsTimestamp, []time.Time{})
		r.EventsName = append(r.EventsName, []string{})
		r.EventsAttributes = append(r.EventsAttributes, []*Attrs{})
	}
	if len(lnks) > 0 {
		r.LinksTraceID = append(r.LinksTraceID, take(w, &w.names, w.lTrace))
		r.LinksSpanID = append(r.LinksSpanID, take(w, &w.names, w.lSpan))
		r.LinksTraceState = append(r.LinksTraceState, take(w, &w.names, w.lState))
		r.LinksAttributes = append(r.LinksAttributes, take(w, &w.attrPtrs, w.lAttrs))
	} else {
		r.LinksTraceID = append(r.LinksTraceID, []string{})
		r.LinksSpanID = append(r.LinksSpanID, []string{})
		r.LinksTraceState = append(r.LinksTraceState, []string{})
		r.LinksAttributes = append(r.LinksAttributes, []*Attrs{})
	}
	return true, nil
}

// eventsWire reads Event messages into the scratch columns. reject is the
// error appendSpan gives the first event with an attribute over the limit.
func (r *SpanRows) eventsWire(evs [][]byte, limit int) (reject error, err error) {
	w := &r.wire
	w.evTimes, w.evNames, w.evAttrs = w.evTimes[:0], w.evNames[:0], w.evAttrs[:0]
	for i, b := range evs {
		var (
			ts    uint64
			name  []byte
			attrs = w.list(&w.hintEvent)
		)
		for len(b) > 0 {
			f, size := otlpwire.Read(b)
			if size < 0 {
				return nil, errWireFallback
			}
			b = b[size:]
			switch f.Tag() {
			case otlpwire.EventTime:
				ts = f.X
			case otlpwire.EventName:
				name = f.V
			case otlpwire.EventAttributes:
				if _, _, err := attrs.add(&r.keys, f.V, limit); err != nil {
					return nil, err
				}
			default:
				if otlpwire.Event.WrongType(f.Num, f.Type) {
					return nil, errWireFallback
				}
			}
		}
		a := attrs.close()
		if attrs.tooBig != nil && reject == nil {
			reject = fmt.Errorf("event %d: %w", i, attrs.tooBig)
		}
		if reject != nil {
			continue
		}
		w.evTimes = append(w.evTimes, pcommon.Timestamp(ts).AsTime())
		w.evNames = append(w.evNames, w.str(name))
		w.evAttrs = append(w.evAttrs, a)
	}
	return reject, nil
}

// linksWire reads Link messages into the scratch columns.
func (r *SpanRows) linksWire(lnks [][]byte, limit int) (reject error, err error) {
	w := &r.wire
	w.lTrace, w.lSpan, w.lState, w.lAttrs = w.lTrace[:0], w.lSpan[:0], w.lState[:0], w.lAttrs[:0]
	for i, b := range lnks {
		var (
			tid, sid, state []byte
			attrs           = w.list(&w.hintLink)
		)
		for len(b) > 0 {
			f, size := otlpwire.Read(b)
			if size < 0 {
				return nil, errWireFallback
			}
			b = b[size:]
			switch f.Tag() {
			case otlpwire.LinkTraceID:
				if len(f.V) != 0 && len(f.V) != 16 {
					return nil, errWireFallback
				}
				tid = f.V
			case otlpwire.LinkSpanID:
				if len(f.V) != 0 && len(f.V) != 8 {
					return nil, errWireFallback
				}
				sid = f.V
			case otlpwire.LinkTraceState:
				state = f.V
			case otlpwire.LinkAttributes:
				if _, _, err := attrs.add(&r.keys, f.V, limit); err != nil {
					return nil, err
				}
			default:
				if otlpwire.Link.WrongType(f.Num, f.Type) {
					return nil, errWireFallback
				}
			}
		}
		a := attrs.close()
		if attrs.tooBig != nil && reject == nil {
			reject = fmt.Errorf("link %d: %w", i, attrs.tooBig)
		}
		if reject != nil {
			continue
		}
		w.lTrace = append(w.lTrace, w.hexID(tid))
		w.lSpan = append(w.lSpan, w.hexID(sid))
		w.lState = append(w.lState, w.str(state))
		w.lAttrs = append(w.lAttrs, a)
	}
	return reject, nil
}

// pdataSpan converts one span through pdata and appendSpan, for a span
// holding values spanWire leaves to pdata.
func (r *SpanRows) pdataSpan(b []byte, res *wireResource, sc *wireScope, lim RowLimits) (bool, error) {
	w := &r.wire
	w.pdataDecodes++
	w.wrap = wrapMsg(w.wrap[:0], b, otlpwire.TracesRequestResourceSpans, otlpwire.ResourceSpansScopeSpans, otlpwire.ScopeSpansSpans)
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(w.wrap)
	if err != nil {
		return false, errWireFallback
	}
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	if err := r.appendSpan(span, res.service, res.attrs, res.err, sc.name, sc.version, lim); err != nil {
		w.rejects = append(w.rejects, fmt.Errorf("span %s/%s of %s: %w", hexTraceID(span.TraceID()), hexSpanID(span.SpanID()),
			quoteForError(res.service), err))
		return false, nil
	}
	return true, nil
}
