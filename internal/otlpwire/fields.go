package otlpwire

import "google.golang.org/protobuf/encoding/protowire"

// The OTLP vocabulary: the tag (field number and wire type) of every field
// of the messages of an export request (opentelemetry/proto:
// collector/{trace,logs}/v1, trace/v1, logs/v1, resource/v1, common/v1),
// and for each message a table of the fields it declares. The readers of
// OTLP bytes (the validators here, storage's row readers, the Kafka
// splitter, the flow analyzer's extractor) name fields with these; a test
// checks them against the generated descriptors of
// go.opentelemetry.io/proto/otlp.

// Tag is a field's protobuf tag: its number and wire type, number<<3 |
// type, as they are encoded on the wire. A reader that dispatches on
// Field.Tag checks a field's number and wire type in one comparison.
type Tag uint64

// TagOf is the tag of field number num with wire type typ.
func TagOf(num protowire.Number, typ protowire.Type) Tag { return Tag(num)<<3 | Tag(typ&7) }

// Tag is the field's tag.
func (f *Field) Tag() Tag { return TagOf(f.Num, f.Type) }

// Is reports whether num and typ are t's number and wire type: for readers
// that hold them apart (protowire.ConsumeTag, Each). With a constant t it is
// two comparisons.
func (t Tag) Is(num protowire.Number, typ protowire.Type) bool {
	return num == t.Num() && typ == t.Type()
}

// Num is the tag's field number.
func (t Tag) Num() protowire.Number { return protowire.Number(t >> 3) }

// Type is the tag's wire type.
func (t Tag) Type() protowire.Type { return protowire.Type(t & 7) }

// The wire types, to build tags with.
const (
	varintT  = Tag(protowire.VarintType)
	fixed64T = Tag(protowire.Fixed64Type)
	bytesT   = Tag(protowire.BytesType)
	fixed32T = Tag(protowire.Fixed32Type)
)

// ExportTraceServiceRequest and ExportLogsServiceRequest.
const (
	TracesRequestResourceSpans Tag = 1<<3 | bytesT
	LogsRequestResourceLogs    Tag = 1<<3 | bytesT
)

// ResourceSpans.
const (
	ResourceSpansResource   Tag = 1<<3 | bytesT
	ResourceSpansScopeSpans Tag = 2<<3 | bytesT
	ResourceSpansSchemaURL  Tag = 3<<3 | bytesT
	// ResourceSpansLibrarySpans is instrumentation_library_spans, removed
	// from OTLP in 0.15 (2021); see UsesDeprecatedLibraryField.
	ResourceSpansLibrarySpans Tag = 1000<<3 | bytesT
)

// ScopeSpans.
const (
	ScopeSpansScope     Tag = 1<<3 | bytesT
	ScopeSpansSpans     Tag = 2<<3 | bytesT
	ScopeSpansSchemaURL Tag = 3<<3 | bytesT
)

// Span.
const (
	SpanTraceID           Tag = 1<<3 | bytesT
	SpanSpanID            Tag = 2<<3 | bytesT
	SpanTraceState        Tag = 3<<3 | bytesT
	SpanParentSpanID      Tag = 4<<3 | bytesT
	SpanName              Tag = 5<<3 | bytesT
	SpanKind              Tag = 6<<3 | varintT
	SpanStartTime         Tag = 7<<3 | fixed64T // start_time_unix_nano
	SpanEndTime           Tag = 8<<3 | fixed64T // end_time_unix_nano
	SpanAttributes        Tag = 9<<3 | bytesT
	SpanDroppedAttributes Tag = 10<<3 | varintT
	SpanEvents            Tag = 11<<3 | bytesT
	SpanDroppedEvents     Tag = 12<<3 | varintT
	SpanLinks             Tag = 13<<3 | bytesT
	SpanDroppedLinks      Tag = 14<<3 | varintT
	SpanStatus            Tag = 15<<3 | bytesT
	SpanFlags             Tag = 16<<3 | fixed32T
)

// Span.Event.
const (
	EventTime              Tag = 1<<3 | fixed64T // time_unix_nano
	EventName              Tag = 2<<3 | bytesT
	EventAttributes        Tag = 3<<3 | bytesT
	EventDroppedAttributes Tag = 4<<3 | varintT
)

// Span.Link.
const (
	LinkTraceID           Tag = 1<<3 | bytesT
	LinkSpanID            Tag = 2<<3 | bytesT
	LinkTraceState        Tag = 3<<3 | bytesT
	LinkAttributes        Tag = 4<<3 | bytesT
	LinkDroppedAttributes Tag = 5<<3 | varintT
	LinkFlags             Tag = 6<<3 | fixed32T
)

// Status.
const (
	StatusMessage Tag = 2<<3 | bytesT
	StatusCode    Tag = 3<<3 | varintT
)

// ResourceLogs.
const (
	ResourceLogsResource  Tag = 1<<3 | bytesT
	ResourceLogsScopeLogs Tag = 2<<3 | bytesT
	ResourceLogsSchemaURL Tag = 3<<3 | bytesT
	// ResourceLogsLibraryLogs is instrumentation_library_logs, removed
	// from OTLP in 0.15 (2021); see UsesDeprecatedLibraryField.
	ResourceLogsLibraryLogs Tag = 1000<<3 | bytesT
)

// ScopeLogs.
const (
	ScopeLogsScope      Tag = 1<<3 | bytesT
	ScopeLogsLogRecords Tag = 2<<3 | bytesT
	ScopeLogsSchemaURL  Tag = 3<<3 | bytesT
)

// LogRecord.
const (
	LogRecordTime              Tag = 1<<3 | fixed64T // time_unix_nano
	LogRecordSeverityNumber    Tag = 2<<3 | varintT
	LogRecordSeverityText      Tag = 3<<3 | bytesT
	LogRecordBody              Tag = 5<<3 | bytesT
	LogRecordAttributes        Tag = 6<<3 | bytesT
	LogRecordDroppedAttributes Tag = 7<<3 | varintT
	LogRecordFlags             Tag = 8<<3 | fixed32T
	LogRecordTraceID           Tag = 9<<3 | bytesT
	LogRecordSpanID            Tag = 10<<3 | bytesT
	LogRecordObservedTime      Tag = 11<<3 | fixed64T // observed_time_unix_nano
	LogRecordEventName         Tag = 12<<3 | bytesT
)

// Resource.
const (
	ResourceAttributes        Tag = 1<<3 | bytesT
	ResourceDroppedAttributes Tag = 2<<3 | varintT
	ResourceEntityRefs        Tag = 3<<3 | bytesT
)

// EntityRef.
const (
	EntityRefSchemaURL       Tag = 1<<3 | bytesT
	EntityRefType            Tag = 2<<3 | bytesT
	EntityRefIDKeys          Tag = 3<<3 | bytesT
	EntityRefDescriptionKeys Tag = 4<<3 | bytesT
)

// InstrumentationScope.
const (
	ScopeName              Tag = 1<<3 | bytesT
	ScopeVersion           Tag = 2<<3 | bytesT
	ScopeAttributes        Tag = 3<<3 | bytesT
	ScopeDroppedAttributes Tag = 4<<3 | varintT
)

// KeyValue.
const (
	KeyValueKey         Tag = 1<<3 | bytesT
	KeyValueValue       Tag = 2<<3 | bytesT
	KeyValueKeyStrindex Tag = 3<<3 | varintT
)

// AnyValue: one of these fields holds the value.
const (
	AnyValueString         Tag = 1<<3 | bytesT
	AnyValueBool           Tag = 2<<3 | varintT
	AnyValueInt            Tag = 3<<3 | varintT
	AnyValueDouble         Tag = 4<<3 | fixed64T
	AnyValueArray          Tag = 5<<3 | bytesT
	AnyValueKeyValueList   Tag = 6<<3 | bytesT
	AnyValueBytes          Tag = 7<<3 | bytesT
	AnyValueStringStrindex Tag = 8<<3 | varintT
)

// ArrayValue and KeyValueList.
const (
	ArrayValueValues   Tag = 1<<3 | bytesT
	KeyValueListValues Tag = 1<<3 | bytesT
)

// FieldSpec is a field a message declares: its number, wire type and name
// in the .proto.
type FieldSpec struct {
	Num  protowire.Number
	Type protowire.Type
	Name string
}

func field(t Tag, name string) FieldSpec { return FieldSpec{Num: t.Num(), Type: t.Type(), Name: name} }

// Message is the field table of an OTLP message. pdata's unmarshaller
// refuses a known field of another wire type and skips unknown fields; a
// reader that does the same dispatches on the tags it reads and asks
// WrongType about every other field. The tables are never modified.
type Message struct {
	name   string
	fields []FieldSpec // in the order of the .proto
	// types[num] is the wire type of field num, or undeclared. A fixed size
	// keeps WrongType small enough to inline, without a bounds check.
	types [maxIndexed]protowire.Type
	// the one field numbered past types (OTLP's deprecated 1000), if any
	farNum  protowire.Number
	farType protowire.Type
}

// maxIndexed bounds the field numbers Message.types covers: all of OTLP's
// but the deprecated 1000.
const maxIndexed = 32

// undeclared marks the numbers a message does not declare in Message.types.
const undeclared protowire.Type = -1

func newMessage(name string, fields ...FieldSpec) Message {
	m := Message{name: name, fields: fields}
	for i := range m.types {
		m.types[i] = undeclared
	}
	for _, f := range fields {
		switch {
		case f.Num < maxIndexed:
			m.types[f.Num] = f.Type
		case m.farNum == 0:
			m.farNum, m.farType = f.Num, f.Type
		default:
			panic("otlpwire: " + name + " has more than one field numbered past the table")
		}
	}
	return m
}

// Name is the message's name in the .proto.
func (m *Message) Name() string { return m.name }

// Field returns the field num of m; ok is false when m does not declare it.
func (m *Message) Field(num protowire.Number) (f FieldSpec, ok bool) {
	for _, f := range m.fields {
		if f.Num == num {
			return f, true
		}
	}
	return FieldSpec{}, false
}

// Fields returns the fields m declares. The slice must not be modified.
func (m *Message) Fields() []FieldSpec { return m.fields }

// WrongType reports whether m declares field num with another wire type
// than typ: pdata refuses a message with such a field. It inlines into the
// readers' field loops (it takes the number and type rather than a Field,
// which inlining would copy).
func (m *Message) WrongType(num protowire.Number, typ protowire.Type) bool {
	if i := uint64(num); i < maxIndexed {
		t := m.types[i]
		return t != typ && t != undeclared
	}
	return num == m.farNum && typ != m.farType
}

// The field tables of the messages of an export request.
var (
	ExportTraceServiceRequest = newMessage("ExportTraceServiceRequest",
		field(TracesRequestResourceSpans, "resource_spans"),
	)
	ResourceSpans = newMessage("ResourceSpans",
		field(ResourceSpansResource, "resource"),
		field(ResourceSpansScopeSpans, "scope_spans"),
		field(ResourceSpansSchemaURL, "schema_url"),
		field(ResourceSpansLibrarySpans, "instrumentation_library_spans"),
	)
	ScopeSpans = newMessage("ScopeSpans",
		field(ScopeSpansScope, "scope"),
		field(ScopeSpansSpans, "spans"),
		field(ScopeSpansSchemaURL, "schema_url"),
	)
	Span = newMessage("Span",
		field(SpanTraceID, "trace_id"),
		field(SpanSpanID, "span_id"),
		field(SpanTraceState, "trace_state"),
		field(SpanParentSpanID, "parent_span_id"),
		field(SpanName, "name"),
		field(SpanKind, "kind"),
		field(SpanStartTime, "start_time_unix_nano"),
		field(SpanEndTime, "end_time_unix_nano"),
		field(SpanAttributes, "attributes"),
		field(SpanDroppedAttributes, "dropped_attributes_count"),
		field(SpanEvents, "events"),
		field(SpanDroppedEvents, "dropped_events_count"),
		field(SpanLinks, "links"),
		field(SpanDroppedLinks, "dropped_links_count"),
		field(SpanStatus, "status"),
		field(SpanFlags, "flags"),
	)
	Event = newMessage("Event",
		field(EventTime, "time_unix_nano"),
		field(EventName, "name"),
		field(EventAttributes, "attributes"),
		field(EventDroppedAttributes, "dropped_attributes_count"),
	)
	Link = newMessage("Link",
		field(LinkTraceID, "trace_id"),
		field(LinkSpanID, "span_id"),
		field(LinkTraceState, "trace_state"),
		field(LinkAttributes, "attributes"),
		field(LinkDroppedAttributes, "dropped_attributes_count"),
		field(LinkFlags, "flags"),
	)
	Status = newMessage("Status",
		field(StatusMessage, "message"),
		field(StatusCode, "code"),
	)

	ExportLogsServiceRequest = newMessage("ExportLogsServiceRequest",
		field(LogsRequestResourceLogs, "resource_logs"),
	)
	ResourceLogs = newMessage("ResourceLogs",
		field(ResourceLogsResource, "resource"),
		field(ResourceLogsScopeLogs, "scope_logs"),
		field(ResourceLogsSchemaURL, "schema_url"),
		field(ResourceLogsLibraryLogs, "instrumentation_library_logs"),
	)
	ScopeLogs = newMessage("ScopeLogs",
		field(ScopeLogsScope, "scope"),
		field(ScopeLogsLogRecords, "log_records"),
		field(ScopeLogsSchemaURL, "schema_url"),
	)
	LogRecord = newMessage("LogRecord",
		field(LogRecordTime, "time_unix_nano"),
		field(LogRecordSeverityNumber, "severity_number"),
		field(LogRecordSeverityText, "severity_text"),
		field(LogRecordBody, "body"),
		field(LogRecordAttributes, "attributes"),
		field(LogRecordDroppedAttributes, "dropped_attributes_count"),
		field(LogRecordFlags, "flags"),
		field(LogRecordTraceID, "trace_id"),
		field(LogRecordSpanID, "span_id"),
		field(LogRecordObservedTime, "observed_time_unix_nano"),
		field(LogRecordEventName, "event_name"),
	)

	Resource = newMessage("Resource",
		field(ResourceAttributes, "attributes"),
		field(ResourceDroppedAttributes, "dropped_attributes_count"),
		field(ResourceEntityRefs, "entity_refs"),
	)
	EntityRef = newMessage("EntityRef",
		field(EntityRefSchemaURL, "schema_url"),
		field(EntityRefType, "type"),
		field(EntityRefIDKeys, "id_keys"),
		field(EntityRefDescriptionKeys, "description_keys"),
	)
	InstrumentationScope = newMessage("InstrumentationScope",
		field(ScopeName, "name"),
		field(ScopeVersion, "version"),
		field(ScopeAttributes, "attributes"),
		field(ScopeDroppedAttributes, "dropped_attributes_count"),
	)
	KeyValue = newMessage("KeyValue",
		field(KeyValueKey, "key"),
		field(KeyValueValue, "value"),
		field(KeyValueKeyStrindex, "key_strindex"),
	)
	AnyValue = newMessage("AnyValue",
		field(AnyValueString, "string_value"),
		field(AnyValueBool, "bool_value"),
		field(AnyValueInt, "int_value"),
		field(AnyValueDouble, "double_value"),
		field(AnyValueArray, "array_value"),
		field(AnyValueKeyValueList, "kvlist_value"),
		field(AnyValueBytes, "bytes_value"),
		field(AnyValueStringStrindex, "string_value_strindex"),
	)
	ArrayValue = newMessage("ArrayValue",
		field(ArrayValueValues, "values"),
	)
	KeyValueList = newMessage("KeyValueList",
		field(KeyValueListValues, "values"),
	)
)
