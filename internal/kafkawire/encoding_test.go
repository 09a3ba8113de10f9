package kafkawire_test

import (
	"errors"
	"testing"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestDecodeTraces(t *testing.T) {
	td := wiretest.Traces(0, 10, 2)
	proto, _ := kafkawire.MarshalTraces(kafkawire.EncodingProto, td)
	json, _ := kafkawire.MarshalTraces(kafkawire.EncodingJSON, td)
	logs, _ := kafkawire.MarshalLogs(kafkawire.EncodingProto, wiretest.Logs(0, 10))
	empty, _ := kafkawire.MarshalTraces(kafkawire.EncodingProto, ptrace.NewTraces())
	ct := func(v string) []kafka.Header { return []kafka.Header{{Key: "content-type", Value: []byte(v)}} }

	for _, tc := range []struct {
		name    string
		dec     kafkawire.Encoding
		value   []byte
		headers []kafka.Header
		reason  string // "" means it decodes to 10 spans
	}{
		{"proto", kafkawire.EncodingProto, proto, nil, ""},
		{"json on auto", kafkawire.EncodingAuto, json, nil, ""},
		{"proto on auto", "", proto, nil, ""},
		{"json with header on proto topic", kafkawire.EncodingProto, json, ct("application/json"), ""},
		{"json without header on proto topic", kafkawire.EncodingProto, json, nil, kafkawire.ReasonWrongEncoding},
		{"proto on json topic", kafkawire.EncodingJSON, proto, nil, kafkawire.ReasonWrongEncoding},
		{"unknown content type", "", proto, ct("avro/binary"), kafkawire.ReasonUnknownEncoding},
		{"empty value", "", nil, nil, kafkawire.ReasonEmpty},
		{"request without spans", "", empty, nil, kafkawire.ReasonEmpty}, // an empty request marshals to zero bytes
		{"truncated protobuf", "", proto[:len(proto)/2], nil, kafkawire.ReasonMalformed},
		{"garbage", "", []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2}, nil, kafkawire.ReasonMalformed},
		{"plain text", "", []byte("hello world, not OTLP"), nil, kafkawire.ReasonMalformed},
		{"broken json", "", []byte(`{"resourceSpans":[{`), nil, kafkawire.ReasonMalformed},
		{"json without spans", "", []byte(`{"foo":1}`), nil, kafkawire.ReasonNoRecords},
		{"logs on the spans topic", "", logs, nil, kafkawire.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kafkawire.Decoder{Encoding: tc.dec}.DecodeTraces(tc.value, tc.headers)
			if tc.reason == "" {
				if err != nil || got.SpanCount() != 10 {
					t.Fatalf("err %v, %d spans", err, got.SpanCount())
				}
				return
			}
			var de *kafkawire.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v (%d spans), want a DecodeError %s", err, got.SpanCount(), tc.reason)
			}
			if de.Reason != tc.reason {
				t.Fatalf("reason %q (%v), want %q", de.Reason, err, tc.reason)
			}
		})
	}
}

func TestDecodeLogs(t *testing.T) {
	v, _ := kafkawire.MarshalLogs(kafkawire.EncodingJSON, wiretest.Logs(0, 7))
	ld, err := kafkawire.Decoder{}.DecodeLogs(v, nil)
	if err != nil || ld.LogRecordCount() != 7 {
		t.Fatalf("err %v, %d records", err, ld.LogRecordCount())
	}
	spans, _ := kafkawire.MarshalTraces(kafkawire.EncodingProto, wiretest.Traces(0, 3, 1))
	if _, err := (kafkawire.Decoder{}).DecodeLogs(spans, nil); err == nil {
		t.Fatal("spans decoded as logs")
	}
}

func FuzzDecodeTraces(f *testing.F) {
	td := wiretest.Traces(0, 4, 2)
	p, _ := kafkawire.MarshalTraces(kafkawire.EncodingProto, td)
	j, _ := kafkawire.MarshalTraces(kafkawire.EncodingJSON, td)
	f.Add(p, "")
	f.Add(j, "application/json")
	f.Add([]byte{}, "")
	f.Add([]byte("{"), "otlp_json")
	f.Fuzz(func(t *testing.T, v []byte, ct string) {
		var h []kafka.Header
		if ct != "" {
			h = []kafka.Header{{Key: kafkawire.HeaderContentType, Value: []byte(ct)}}
		}
		td, err := kafkawire.Decoder{}.DecodeTraces(v, h)
		if err != nil {
			var de *kafkawire.DecodeError
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if td.SpanCount() == 0 {
			t.Fatal("decoded without error but no spans")
		}
	})
}

func FuzzDecodeLogs(f *testing.F) {
	p, _ := kafkawire.MarshalLogs(kafkawire.EncodingProto, wiretest.Logs(0, 4))
	f.Add(p)
	f.Add([]byte(`{"resourceLogs":[]}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		ld, err := kafkawire.Decoder{}.DecodeLogs(v, nil)
		if err == nil && ld.LogRecordCount() == 0 {
			t.Fatal("decoded without error but no records")
		}
	})
}
