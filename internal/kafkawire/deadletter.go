package kafkawire

import (
	"strconv"

	"github.com/segmentio/kafka-go"
)

// Headers of a dead-letter message. The value and key are the original
// message's, byte for byte, so it can be inspected or replayed.
const (
	// HeaderDeadLetterReason is a short machine-readable reason: one of the
	// Reason* constants, or a storage rejection reason.
	HeaderDeadLetterReason = "flowlens.dead_letter.reason"
	// HeaderDeadLetterError is the full human-readable error.
	HeaderDeadLetterError     = "flowlens.dead_letter.error"
	HeaderDeadLetterTopic     = "flowlens.dead_letter.topic"
	HeaderDeadLetterPartition = "flowlens.dead_letter.partition"
	HeaderDeadLetterOffset    = "flowlens.dead_letter.offset"
)

// maxErrorHeader bounds the error text copied into a header.
const maxErrorHeader = 1024

// DeadLetterMessage builds the dead-letter copy of src. The original headers
// are kept after the dead-letter ones.
func DeadLetterMessage(topic string, src kafka.Message, reason, detail string) kafka.Message {
	if len(detail) > maxErrorHeader {
		detail = detail[:maxErrorHeader]
	}
	h := make([]kafka.Header, 0, 5+len(src.Headers))
	h = append(h,
		kafka.Header{Key: HeaderDeadLetterReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderDeadLetterError, Value: []byte(detail)},
		kafka.Header{Key: HeaderDeadLetterTopic, Value: []byte(src.Topic)},
		kafka.Header{Key: HeaderDeadLetterPartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
		kafka.Header{Key: HeaderDeadLetterOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
	)
	h = append(h, src.Headers...)
	return kafka.Message{Topic: topic, Key: src.Key, Value: src.Value, Headers: h}
}

// HeaderValue returns the value of the first header named key, or nil.
func HeaderValue(headers []kafka.Header, key string) []byte {
	for _, h := range headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}
