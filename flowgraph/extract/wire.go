package extract

import (
	"fmt"

	"github.com/flowlens/flowlens/conformance/policy"
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/internal/otlpwire"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// Protobuf extracts the spans of an OTLP ExportTraceServiceRequest straight
// from its protobuf bytes, without building pdata: the fields the flow graph
// needs are read in place and strings are interned from the buffer. It hands
// the same spans to h as Traces does for the unmarshalled request, and
// returns their number. b is only read; it may be reused after the call.
//
// The fields it reads (named in otlpwire):
//
//	Request{ResourceSpans{Resource{KeyValue}, ScopeSpans{Span}}}
//	Span{trace_id, span_id, parent_span_id, kind, start, end, KeyValue,
//	     Event{time, name, KeyValue}, Link{trace_id, span_id}, Status{code}}
//	KeyValue{key, AnyValue{string, bool, int, ...}}
//
// It accepts everything pdata's unmarshaller accepts and extracts the same
// spans (a differential test checks it); IDs of a wrong length, which pdata
// refuses, are truncated or zero-padded here.
func (e *Extractor) Protobuf(b []byte, h Handler) (int, error) {
	n := 0
	err := otlpwire.Each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if !otlpwire.TracesRequestResourceSpans.Is(num, typ) {
			return nil
		}
		c, err := e.resourceSpans(v, h)
		n += c
		return err
	})
	if err != nil {
		return n, fmt.Errorf("otlp protobuf: %w", err)
	}
	return n, nil
}

func (e *Extractor) resourceSpans(b []byte, h Handler) (int, error) {
	svc, err := e.resourceService(b)
	if err != nil {
		return 0, err
	}
	n := 0
	err = otlpwire.Each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if !otlpwire.ResourceSpansScopeSpans.Is(num, typ) {
			return nil
		}
		return otlpwire.Each(v, func(num protowire.Number, typ protowire.Type, sp []byte, _ uint64) error {
			if !otlpwire.ScopeSpansSpans.Is(num, typ) {
				return nil
			}
			if err := e.wireSpan(sp, svc); err != nil {
				return err
			}
			h.HandleSpan(&e.span)
			n++
			return nil
		})
	})
	return n, err
}

// resourceService is the service.name of a ResourceSpans or ResourceLogs
// (their Resource has the same field number), or UnknownService. The resource may
// follow its scopes on the wire, so it is found before they are read.
func (e *Extractor) resourceService(b []byte) (intern.ID, error) {
	svc := intern.None
	err := otlpwire.Each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if otlpwire.ResourceSpansResource.Is(num, typ) {
			return otlpwire.Each(v, func(num protowire.Number, typ protowire.Type, kv []byte, _ uint64) error {
				if !otlpwire.ResourceAttributes.Is(num, typ) {
					return nil
				}
				k, kind, str, _, err := keyValue(kv)
				if err == nil && svc == intern.None && string(k) == "service.name" && kind == valStr {
					svc = e.strings.IDBytes(str)
				}
				return err
			})
		}
		return nil
	})
	if err != nil {
		return intern.None, err
	}
	if svc == intern.None {
		svc = e.strings.ID(UnknownService)
	}
	return svc, nil
}

// LogsProtobuf reads the breaker observations of an OTLP
// ExportLogsServiceRequest straight from its protobuf bytes, as Logs does
// from pdata: the flow analyzer reads the whole log stream for the few
// records that carry a breaker state, and unmarshalling every record into
// pdata was a third of its CPU. b is only read.
//
// The fields it reads (named in otlpwire):
//
//	Request{ResourceLogs{Resource{KeyValue}, ScopeLogs{LogRecord}}}
//	LogRecord{time_unix_nano, KeyValue, observed_time_unix_nano}
//
// It accepts everything pdata's unmarshaller accepts and finds the same
// observations (a differential test checks it).
func (e *Extractor) LogsProtobuf(b []byte, h BreakerHandler) (int, error) {
	n := 0
	err := otlpwire.Each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if !otlpwire.LogsRequestResourceLogs.Is(num, typ) {
			return nil
		}
		c, err := e.resourceLogs(v, h)
		n += c
		return err
	})
	if err != nil {
		return n, fmt.Errorf("otlp logs protobuf: %w", err)
	}
	return n, nil
}

func (e *Extractor) resourceLogs(b []byte, h BreakerHandler) (int, error) {
	svc := intern.None // looked up at the first record with a breaker state
	ph, _ := h.(LogPolicyHandler)
	var counts LogPolicyCounts
	n := 0
	err := otlpwire.Each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if !otlpwire.ResourceLogsScopeLogs.Is(num, typ) {
			return nil
		}
		return otlpwire.Each(v, func(num protowire.Number, typ protowire.Type, rec []byte, _ uint64) error {
			if !otlpwire.ScopeLogsLogRecords.Is(num, typ) {
				return nil
			}
			obs, ok, err := e.wireLogRecord(rec, ph != nil, &counts)
			if err != nil || !ok {
				return err
			}
			if svc == intern.None {
				if svc, err = e.resourceService(b); err != nil {
					return err
				}
			}
			h.HandleBreaker(svc, obs)
			n++
			return nil
		})
	})
	if err != nil || ph == nil || counts.Records == 0 {
		return n, err
	}
	id, hasName, hasInstance, err := e.resourceIdentity(b)
	if err != nil {
		return n, err
	}
	counts.resourceIdentity(hasName, hasInstance)
	ph.HandleLogPolicy(id, counts)
	return n, nil
}

// resourceIdentity is resourceService, and whether the resource names the
// service and an instance of it (conformance/policy).
func (e *Extractor) resourceIdentity(b []byte) (svc intern.ID, hasName, hasInstance bool, err error) {
	err = otlpwire.Each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if !otlpwire.ResourceSpansResource.Is(num, typ) {
			return nil
		}
		return otlpwire.Each(v, func(num protowire.Number, typ protowire.Type, kv []byte, _ uint64) error {
			if !otlpwire.ResourceAttributes.Is(num, typ) {
				return nil
			}
			k, kind, str, n, err := keyValue(kv)
			if err != nil {
				return err
			}
			set := kind == valStr && len(str) > 0 || kind == valInt || kind == valBool && n != 0
			switch {
			case string(k) == "service.name":
				if svc == intern.None && kind == valStr && len(str) > 0 {
					svc, hasName = e.strings.IDBytes(str), true
				}
			case set && policy.IsInstanceKey(string(k)):
				hasInstance = true
			}
			return nil
		})
	})
	if svc == intern.None {
		svc = e.strings.ID(UnknownService)
	}
	return svc, hasName, hasInstance, err
}

// wireLogRecord reads a LogRecord's breaker observation; ok is false when
// it carries no breaker state. With count it also counts the record's
// fields of the logging policy into c.
func (e *Extractor) wireLogRecord(b []byte, count bool, c *LogPolicyCounts) (obs BreakerObs, ok bool, err error) {
	e.brkState, e.brkTarget = breaker.Unknown, intern.None
	var ts, observed, sevNumber uint64
	var sevText bool
	var traceID []byte
	maxKey := e.keyLimit
	for len(b) > 0 {
		var f otlpwire.Field
		if f, b, err = otlpwire.Next(b); err != nil {
			return obs, false, err
		}
		switch f.Tag() {
		case otlpwire.LogRecordTime:
			ts = f.X
		case otlpwire.LogRecordObservedTime:
			observed = f.X
		case otlpwire.LogRecordSeverityNumber:
			sevNumber = f.X
		case otlpwire.LogRecordSeverityText:
			sevText = len(f.V) > 0
		case otlpwire.LogRecordTraceID:
			traceID = f.V
		case otlpwire.LogRecordAttributes:
			k, kind, str, _, err := keyValue(f.V)
			if err != nil {
				return obs, false, err
			}
			if len(k) <= maxKey {
				e.applyBreakerAttr(string(k), kind, str)
			}
		}
	}
	if count {
		c.record(ts, sevNumber, sevText, traceID)
	}
	if e.brkState == breaker.Unknown {
		return obs, false, nil
	}
	if ts == 0 {
		ts = observed
	}
	return BreakerObs{Target: e.brkTarget, State: e.brkState, TimeNs: int64(ts)}, true, nil
}

// keyValue reads a KeyValue: the key, and the value's kind with its string
// bytes or integer (bool as 0/1).
func keyValue(b []byte) (key []byte, kind uint8, str []byte, n int64, err error) {
	for len(b) > 0 {
		var f otlpwire.Field
		if f, b, err = otlpwire.Next(b); err != nil {
			return
		}
		switch f.Tag() {
		case otlpwire.KeyValueKey:
			key = f.V
		case otlpwire.KeyValueValue:
			kind, str, n = valOther, nil, 0
			v := f.V
			for len(v) > 0 {
				var g otlpwire.Field
				if g, v, err = otlpwire.Next(v); err != nil {
					return
				}
				switch g.Tag() {
				case otlpwire.AnyValueString:
					kind, str = valStr, g.V
				case otlpwire.AnyValueBool:
					kind, n = valBool, 0
					if g.X != 0 {
						n = 1
					}
				case otlpwire.AnyValueInt:
					kind, n = valInt, int64(g.X)
				default:
					kind = valOther
				}
			}
		}
	}
	return
}

// maxKeyLen bounds the attribute keys worth comparing: the longest one we
// read; a longer key is skipped before it is turned into a string.
func (e *Extractor) maxKeyLen() int {
	m := len("messaging.destination.name")
	for _, s := range []string{e.names.Retry, e.names.BreakerState, e.names.BreakerName} {
		m = max(m, len(s))
	}
	return m
}

func (e *Extractor) wireSpan(b []byte, svc intern.ID) error {
	s := &e.span
	*s = Span{Service: svc}
	e.brkState, e.brkTarget = breaker.Unknown, intern.None
	e.links = e.links[:0]
	e.events = e.events[:0]
	maxKey := e.keyLimit
	for len(b) > 0 {
		f, rest, err := otlpwire.Next(b)
		if err != nil {
			return err
		}
		b = rest
		v, x := f.V, f.X
		switch f.Tag() {
		case otlpwire.SpanTraceID:
			s.TraceID = TraceID{} // empty = zero ID, as pdata reads it
			copy(s.TraceID[:], v)
		case otlpwire.SpanSpanID:
			s.SpanID = SpanID{}
			copy(s.SpanID[:], v)
		case otlpwire.SpanParentSpanID:
			s.ParentID = SpanID{}
			copy(s.ParentID[:], v)
		case otlpwire.SpanKind:
			s.Kind = Kind(int32(x))
		case otlpwire.SpanStartTime:
			s.StartNs = int64(x)
		case otlpwire.SpanEndTime:
			s.EndNs = int64(x)
		case otlpwire.SpanAttributes:
			k, kind, str, n, err := keyValue(v)
			if err != nil {
				return err
			}
			if len(k) <= maxKey {
				e.applySpanAttr(string(k), kind, str, n)
			}
		case otlpwire.SpanEvents:
			e.events = append(e.events, v)
		case otlpwire.SpanLinks:
			var l Link
			for len(v) > 0 {
				g, r, err := otlpwire.Next(v)
				if err != nil {
					return err
				}
				v = r
				switch g.Tag() {
				case otlpwire.LinkTraceID:
					l.TraceID = TraceID{}
					copy(l.TraceID[:], g.V)
				case otlpwire.LinkSpanID:
					l.SpanID = SpanID{}
					copy(l.SpanID[:], g.V)
				}
			}
			e.links = append(e.links, l)
		case otlpwire.SpanStatus:
			for len(v) > 0 {
				g, r, err := otlpwire.Next(v)
				if err != nil {
					return err
				}
				v = r
				if g.Tag() == otlpwire.StatusCode {
					s.Error = ptrace.StatusCode(int32(g.X)) == ptrace.StatusCodeError
				}
			}
		}
	}
	e.spanBreaker(s)
	for _, ev := range e.events {
		if err := e.wireEvent(ev); err != nil {
			return err
		}
	}
	s.Breakers = e.brk
	s.Links = e.links
	return nil
}

func (e *Extractor) wireEvent(b []byte) error {
	var (
		name []byte
		ts   uint64
	)
	err := otlpwire.Each(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch otlpwire.TagOf(num, typ) {
		case otlpwire.EventTime:
			ts = x
		case otlpwire.EventName:
			name = v
		}
		return nil
	})
	if err != nil || string(name) != e.names.BreakerEvent {
		return err
	}
	e.brkState, e.brkTarget = breaker.Unknown, intern.None
	maxKey := e.keyLimit
	err = otlpwire.Each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if !otlpwire.EventAttributes.Is(num, typ) {
			return nil
		}
		k, kind, str, _, err := keyValue(v)
		if err == nil && len(k) <= maxKey {
			e.applyBreakerAttr(string(k), kind, str)
		}
		return err
	})
	if err != nil || e.brkState == breaker.Unknown {
		return err
	}
	t := e.brkTarget
	if t == intern.None {
		t = e.span.Peer()
	}
	e.brk = append(e.brk, BreakerObs{Target: t, State: e.brkState, TimeNs: int64(ts)})
	return nil
}
