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
func ValidateTraces(b []byte) (spans int, err error) { return validRequest(b, &tracesSignal) }

// ValidateLogs checks that b is an ExportLogsServiceRequest pdata's
// plog.ProtoUnmarshaler accepts, and counts its log records (as pdata's
// Logs.LogRecordCount would). It does not allocate unless b is refused.
func ValidateLogs(b []byte) (records int, err error) { return validRequest(b, &logsSignal) }

// signal names the levels of one signal's export request: above the
// records, traces and logs have the same structure.
type signal struct {
	resources, scopes, records string // field names, for errors
	deprecated                 string // field 1000 of the resource message
	validRecord                func([]byte) error
}

var (
	tracesSignal = signal{"resource_spans", "scope_spans", "spans", "instrumentation_library_spans", validSpan}
	logsSignal   = signal{"resource_logs", "scope_logs", "log_records", "instrumentation_library_logs", validLogRecord}
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
		if f.Num != 1 {
			continue
		}
		if f.Type != protowire.BytesType {
			return 0, malformed(wrongType(f, sig.resources, protowire.BytesType))
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

func wrongType(f Field, name string, want protowire.Type) error {
	return fmt.Errorf("field %d (%s) has wire type %d, want %d", f.Num, name, f.Type, want)
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
		switch f.Num {
		case 1, 2, 3, 1000:
		default:
			continue
		}
		if f.Type != protowire.BytesType {
			return 0, wrongType(f, sig.resourceField(f.Num), protowire.BytesType)
		}
		switch f.Num {
		case 1:
			if err := validResource(f.V); err != nil {
				return 0, fmt.Errorf("resource: %w", err)
			}
		case 2:
			c, err := validScopeRecords(f.V, sig)
			if err != nil {
				return 0, fmt.Errorf("%s[%d]: %w", sig.scopes, nscope, err)
			}
			n += c
			nscope++
		case 1000:
			if _, err := validScopeRecords(f.V, sig); err != nil {
				return 0, fmt.Errorf("%s[%d]: %w", sig.deprecated, ndep, err)
			}
			ndep++
		}
	}
	return n, nil
}

// resourceField names field num of the resource message.
func (sig *signal) resourceField(num protowire.Number) string {
	switch num {
	case 1:
		return "resource"
	case 2:
		return sig.scopes
	case 3:
		return "schema_url"
	}
	return sig.deprecated
}

// fieldSpec is a field's wire type and name. A message's fields, indexed by
// field number, are what its validator checks types against.
type fieldSpec struct {
	typ  protowire.Type
	name string
}

// checkField reports whether f is one of the message's fields (others are
// skipped, as pdata skips unknown fields) and, if so, whether its wire type
// is the one the message declares.
func checkField(fields []fieldSpec, f Field) (known bool, err error) {
	if f.Num <= 0 || int(f.Num) >= len(fields) || fields[f.Num].name == "" {
		return false, nil
	}
	if want := fields[f.Num].typ; f.Type != want {
		return false, wrongType(f, fields[f.Num].name, want)
	}
	return true, nil
}

// Resource{1: KeyValue, 2: dropped_attributes_count, 3: EntityRef}
var resourceFields = [...]fieldSpec{
	1: {protowire.BytesType, "attributes"},
	2: {protowire.VarintType, "dropped_attributes_count"},
	3: {protowire.BytesType, "entity_refs"},
}

func validResource(b []byte) error {
	nattr, nref := 0, 0
	return eachField(b, resourceFields[:], func(f Field) error {
		switch f.Num {
		case 1:
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		case 3:
			if err := validEntityRef(f.V); err != nil {
				return fmt.Errorf("entity_refs[%d]: %w", nref, err)
			}
			nref++
		}
		return nil
	})
}

// EntityRef{1: schema_url, 2: type, 3: id_keys, 4: description_keys}, all strings.
var entityRefFields = [...]fieldSpec{
	1: {protowire.BytesType, "schema_url"},
	2: {protowire.BytesType, "type"},
	3: {protowire.BytesType, "id_keys"},
	4: {protowire.BytesType, "description_keys"},
}

func validEntityRef(b []byte) error { return eachField(b, entityRefFields[:], nil) }

// eachField checks the framing of message b and the wire type of each of
// its declared fields, and hands those to fn (nil: none to look into).
func eachField(b []byte, fields []fieldSpec, fn func(Field) error) error {
	for p := b; len(p) > 0; {
		f, size := Read(p)
		if size < 0 {
			return framing(b, p)
		}
		p = p[size:]
		known, err := checkField(fields, f)
		if err != nil {
			return err
		}
		if known && fn != nil {
			if err := fn(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// InstrumentationScope{1: name, 2: version, 3: KeyValue, 4: dropped_attributes_count}
var scopeFields = [...]fieldSpec{
	1: {protowire.BytesType, "name"},
	2: {protowire.BytesType, "version"},
	3: {protowire.BytesType, "attributes"},
	4: {protowire.VarintType, "dropped_attributes_count"},
}

func validScope(b []byte) error {
	nattr := 0
	return eachField(b, scopeFields[:], func(f Field) error {
		if f.Num == 3 {
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
		switch f.Num {
		case 1:
			if f.Type != protowire.BytesType {
				return 0, wrongType(f, "scope", protowire.BytesType)
			}
			if err := validScope(f.V); err != nil {
				return 0, fmt.Errorf("scope: %w", err)
			}
		case 2:
			if f.Type != protowire.BytesType {
				return 0, wrongType(f, sig.records, protowire.BytesType)
			}
			if err := sig.validRecord(f.V); err != nil {
				return 0, fmt.Errorf("%s[%d]: %w", sig.records, n, err)
			}
			n++
		case 3:
			if f.Type != protowire.BytesType {
				return 0, wrongType(f, "schema_url", protowire.BytesType)
			}
		}
	}
	return n, nil
}

// spanFields is Span's wire type and name by field number:
//
//	Span{1: trace_id, 2: span_id, 3: trace_state, 4: parent_span_id, 5: name,
//	     6: kind, 7: start, 8: end, 9: KeyValue, 10: dropped, 11: Event,
//	     12: dropped, 13: Link, 14: dropped, 15: Status, 16: flags}
var spanFields = [...]fieldSpec{
	1:  {protowire.BytesType, "trace_id"},
	2:  {protowire.BytesType, "span_id"},
	3:  {protowire.BytesType, "trace_state"},
	4:  {protowire.BytesType, "parent_span_id"},
	5:  {protowire.BytesType, "name"},
	6:  {protowire.VarintType, "kind"},
	7:  {protowire.Fixed64Type, "start_time_unix_nano"},
	8:  {protowire.Fixed64Type, "end_time_unix_nano"},
	9:  {protowire.BytesType, "attributes"},
	10: {protowire.VarintType, "dropped_attributes_count"},
	11: {protowire.BytesType, "events"},
	12: {protowire.VarintType, "dropped_events_count"},
	13: {protowire.BytesType, "links"},
	14: {protowire.VarintType, "dropped_links_count"},
	15: {protowire.BytesType, "status"},
	16: {protowire.Fixed32Type, "flags"},
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
		// checkField, by hand: too big to inline, and this loop is hot.
		if f.Num <= 0 || int(f.Num) >= len(spanFields) || spanFields[f.Num].name == "" {
			continue
		}
		if want := spanFields[f.Num].typ; f.Type != want {
			return wrongType(f, spanFields[f.Num].name, want)
		}
		switch f.Num {
		case 1:
			if len(f.V) != 0 && len(f.V) != 16 {
				return badID("trace_id", len(f.V), 16)
			}
		case 2, 4:
			if len(f.V) != 0 && len(f.V) != 8 {
				return badID(spanFields[f.Num].name, len(f.V), 8)
			}
		case 9:
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		case 11:
			if err := validEvent(f.V); err != nil {
				return fmt.Errorf("events[%d]: %w", nev, err)
			}
			nev++
		case 13:
			if err := validLink(f.V); err != nil {
				return fmt.Errorf("links[%d]: %w", nlink, err)
			}
			nlink++
		case 15:
			if err := validStatus(f.V); err != nil {
				return fmt.Errorf("status: %w", err)
			}
		}
	}
	return nil
}

// Event{1: time, 2: name, 3: KeyValue, 4: dropped_attributes_count}
var eventFields = [...]fieldSpec{
	1: {protowire.Fixed64Type, "time_unix_nano"},
	2: {protowire.BytesType, "name"},
	3: {protowire.BytesType, "attributes"},
	4: {protowire.VarintType, "dropped_attributes_count"},
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
		if known, err := checkField(eventFields[:], f); !known {
			if err != nil {
				return err
			}
			continue
		}
		if f.Num == 3 {
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		}
	}
	return nil
}

// Link{1: trace_id, 2: span_id, 3: trace_state, 4: KeyValue, 5: dropped, 6: flags}
var linkFields = [...]fieldSpec{
	1: {protowire.BytesType, "trace_id"},
	2: {protowire.BytesType, "span_id"},
	3: {protowire.BytesType, "trace_state"},
	4: {protowire.BytesType, "attributes"},
	5: {protowire.VarintType, "dropped_attributes_count"},
	6: {protowire.Fixed32Type, "flags"},
}

func validLink(b []byte) error {
	nattr := 0
	for p := b; len(p) > 0; {
		f, size := Read(p)
		if size < 0 {
			return framing(b, p)
		}
		p = p[size:]
		if known, err := checkField(linkFields[:], f); !known {
			if err != nil {
				return err
			}
			continue
		}
		switch f.Num {
		case 1:
			if len(f.V) != 0 && len(f.V) != 16 {
				return badID("trace_id", len(f.V), 16)
			}
		case 2:
			if len(f.V) != 0 && len(f.V) != 8 {
				return badID("span_id", len(f.V), 8)
			}
		case 4:
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		}
	}
	return nil
}

// Status{2: message, 3: code}
var statusFields = [...]fieldSpec{
	2: {protowire.BytesType, "message"},
	3: {protowire.VarintType, "code"},
}

func validStatus(b []byte) error { return eachField(b, statusFields[:], nil) }

// logFields is LogRecord's wire type and name by field number:
//
//	LogRecord{1: time, 2: severity_number, 3: severity_text, 5: AnyValue body,
//	          6: KeyValue, 7: dropped, 8: flags, 9: trace_id, 10: span_id,
//	          11: observed_time, 12: event_name}
var logFields = [...]fieldSpec{
	1:  {protowire.Fixed64Type, "time_unix_nano"},
	2:  {protowire.VarintType, "severity_number"},
	3:  {protowire.BytesType, "severity_text"},
	5:  {protowire.BytesType, "body"},
	6:  {protowire.BytesType, "attributes"},
	7:  {protowire.VarintType, "dropped_attributes_count"},
	8:  {protowire.Fixed32Type, "flags"},
	9:  {protowire.BytesType, "trace_id"},
	10: {protowire.BytesType, "span_id"},
	11: {protowire.Fixed64Type, "observed_time_unix_nano"},
	12: {protowire.BytesType, "event_name"},
}

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
		// checkField, by hand: too big to inline, and this loop is hot.
		if f.Num <= 0 || int(f.Num) >= len(logFields) || logFields[f.Num].name == "" {
			continue
		}
		if want := logFields[f.Num].typ; f.Type != want {
			return wrongType(f, logFields[f.Num].name, want)
		}
		switch f.Num {
		case 5:
			if err := validAnyValue(f.V, 0); err != nil {
				return fmt.Errorf("body: %w", err)
			}
		case 6:
			if err := validKeyValue(f.V, 0); err != nil {
				return fmt.Errorf("attributes[%d]: %w", nattr, err)
			}
			nattr++
		case 9:
			if len(f.V) != 0 && len(f.V) != 16 {
				return badID("trace_id", len(f.V), 16)
			}
		case 10:
			if len(f.V) != 0 && len(f.V) != 8 {
				return badID("span_id", len(f.V), 8)
			}
		}
	}
	return nil
}

var keyValueFields = [...]fieldSpec{
	1: {protowire.BytesType, "key"},
	2: {protowire.BytesType, "value"},
	3: {protowire.VarintType, "key_strindex"},
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
			case b[0] == 0x12 && b[m] == 0x0a:
				if scalarValue(b[2:m]) {
					return nil
				}
			case b[0] == 0x0a && b[m] == 0x12:
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
		if known, err := checkField(keyValueFields[:], f); !known {
			if err != nil {
				return err
			}
			continue
		}
		if f.Num == 2 {
			if err := validAnyValue(f.V, depth); err != nil {
				return fmt.Errorf("value: %w", err)
			}
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
	case 0x0a: // 1: string_value
		return v[1] < 0x80 && int(v[1])+2 == len(v)
	case 0x10, 0x18: // 2: bool_value, 3: int_value
		_, l := consumeVarint(v[1:])
		return l+1 == len(v)
	case 0x21: // 4: double_value
		return len(v) == 9
	}
	return false
}

// anyFields is AnyValue's wire type and name by field number:
//
//	AnyValue{1: string, 2: bool, 3: int, 4: double, 5: ArrayValue,
//	         6: KeyValueList, 7: bytes, 8: string_value_strindex}
var anyFields = [...]fieldSpec{
	1: {protowire.BytesType, "string_value"},
	2: {protowire.VarintType, "bool_value"},
	3: {protowire.VarintType, "int_value"},
	4: {protowire.Fixed64Type, "double_value"},
	5: {protowire.BytesType, "array_value"},
	6: {protowire.BytesType, "kvlist_value"},
	7: {protowire.BytesType, "bytes_value"},
	8: {protowire.VarintType, "string_value_strindex"},
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
		// checkField, by hand: too big to inline, and this loop is hot.
		if f.Num <= 0 || int(f.Num) >= len(anyFields) || anyFields[f.Num].name == "" {
			continue
		}
		if want := anyFields[f.Num].typ; f.Type != want {
			return wrongType(f, anyFields[f.Num].name, want)
		}
		switch f.Num {
		case 5:
			if err := validArrayValue(f.V, depth); err != nil {
				return fmt.Errorf("array_value: %w", err)
			}
		case 6:
			if err := validKeyValueList(f.V, depth); err != nil {
				return fmt.Errorf("kvlist_value: %w", err)
			}
		}
	}
	return nil
}

// ArrayValue{1: AnyValue}
func validArrayValue(b []byte, depth int) error { return validValues(b, depth, validAnyValue) }

// KeyValueList{1: KeyValue}
func validKeyValueList(b []byte, depth int) error { return validValues(b, depth, validKeyValue) }

// validValues validates ArrayValue and KeyValueList: {1: repeated values},
// each checked by valid.
func validValues(b []byte, depth int, valid func([]byte, int) error) error {
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
		if f.Num != 1 {
			continue
		}
		if f.Type != protowire.BytesType {
			return wrongType(f, "values", protowire.BytesType)
		}
		if err := valid(f.V, depth); err != nil {
			return fmt.Errorf("values[%d]: %w", i, err)
		}
		i++
	}
	return nil
}
