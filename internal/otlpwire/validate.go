package otlpwire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The validators below accept exactly the requests pdata's
// ptrace.ProtoUnmarshaler / plog.ProtoUnmarshaler (v1.71) accept, without
// building pdata. They mirror its generated UnmarshalProto code message by
// message (pdata/internal/generated_proto_*.go):
//
//   - a known field with another wire type than its own is refused, before
//     its payload is looked at; unknown fields are skipped as Read skips them
//     (groups included);
//   - trace IDs are 0 or 16 bytes, span IDs 0 or 8;
//   - KeyValue, AnyValue, ArrayValue and KeyValueList count nesting levels
//     from 0 at the first KeyValue (or at a log body); a value 100 levels
//     down is refused (pdata's proto.RecursionLimit);
//   - strings are not checked (pdata does not check UTF-8), nor enum values;
//   - repeated copies of singular messages (resource, scope, status, body)
//     are each checked: pdata decodes every copy.
//
// Counts are pdata's SpanCount / LogRecordCount after ProtoUnmarshaler, which
// does not migrate the deprecated instrumentation_library_spans/logs (field
// 1000): their records are checked but not counted, as pdata leaves them out.
//
// Errors wrap ErrMalformed and name where the problem is, e.g.
// "malformed protobuf: resource_spans[0]: scope_spans[1]: spans[3]: trace_id is 5 bytes, want 16".

// recursionLimit is pdata's proto.RecursionLimit.
const recursionLimit = 100

var errDepth = errors.New("values nested over 100 levels deep")

// ValidateTraces checks that b is an ExportTraceServiceRequest pdata's
// ptrace.ProtoUnmarshaler accepts, and counts its spans (as pdata's
// Traces.SpanCount would). It does not allocate unless b is refused.
func ValidateTraces(b []byte) (spans int, err error) { return validRequest(b, tracesSignal) }

// ValidateLogs checks that b is an ExportLogsServiceRequest pdata's
// plog.ProtoUnmarshaler accepts, and counts its log records (as pdata's
// Logs.LogRecordCount would). It does not allocate unless b is refused.
func ValidateLogs(b []byte) (records int, err error) { return validRequest(b, logsSignal) }

// signal is the messages of one signal's export request: above the
// records, traces and logs have the same structure and tags
// (Export*ServiceRequest{1: Resource*}, Resource*{1: Resource, 2: Scope*,
// 3: schema_url, 1000: deprecated Scope*}, Scope*{1: InstrumentationScope,
// 2: record, 3: schema_url}), so the spans' tags serve both.
type signal struct {
	request, resource, scope *Message
	validRecord              func([]byte) error
	// field names, for errors
	resources, scopes, records, deprecated string
}

func newSignal(request, resource, scope *Message, validRecord func([]byte) error) *signal {
	name := func(m *Message, t Tag) string {
		f, _ := m.Field(t.Num())
		return f.Name
	}
	return &signal{
		request: request, resource: resource, scope: scope, validRecord: validRecord,
		resources:  name(request, TracesRequestResourceSpans),
		scopes:     name(resource, ResourceSpansScopeSpans),
		deprecated: name(resource, ResourceSpansLibrarySpans),
		records:    name(scope, ScopeSpansSpans),
	}
}

var (
	tracesSignal = newSignal(&ExportTraceServiceRequest, &ResourceSpans, &ScopeSpans, validSpan)
	logsSignal   = newSignal(&ExportLogsServiceRequest, &ResourceLogs, &ScopeLogs, validLogRecord)
)

// Export*ServiceRequest{1: Resource*}
func validRequest(b []byte, sig *signal) (int, error) {
	n, i := 0, 0
	for p := b; len(p) > 0; {
		f, size := Read(p)
		if size < 0 {
			return 0, malformed(framing(b, p))
		}
		p = p[size:]
		if f.Tag() != TracesRequestResourceSpans {
			if sig.request.WrongType(f.Num, f.Type) {
				return 0, malformed(wrongType(sig.request, f))
			}
			continue
		}
		c, err := validResourceRecords(f.V, sig)
		if err != nil {
			return 0, malformed(fmt.Errorf("%s[%d]: %w", sig.resources, i, err))
		}
		n += c
		i++
	}
	return n, nil
}

func malformed(err error) error {
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// framing describes a field Read refused: p is where it starts in msg.
func framing(msg, p []byte) error {
	return fmt.Errorf("bad field framing at byte %d of %d (truncated, bad varint or tag, or bad group)", len(msg)-len(p), len(msg))
}

// wrongType describes f, a field of m with another wire type than m declares.
func wrongType(m *Message, f Field) error {
	want, _ := m.Field(f.Num)
	return fmt.Errorf("field %d (%s) has wire type %d, want %d", f.Num, want.Name, f.Type, want.Type)
}

func badID(name string, got, want int) error {
	return fmt.Errorf("%s is %d bytes, want %d (or empty)", name, got, want)
}

// ResourceSpans / ResourceLogs{1: Resource, 2: Scope*, 3: schema_url,
// 1000: deprecated Scope*}
func validResourceRecords(b []byte, sig *signal) (int, error) {
	n, nscope, ndep := 0, 0, 0
	for p := b; len(p) > 0; {
		f, size := Read(p)
		if size < 0 {
			return 0, framing(b, p)
		}
		p = p[size:]
		switch f.Tag() {
		case ResourceSpansResource:
			if err := validResource(f.V); err != nil {
				return 0, fmt.Errorf("resource: %w", err)
			}
		case ResourceSpansScopeSpans:
			c, err := validScopeRecords(f.V, sig)
			if err != nil {
				return 0, fmt.Errorf("%s[%d]: %w", sig.scopes, nscope, err)
			}
			n += c
			nscope++
		case ResourceSpansLibrarySpans:
			if _, err := validScopeRecords(f.V, sig); err != nil {
				return 0, fmt.Errorf("%s[%d]: %w", sig.deprecated, ndep, err)
			}
			ndep++
		default:
			if sig.resource.WrongType(f.Num, f.Type) {
				return 0, wrongType(sig.resource, f)
			}
		}
	}
	return n, nil
}

func validResource(b []byte) error {
	nattr, nref := 0, 0
	return eachField(b, &Resource, func(f Field) error {
		switch f.Tag() {
		case ResourceAttributes:
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		case ResourceEntityRefs:
			if err := validEntityRef(f.V); err != nil {
				return fmt.Errorf("entity_refs[%d]: %w", nref, err)
			}
			nref++
		}
		return nil
	})
}

// EntityRef: all strings.
func validEntityRef(b []byte) error { return eachField(b, &EntityRef, nil) }

// eachField checks the framing of message b and the wire type of each of
// the fields m declares, and hands all its fields to fn (nil: none to look
// into).
func eachField(b []byte, m *Message, fn func(Field) error) error {
	for p := b; len(p) > 0; {
		f, size := Read(p)
		if size < 0 {
			return framing(b, p)
		}
		p = p[size:]
		if m.WrongType(f.Num, f.Type) {
			return wrongType(m, f)
		}
		if fn != nil {
			if err := fn(f); err != nil {
				return err
			}
		}
	}
	return nil
}

func validScope(b []byte) error {
	nattr := 0
	return eachField(b, &InstrumentationScope, func(f Field) error {
		if f.Tag() == ScopeAttributes {
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		}
		return nil
	})
}

// ScopeSpans / ScopeLogs{1: InstrumentationScope, 2: Span / LogRecord, 3: schema_url}
func validScopeRecords(b []byte, sig *signal) (int, error) {
	n := 0
	for p := b; len(p) > 0; {
		f, size := Read(p)
		if size < 0 {
			return 0, framing(b, p)
		}
		p = p[size:]
		switch f.Tag() {
		case ScopeSpansScope:
			if err := validScope(f.V); err != nil {
				return 0, fmt.Errorf("scope: %w", err)
			}
		case ScopeSpansSpans:
			if err := sig.validRecord(f.V); err != nil {
				return 0, fmt.Errorf("%s[%d]: %w", sig.records, n, err)
			}
			n++
		default:
			if sig.scope.WrongType(f.Num, f.Type) {
				return 0, wrongType(sig.scope, f)
			}
		}
	}
	return n, nil
}

func validSpan(b []byte) error {
	nattr, nev, nlink := 0, 0, 0
	for p := b; len(p) > 0; {
		var f Field
		if num, v, n := ReadShortBytes(p); n > 0 {
			f.Num, f.Type, f.V = num, protowire.BytesType, v
			p = p[n:]
		} else {
			if f, n = Read(p); n < 0 {
				return framing(b, p)
			}
			p = p[n:]
		}
		switch f.Tag() {
		case SpanTraceID:
			if len(f.V) != 0 && len(f.V) != 16 {
				return badID("trace_id", len(f.V), 16)
			}
		case SpanSpanID:
			if len(f.V) != 0 && len(f.V) != 8 {
				return badID("span_id", len(f.V), 8)
			}
		case SpanParentSpanID:
			if len(f.V) != 0 && len(f.V) != 8 {
				return badID("parent_span_id", len(f.V), 8)
			}
		case SpanAttributes:
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		case SpanEvents:
			if err := validEvent(f.V); err != nil {
				return fmt.Errorf("events[%d]: %w", nev, err)
			}
			nev++
		case SpanLinks:
			if err := validLink(f.V); err != nil {
				return fmt.Errorf("links[%d]: %w", nlink, err)
			}
			nlink++
		case SpanStatus:
			if err := validStatus(f.V); err != nil {
				return fmt.Errorf("status: %w", err)
			}
		default:
			if Span.WrongType(f.Num, f.Type) {
				return wrongType(&Span, f)
			}
		}
	}
	return nil
}

// validEvent and validLink keep their loops: they run per span, and a
// closure for eachField cost ValidateTraces 6%.
func validEvent(b []byte) error {
	nattr := 0
	for p := b; len(p) > 0; {
		f, size := Read(p)
		if size < 0 {
			return framing(b, p)
		}
		p = p[size:]
		if f.Tag() == EventAttributes {
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		} else if Event.WrongType(f.Num, f.Type) {
			return wrongType(&Event, f)
		}
	}
	return nil
}

func validLink(b []byte) error {
	nattr := 0
	for p := b; len(p) > 0; {
		f, size := Read(p)
		if size < 0 {
			return framing(b, p)
		}
		p = p[size:]
		switch f.Tag() {
		case LinkTraceID:
			if len(f.V) != 0 && len(f.V) != 16 {
				return badID("trace_id", len(f.V), 16)
			}
		case LinkSpanID:
			if len(f.V) != 0 && len(f.V) != 8 {
				return badID("span_id", len(f.V), 8)
			}
		case LinkAttributes:
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		default:
			if Link.WrongType(f.Num, f.Type) {
				return wrongType(&Link, f)
			}
		}
	}
	return nil
}

func validStatus(b []byte) error { return eachField(b, &Status, nil) }

func validLogRecord(b []byte) error {
	nattr := 0
	for p := b; len(p) > 0; {
		var f Field
		if num, v, n := ReadShortBytes(p); n > 0 {
			f.Num, f.Type, f.V = num, protowire.BytesType, v
			p = p[n:]
		} else {
			if f, n = Read(p); n < 0 {
				return framing(b, p)
			}
			p = p[n:]
		}
		switch f.Tag() {
		case LogRecordBody:
			if err := validAnyValue(f.V, 0); err != nil {
				return fmt.Errorf("body: %w", err)
			}
		case LogRecordAttributes:
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		case LogRecordTraceID:
			if len(f.V) != 0 && len(f.V) != 16 {
				return badID("trace_id", len(f.V), 16)
			}
		case LogRecordSpanID:
			if len(f.V) != 0 && len(f.V) != 8 {
				return badID("span_id", len(f.V), 8)
			}
		default:
			if LogRecord.WrongType(f.Num, f.Type) {
				return wrongType(&LogRecord, f)
			}
		}
	}
	return nil
}

// KeyValue{1: key, 2: AnyValue, 3: key_strindex}. depth counts the
// KeyValue/AnyValue/ArrayValue/KeyValueList levels above this one.
func validKeyValue(b []byte, depth int) error {
	if depth >= recursionLimit {
		return errDepth
	}
	depth++
	// fast path: the usual {1: short key, 2: short scalar value}, in either
	// order (pdata writes the value first)
	if len(b) >= 4 && b[1] < 0x80 && depth < recursionLimit {
		if m := 2 + int(b[1]); m+2 <= len(b) && b[m+1] < 0x80 && m+2+int(b[m+1]) == len(b) {
			switch {
			case b[0] == byte(KeyValueValue) && b[m] == byte(KeyValueKey):
				if scalarValue(b[2:m]) {
					return nil
				}
			case b[0] == byte(KeyValueKey) && b[m] == byte(KeyValueValue):
				if scalarValue(b[m+2:]) {
					return nil
				}
			}
		}
	}
	for p := b; len(p) > 0; {
		var f Field
		if num, v, n := ReadShortBytes(p); n > 0 {
			f.Num, f.Type, f.V = num, protowire.BytesType, v
			p = p[n:]
		} else {
			if f, n = Read(p); n < 0 {
				return framing(b, p)
			}
			p = p[n:]
		}
		if f.Tag() == KeyValueValue {
			if err := validAnyValue(f.V, depth); err != nil {
				return fmt.Errorf("value: %w", err)
			}
		} else if KeyValue.WrongType(f.Num, f.Type) {
			return wrongType(&KeyValue, f)
		}
	}
	return nil
}

// scalarValue reports whether v is an AnyValue made of one well-framed
// string, bool, int or double field (or of nothing): the common values,
// valid at any depth under the limit. false means "look closer".
func scalarValue(v []byte) bool {
	if len(v) < 2 {
		return len(v) == 0
	}
	switch v[0] {
	case byte(AnyValueString):
		return v[1] < 0x80 && int(v[1])+2 == len(v)
	case byte(AnyValueBool), byte(AnyValueInt):
		_, l := consumeVarint(v[1:])
		return l+1 == len(v)
	case byte(AnyValueDouble):
		return len(v) == 9
	}
	return false
}

func validAnyValue(b []byte, depth int) error {
	if depth >= recursionLimit {
		return errDepth
	}
	depth++
	for p := b; len(p) > 0; {
		f, n := Read(p)
		if n < 0 {
			return framing(b, p)
		}
		p = p[n:]
		switch f.Tag() {
		case AnyValueArray:
			if err := validArrayValue(f.V, depth); err != nil {
				return fmt.Errorf("array_value: %w", err)
			}
		case AnyValueKeyValueList:
			if err := validKeyValueList(f.V, depth); err != nil {
				return fmt.Errorf("kvlist_value: %w", err)
			}
		default:
			if AnyValue.WrongType(f.Num, f.Type) {
				return wrongType(&AnyValue, f)
			}
		}
	}
	return nil
}

// ArrayValue{1: AnyValue}
func validArrayValue(b []byte, depth int) error {
	return validValues(b, depth, &ArrayValue, validAnyValue)
}

// KeyValueList{1: KeyValue}
func validKeyValueList(b []byte, depth int) error {
	return validValues(b, depth, &KeyValueList, validKeyValue)
}

// validValues validates ArrayValue and KeyValueList (m): {1: repeated
// values}, each checked by valid.
func validValues(b []byte, depth int, m *Message, valid func([]byte, int) error) error {
	if depth >= recursionLimit {
		return errDepth
	}
	depth++
	i := 0
	for p := b; len(p) > 0; {
		f, n := Read(p)
		if n < 0 {
			return framing(b, p)
		}
		p = p[n:]
		if f.Tag() != ArrayValueValues { // = KeyValueListValues
			if m.WrongType(f.Num, f.Type) {
				return wrongType(m, f)
			}
			continue
		}
		if err := valid(f.V, depth); err != nil {
			return fmt.Errorf("values[%d]: %w", i, err)
		}
		i++
	}
	return nil
}
