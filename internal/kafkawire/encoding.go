package kafkawire

import (
	"errors"
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Encoding is how a message value is serialised. The names are the
// OpenTelemetry Collector kafka exporter's.
type Encoding string

const (
	// EncodingProto is one OTLP ExportTraceServiceRequest /
	// ExportLogsServiceRequest protobuf per message (the OTel default).
	EncodingProto Encoding = "otlp_proto"
	// EncodingJSON is the same request in OTLP/JSON.
	EncodingJSON Encoding = "otlp_json"
	// EncodingAuto (decoding only) detects the encoding of each message:
	// a JSON object starts with '{', which can never start a valid OTLP
	// protobuf request (0x7b is a start-group tag, which OTLP does not use).
	EncodingAuto Encoding = "auto"
)

// HeaderContentType is an optional message header naming the encoding of the
// value. Values: otlp_proto, otlp_json, application/x-protobuf,
// application/json. Messages without it are decoded by the configured (or
// detected) encoding, as the OTel kafka receiver does.
const HeaderContentType = "content-type"

// ParseEncoding checks an encoding name. allowAuto admits "auto".
func ParseEncoding(s string, allowAuto bool) (Encoding, error) {
	switch Encoding(s) {
	case EncodingProto, EncodingJSON:
		return Encoding(s), nil
	case EncodingAuto:
		if allowAuto {
			return EncodingAuto, nil
		}
	}
	if allowAuto {
		return "", fmt.Errorf("unknown encoding %q: want otlp_proto, otlp_json or auto", s)
	}
	return "", fmt.Errorf("unknown encoding %q: want otlp_proto or otlp_json", s)
}

// Reasons a message cannot be decoded; they go into the dead-letter header
// HeaderDeadLetterReason.
const (
	ReasonEmpty           = "empty_message"
	ReasonUnknownEncoding = "unknown_encoding"
	ReasonWrongEncoding   = "wrong_encoding"
	ReasonMalformed       = "malformed_payload"
	ReasonNoRecords       = "no_records"
	// ReasonReaderPanic: reading the message panicked (a bug in a decoder
	// that this message triggers); the error header holds the panic.
	ReasonReaderPanic = "reader_panic"
)

// DecodeError says why a message value could not be decoded.
type DecodeError struct {
	Reason   string   // one of the Reason* constants
	Encoding Encoding // the encoding that was tried, if any
	Err      error
}

func (e *DecodeError) Error() string {
	if e.Encoding != "" {
		return fmt.Sprintf("decode %s: %s: %v", e.Encoding, e.Reason, e.Err)
	}
	return fmt.Sprintf("decode: %s: %v", e.Reason, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

var (
	errEmpty     = errors.New("message value is empty")
	errNoRecords = errors.New("request holds no spans or log records")
)

// Decoder turns message values into pdata. The zero value decodes with
// EncodingAuto. It is safe for concurrent use.
type Decoder struct {
	// Encoding is the expected encoding: otlp_proto, otlp_json or auto.
	// With a fixed encoding, a value in the other one is refused
	// (ReasonWrongEncoding) unless a content-type header names it.
	Encoding Encoding
}

// encodingOf picks the encoding of one message.
func (d Decoder) encodingOf(value []byte, headers []kafka.Header) (Encoding, error) {
	for _, h := range headers {
		if !strings.EqualFold(h.Key, HeaderContentType) {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(string(h.Value))) {
		case string(EncodingProto), "application/x-protobuf", "application/protobuf":
			return EncodingProto, nil
		case string(EncodingJSON), "application/json":
			return EncodingJSON, nil
		default:
			return "", &DecodeError{Reason: ReasonUnknownEncoding, Err: fmt.Errorf("content-type header %q is not otlp_proto or otlp_json", h.Value)}
		}
	}
	looksJSON := firstNonSpace(value) == '{'
	switch d.Encoding {
	case EncodingProto:
		if looksJSON {
			return "", &DecodeError{Reason: ReasonWrongEncoding, Encoding: EncodingProto, Err: errors.New("value is JSON, topic expects otlp_proto")}
		}
		return EncodingProto, nil
	case EncodingJSON:
		if !looksJSON {
			return "", &DecodeError{Reason: ReasonWrongEncoding, Encoding: EncodingJSON, Err: errors.New("value is not a JSON object, topic expects otlp_json")}
		}
		return EncodingJSON, nil
	}
	if looksJSON {
		return EncodingJSON, nil
	}
	return EncodingProto, nil
}

// IsProto says whether the message is a non-empty value to decode as
// otlp_proto: then it may be read straight from its bytes (storage's
// AppendTracesProto), and DecodeTraces is needed only for what that
// refuses.
func (d Decoder) IsProto(value []byte, headers []kafka.Header) bool {
	enc, err := d.encodingOf(value, headers)
	return len(value) > 0 && err == nil && enc == EncodingProto
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// DecodeTraces decodes one spans message. Errors are *DecodeError. A request
// that holds no span at all is an error too (ReasonNoRecords): protobuf
// skips unknown fields, so arbitrary bytes often "decode" to nothing.
func (d Decoder) DecodeTraces(value []byte, headers []kafka.Header) (ptrace.Traces, error) {
	if len(value) == 0 {
		return ptrace.Traces{}, &DecodeError{Reason: ReasonEmpty, Err: errEmpty}
	}
	enc, err := d.encodingOf(value, headers)
	if err != nil {
		return ptrace.Traces{}, err
	}
	var td ptrace.Traces
	if enc == EncodingJSON {
		var u ptrace.JSONUnmarshaler
		td, err = u.UnmarshalTraces(value)
	} else {
		var u ptrace.ProtoUnmarshaler
		td, err = u.UnmarshalTraces(value)
	}
	if err != nil {
		return ptrace.Traces{}, &DecodeError{Reason: ReasonMalformed, Encoding: enc, Err: err}
	}
	if td.SpanCount() == 0 {
		return ptrace.Traces{}, &DecodeError{Reason: ReasonNoRecords, Encoding: enc, Err: errNoRecords}
	}
	return td, nil
}

// DecodeLogs decodes one logs message, like DecodeTraces.
func (d Decoder) DecodeLogs(value []byte, headers []kafka.Header) (plog.Logs, error) {
	if len(value) == 0 {
		return plog.Logs{}, &DecodeError{Reason: ReasonEmpty, Err: errEmpty}
	}
	enc, err := d.encodingOf(value, headers)
	if err != nil {
		return plog.Logs{}, err
	}
	var ld plog.Logs
	if enc == EncodingJSON {
		var u plog.JSONUnmarshaler
		ld, err = u.UnmarshalLogs(value)
	} else {
		var u plog.ProtoUnmarshaler
		ld, err = u.UnmarshalLogs(value)
	}
	if err != nil {
		return plog.Logs{}, &DecodeError{Reason: ReasonMalformed, Encoding: enc, Err: err}
	}
	if ld.LogRecordCount() == 0 {
		return plog.Logs{}, &DecodeError{Reason: ReasonNoRecords, Encoding: enc, Err: errNoRecords}
	}
	return ld, nil
}

// MarshalTraces encodes a request in enc (otlp_proto or otlp_json).
func MarshalTraces(enc Encoding, td ptrace.Traces) ([]byte, error) {
	switch enc {
	case EncodingProto, "":
		var m ptrace.ProtoMarshaler
		return m.MarshalTraces(td)
	case EncodingJSON:
		var m ptrace.JSONMarshaler
		return m.MarshalTraces(td)
	}
	return nil, fmt.Errorf("marshal traces: unknown encoding %q", enc)
}

// MarshalLogs encodes a request in enc (otlp_proto or otlp_json).
func MarshalLogs(enc Encoding, ld plog.Logs) ([]byte, error) {
	switch enc {
	case EncodingProto, "":
		var m plog.ProtoMarshaler
		return m.MarshalLogs(ld)
	case EncodingJSON:
		var m plog.JSONMarshaler
		return m.MarshalLogs(ld)
	}
	return nil, fmt.Errorf("marshal logs: unknown encoding %q", enc)
}
