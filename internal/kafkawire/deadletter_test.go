package kafkawire

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/internal/golden"
)

// Dead-letter messages stay in Kafka for people and tools to inspect and
// replay, long after the collector that wrote them: their header names,
// reason values and the copy of the original are a format. The reference
// is a text rendering, one header per line.
func TestDeadLetterMessageGolden(t *testing.T) {
	src := kafka.Message{
		Topic: "otlp_spans", Partition: 3, Offset: 4567,
		Key: []byte("4bf92f3577b34da6a3ce929d0e0e4736"), Value: []byte{0x0a, 0x02, 0xff, 0x00},
		Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/x-protobuf")}},
	}
	long := strings.Repeat("x", maxErrorHeader+10)
	var b strings.Builder
	for _, tc := range []struct{ reason, detail string }{
		{ReasonEmpty, "decode: empty_message: empty message"},
		{ReasonUnknownEncoding, "content-type header \"text/plain\" is not otlp_proto or otlp_json"},
		{ReasonWrongEncoding, "value is JSON, topic expects otlp_proto"},
		{ReasonMalformed, "proto: cannot parse invalid wire-format data"},
		{ReasonNoRecords, "the request holds no records"},
		{ReasonMalformed, long}, // cut to maxErrorHeader
	} {
		m := DeadLetterMessage("otlp_dead_letter", src, tc.reason, tc.detail)
		fmt.Fprintf(&b, "topic %s key %q value %q\n", m.Topic, m.Key, m.Value)
		for _, h := range m.Headers {
			fmt.Fprintf(&b, "  %s: %q\n", h.Key, h.Value)
		}
	}
	golden.Equal(t, filepath.Join("testdata", "dead_letter.golden"), []byte(b.String()))
}
