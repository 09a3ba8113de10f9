package otlpwire

import (
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The field tables say what the OTLP .proto files say: every field of the
// generated descriptors is in the table with its number, name and wire
// type, and the table holds nothing else but the fields OTLP 0.15 removed.
func TestFieldTablesMatchTheProto(t *testing.T) {
	for _, tc := range []struct {
		table *Message
		proto proto.Message
	}{
		{&ExportTraceServiceRequest, &coltracepb.ExportTraceServiceRequest{}},
		{&ResourceSpans, &tracepb.ResourceSpans{}},
		{&ScopeSpans, &tracepb.ScopeSpans{}},
		{&Span, &tracepb.Span{}},
		{&Event, &tracepb.Span_Event{}},
		{&Link, &tracepb.Span_Link{}},
		{&Status, &tracepb.Status{}},
		{&ExportLogsServiceRequest, &collogspb.ExportLogsServiceRequest{}},
		{&ResourceLogs, &logspb.ResourceLogs{}},
		{&ScopeLogs, &logspb.ScopeLogs{}},
		{&LogRecord, &logspb.LogRecord{}},
		{&Resource, &resourcepb.Resource{}},
		{&EntityRef, &commonpb.EntityRef{}},
		{&InstrumentationScope, &commonpb.InstrumentationScope{}},
		{&KeyValue, &commonpb.KeyValue{}},
		{&AnyValue, &commonpb.AnyValue{}},
		{&ArrayValue, &commonpb.ArrayValue{}},
		{&KeyValueList, &commonpb.KeyValueList{}},
	} {
		desc := tc.proto.ProtoReflect().Descriptor()
		if tc.table.Name() != string(desc.Name()) {
			t.Errorf("table %s describes %s", tc.table.Name(), desc.Name())
		}
		fds := desc.Fields()
		for i := 0; i < fds.Len(); i++ {
			fd := fds.Get(i)
			want := FieldSpec{Num: fd.Number(), Type: wireType(fd.Kind()), Name: string(fd.Name())}
			if got, ok := tc.table.Field(fd.Number()); !ok || got != want {
				t.Errorf("%s: field %d is %+v in the table (declared: %v), %+v in the proto", desc.Name(), fd.Number(), got, ok, want)
			}
		}
		for _, f := range tc.table.Fields() {
			if fds.ByNumber(f.Num) == nil && !desc.ReservedRanges().Has(f.Num) {
				t.Errorf("%s: the table has field %d (%s), the proto neither declares nor reserves it", desc.Name(), f.Num, f.Name)
			}
		}
	}
}

// wireType is the wire type of a non-repeated field of kind k (the OTLP
// messages have no packed repeated fields).
func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind,
		protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	}
	return protowire.BytesType
}

func TestWrongType(t *testing.T) {
	for _, tc := range []struct {
		m     *Message
		tag   Tag
		wrong bool
	}{
		{&Span, SpanTraceID, false},
		{&Span, TagOf(SpanTraceID.Num(), protowire.VarintType), true},
		{&Span, TagOf(SpanStartTime.Num(), protowire.Fixed32Type), true},
		{&Span, SpanFlags, false},
		{&Span, TagOf(SpanFlags.Num(), protowire.StartGroupType), true},
		{&Span, TagOf(17, protowire.VarintType), false},      // unknown: skipped
		{&Span, TagOf(1<<20, protowire.Fixed32Type), false},  // unknown, past the table
		{&LogRecord, TagOf(4, protowire.Fixed64Type), false}, // a gap in the numbers
		{&ResourceSpans, ResourceSpansLibrarySpans, false},
		{&ResourceSpans, TagOf(ResourceSpansLibrarySpans.Num(), protowire.VarintType), true},
		{&ResourceSpans, TagOf(999, protowire.VarintType), false},
	} {
		if got := tc.m.WrongType(tc.tag.Num(), tc.tag.Type()); got != tc.wrong {
			t.Errorf("%s.WrongType(field %d, wire type %d) = %v, want %v", tc.m.Name(), tc.tag.Num(), tc.tag.Type(), got, tc.wrong)
		}
	}
}

// A field's tag is its number and wire type as protobuf encodes them.
func TestTagIsTheWireTag(t *testing.T) {
	for _, tag := range []Tag{SpanTraceID, SpanKind, SpanStartTime, SpanFlags, ResourceSpansLibrarySpans} {
		if got := protowire.EncodeTag(tag.Num(), tag.Type()); Tag(got) != tag {
			t.Errorf("tag of field %d, wire type %d: protowire %d, otlpwire %d", tag.Num(), tag.Type(), got, tag)
		}
	}
	f := Field{Num: 9, Type: protowire.BytesType}
	if f.Tag() != SpanAttributes {
		t.Errorf("Field{9, bytes}.Tag() = %d, want SpanAttributes (%d)", f.Tag(), SpanAttributes)
	}
}

// Above their records, traces and logs have the same field numbers and
// wire types: the readers that handle both (the validators, the Kafka
// splitter, UsesDeprecatedLibraryField) name them with the spans' tags.
func TestTracesAndLogsShareTheirContainers(t *testing.T) {
	for _, pair := range [][2]*Message{
		{&ExportTraceServiceRequest, &ExportLogsServiceRequest},
		{&ResourceSpans, &ResourceLogs},
		{&ScopeSpans, &ScopeLogs},
	} {
		spans, logs := pair[0].Fields(), pair[1].Fields()
		if len(spans) != len(logs) {
			t.Fatalf("%s has %d fields, %s %d", pair[0].Name(), len(spans), pair[1].Name(), len(logs))
		}
		for i := range spans {
			if spans[i].Num != logs[i].Num || spans[i].Type != logs[i].Type {
				t.Errorf("%s field %+v, %s field %+v", pair[0].Name(), spans[i], pair[1].Name(), logs[i])
			}
		}
	}
}
