// Package otlpwire reads protobuf fields the way pdata's OTLP unmarshaller
// (go.opentelemetry.io/collector/pdata v1.71) does, for readers that decode
// OTLP requests in place instead of building pdata: it accepts and refuses
// the same framing (varints of up to ten bytes, field numbers truncated to
// int32, deprecated groups skipped the same odd way), so a reader built on it
// can promise "pdata accepts b" exactly when it does.
//
// Only framing is checked here; which wire type a known field must have is
// the reader's business (pdata refuses a known field with the wrong type).
package otlpwire

import (
	"encoding/binary"
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is returned for bytes pdata's unmarshaller cannot frame.
var ErrMalformed = errors.New("malformed protobuf")

// Field is one decoded protobuf field.
type Field struct {
	Num  protowire.Number
	Type protowire.Type
	V    []byte // BytesType payload; aliases the input
	X    uint64 // varint / fixed value
}

// Next decodes the first field of b and returns the rest (ErrMalformed on
// input pdata refuses to frame). It is the loop form of Each. A group field
// is skipped and returned with its type and no payload.
func Next(b []byte) (f Field, rest []byte, err error) {
	f, n := Read(b)
	if n < 0 {
		return f, nil, ErrMalformed
	}
	return f, b[n:], nil
}

// Read is Next for the hottest loops (spans, key-values): it returns the
// number of bytes the field takes, or -1 when b is malformed (results fit
// in registers), with fast paths for one-byte tags and lengths.
func Read(b []byte) (f Field, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		f.Num, f.Type = protowire.Number(b[0]>>3), protowire.Type(b[0]&7)
		n = 1
		if f.Num == 0 {
			return f, -1
		}
	} else {
		num, typ, l := consumeTag(b)
		if l < 0 {
			return f, -1
		}
		f.Num, f.Type = num, typ
		n = l
	}
	b = b[n:]
	var l int
	switch f.Type {
	case protowire.BytesType:
		if len(b) > 0 && b[0] < 0x80 {
			m := int(b[0])
			if len(b)-1 < m {
				return f, -1
			}
			f.V = b[1 : 1+m : 1+m]
			return f, n + 1 + m
		}
		f.V, l = consumeBytes(b)
	case protowire.VarintType:
		if len(b) > 0 && b[0] < 0x80 {
			f.X = uint64(b[0])
			return f, n + 1
		}
		f.X, l = consumeVarint(b)
	case protowire.Fixed64Type:
		if len(b) < 8 {
			return f, -1
		}
		f.X = binary.LittleEndian.Uint64(b)
		return f, n + 8
	case protowire.Fixed32Type:
		if len(b) < 4 {
			return f, -1
		}
		f.X = uint64(binary.LittleEndian.Uint32(b))
		return f, n + 4
	default:
		l = skipGroup(b, f.Type)
	}
	if l < 0 {
		return f, -1
	}
	return f, n + l
}

// Each calls fn for every field of a message. For BytesType, v is the
// payload; for varint and fixed types, x is the value. It stops at the first
// error fn returns, and returns ErrMalformed for input pdata refuses to frame.
func Each(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		f, rest, err := Next(b)
		if err != nil {
			return err
		}
		b = rest
		if err := fn(f.Num, f.Type, f.V, f.X); err != nil {
			return err
		}
	}
	return nil
}

// consumeVarint reads a varint as pdata does: at most ten bytes, the bits
// past 64 of the tenth dropped (protowire refuses a tenth byte over 1).
func consumeVarint(b []byte) (uint64, int) {
	var x uint64
	for i := 0; i < 10; i++ {
		if i >= len(b) {
			return 0, -1
		}
		c := b[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, i + 1
		}
	}
	return 0, -1
}

// consumeTag reads a tag as pdata does: the field number is the tag shifted
// right by three, truncated to int32, and must be positive.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	x, l := consumeVarint(b)
	if l < 0 {
		return 0, 0, -1
	}
	num := int32(x >> 3)
	if num <= 0 {
		return 0, 0, -1
	}
	return protowire.Number(num), protowire.Type(x & 7), l
}

func consumeBytes(b []byte) ([]byte, int) {
	n, l := consumeVarint(b)
	if l < 0 || n > uint64(len(b)-l) {
		return nil, -1
	}
	end := l + int(n)
	return b[l:end:end], end
}

// skipGroup skips a (deprecated) group field the way pdata's unmarshaller
// does, so both accept the same requests: a start-group tag is followed by
// tags until the group ends or a non-group field is consumed. Wire types 6
// and 7 are refused. It returns the bytes consumed, or -1.
func skipGroup(b []byte, typ protowire.Type) int {
	pos, depth := 0, 0
	for pos < len(b) {
		switch typ {
		case protowire.VarintType:
			_, l := consumeVarint(b[pos:])
			if l < 0 {
				return -1
			}
			return pos + l
		case protowire.Fixed64Type:
			if len(b)-pos < 8 {
				return -1
			}
			return pos + 8
		case protowire.Fixed32Type:
			if len(b)-pos < 4 {
				return -1
			}
			return pos + 4
		case protowire.BytesType:
			_, l := consumeBytes(b[pos:])
			if l < 0 {
				return -1
			}
			return pos + l
		case protowire.StartGroupType:
			depth++
		case protowire.EndGroupType:
			if depth == 0 {
				return -1
			}
			depth--
		default:
			return -1
		}
		if depth == 0 {
			return pos
		}
		_, t, l := consumeTag(b[pos:])
		if l < 0 {
			return -1
		}
		pos += l
		typ = t
	}
	return -1
}

// ReadShortBytes is the inlinable fast case of Read: a bytes field with a
// one-byte tag and a one-byte length, the most common field in OTLP. It
// returns n == 0 when b does not start with such a field: call Read then.
func ReadShortBytes(b []byte) (num protowire.Number, v []byte, n int) {
	if len(b) < 2 || b[0]&0x87 != 2 || b[0] < 8 || b[1] >= 0x80 {
		return 0, nil, 0
	}
	n = int(b[1]) + 2
	if n > len(b) {
		return 0, nil, 0
	}
	return protowire.Number(b[0] >> 3), b[2:n:n], n
}
