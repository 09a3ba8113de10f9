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

// stamped marks, in the kind byte, a record that carries the ledger
// interval in which the agent accepted it (after the record count).
// Records of agents before the ledger carry none and decode with interval 0.
const stamped = 0x80

var errBadMessage = errors.New("malformed buffer message")

// AppendMessage appends the buffer encoding of one Kafka message:
// kind, record count, key length, key, value.
func AppendMessage(dst []byte, kind Kind, records int, key, value []byte) []byte {
	return AppendStampedMessage(dst, kind, records, 0, key, value)
}

// AppendStampedMessage is AppendMessage for records accepted in the ledger
// interval starting at interval (Unix seconds; 0: no stamp, the format of
// AppendMessage): kind|stamped, record count, interval, key length, key,
// value.
func AppendStampedMessage(dst []byte, kind Kind, records int, interval int64, key, value []byte) []byte {
	dst = AppendStampedHeader(dst, kind, records, interval)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	return append(dst, value...)
}

// AppendStampedHeader appends what precedes the key length: for callers
// that encode the key and value themselves.
func AppendStampedHeader(dst []byte, kind Kind, records int, interval int64) []byte {
	if interval > 0 {
		dst = append(dst, byte(kind)|stamped)
		dst = binary.AppendUvarint(dst, uint64(records))
		return binary.AppendUvarint(dst, uint64(interval))
	}
	dst = append(dst, byte(kind))
	return binary.AppendUvarint(dst, uint64(records))
}

// MessageSize is len(AppendMessage(nil, ...)) without building it.
func MessageSize(records int, key, value []byte) int {
	return StampedMessageSize(records, 0, key, value)
}

// StampedMessageSize is len(AppendStampedMessage(nil, ...)) without building it.
func StampedMessageSize(records int, interval int64, key, value []byte) int {
	n := 1 + uvarintLen(uint64(records)) + uvarintLen(uint64(len(key))) + len(key) + len(value)
	if interval > 0 {
		n += uvarintLen(uint64(interval))
	}
	return n
}

// DecodeMessage splits a buffer record; key and value alias b.
func DecodeMessage(b []byte) (kind Kind, records int, key, value []byte, err error) {
	kind, records, _, key, value, err = DecodeStampedMessage(b)
	return kind, records, key, value, err
}

// DecodeStampedMessage is DecodeMessage that also returns the record's
// ledger interval (0 for a record without a stamp).
func DecodeStampedMessage(b []byte) (kind Kind, records int, interval int64, key, value []byte, err error) {
	if len(b) < 3 {
		return 0, 0, 0, nil, nil, errBadMessage
	}
	kind = Kind(b[0] &^ stamped)
	hasStamp := b[0]&stamped != 0
	if kind != KindLogs && kind != KindSpans {
		return 0, 0, 0, nil, nil, errBadMessage
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, 0, nil, nil, errBadMessage
	}
	b = b[k:]
	if hasStamp {
		iv, k := binary.Uvarint(b)
		if k <= 0 || iv == 0 || iv > 1<<62 {
			return 0, 0, 0, nil, nil, errBadMessage
		}
		interval = int64(iv)
		b = b[k:]
	}
	kl, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < kl {
		return 0, 0, 0, nil, nil, errBadMessage
	}
	b = b[k:]
	if kl > 0 {
		key = b[:kl:kl]
	}
	return kind, int(n), interval, key, b[kl:], nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
