// Package forward sends the records of the agent's disk buffer to Kafka, in
// buffer order, and acknowledges them back to the buffer once Kafka has
// them (acks=all). Each buffer record is one Kafka message: its kind
// (logs or spans, mapped to the configured topics), key and value.
package forward

import (
	"encoding/binary"
	"errors"
)

// Kind selects the topic of a message.
type Kind byte

// Message kinds.
const (
	KindLogs  Kind = 1
	KindSpans Kind = 2
)

var errBadMessage = errors.New("malformed buffer message")

// AppendMessage appends the buffer encoding of one Kafka message:
// kind, record count, key length, key, value.
func AppendMessage(dst []byte, kind Kind, records int, key, value []byte) []byte {
	dst = append(dst, byte(kind))
	dst = binary.AppendUvarint(dst, uint64(records))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	return append(dst, value...)
}

// MessageSize is len(AppendMessage(nil, ...)) without building it.
func MessageSize(records int, key, value []byte) int {
	return 1 + uvarintLen(uint64(records)) + uvarintLen(uint64(len(key))) + len(key) + len(value)
}

// DecodeMessage splits a buffer record; key and value alias b.
func DecodeMessage(b []byte) (kind Kind, records int, key, value []byte, err error) {
	if len(b) < 3 {
		return 0, 0, nil, nil, errBadMessage
	}
	kind = Kind(b[0])
	if kind != KindLogs && kind != KindSpans {
		return 0, 0, nil, nil, errBadMessage
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, nil, nil, errBadMessage
	}
	b = b[k:]
	kl, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < kl {
		return 0, 0, nil, nil, errBadMessage
	}
	b = b[k:]
	if kl > 0 {
		key = b[:kl:kl]
	}
	return kind, int(n), key, b[kl:], nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
