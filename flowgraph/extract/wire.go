package extract

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"google.golang.org/protobuf/encoding/protowire"
)

// Protobuf extracts the spans of an OTLP ExportTraceServiceRequest straight
// from its protobuf bytes, without building pdata: the fields the flow graph
// needs are read in place and strings are interned from the buffer. It hands
// the same spans to h as Traces does for the unmarshalled request, and
// returns their number. b is only read; it may be reused after the call.
//
// Field numbers (opentelemetry/proto/trace/v1/trace.proto):
//
//	Request{1: ResourceSpans}  ResourceSpans{1: Resource{1: KeyValue}, 2: ScopeSpans{2: Span}}
//	Span{1: trace_id, 2: span_id, 4: parent_span_id, 6: kind, 7: start, 8: end,
//	     9: KeyValue, 11: Event{1: time, 2: name, 3: KeyValue}, 13: Link{1: trace_id, 2: span_id}, 15: Status{3: code}}
//	KeyValue{1: key, 2: AnyValue{1: string, 2: bool, 3: int, 4: double, ...}}
//
// It accepts everything pdata's unmarshaller accepts and extracts the same
// spans (a differential test checks it); IDs of a wrong length, which pdata
// refuses, are truncated or zero-padded here.
func (e *Extractor) Protobuf(b []byte, h Handler) (int, error) {
	n := 0
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		c, err := e.resourceSpans(v, h)
		n += c
		return err
	})
	if err != nil {
		return n, fmt.Errorf("otlp protobuf: %w", err)
	}
	return n, nil
}

var errMalformed = errors.New("malformed protobuf")

// eachField calls fn for every field of a message. For BytesType, v is the
// payload; for varint and fixed types, x is the value.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errMalformed
		}
		b = b[l:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, l = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			x, l = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var y uint32
			y, l = protowire.ConsumeFixed32(b)
			x = uint64(y)
		default:
			l = skipGroup(b, typ)
		}
		if l < 0 {
			return errMalformed
		}
		b = b[l:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// field is one decoded protobuf field.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   []byte // BytesType payload
	x   uint64 // varint / fixed value
}

// nextField decodes the first field of b and returns the rest (err on
// malformed input). It is the loop form of eachField for the hottest
// messages (spans, key-values), with fast paths for one-byte tags and lengths.
func nextField(b []byte) (f field, rest []byte, err error) {
	if len(b) > 0 && b[0] < 0x80 {
		f.num, f.typ = protowire.Number(b[0]>>3), protowire.Type(b[0]&7)
		b = b[1:]
		if f.num == 0 {
			return f, nil, errMalformed
		}
	} else {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return f, nil, errMalformed
		}
		f.num, f.typ = num, typ
		b = b[l:]
	}
	var l int
	switch f.typ {
	case protowire.BytesType:
		if len(b) > 0 && b[0] < 0x80 {
			n := int(b[0])
			if len(b)-1 < n {
				return f, nil, errMalformed
			}
			f.v = b[1 : 1+n : 1+n]
			return f, b[1+n:], nil
		}
		f.v, l = protowire.ConsumeBytes(b)
	case protowire.VarintType:
		if len(b) > 0 && b[0] < 0x80 {
			f.x = uint64(b[0])
			return f, b[1:], nil
		}
		f.x, l = protowire.ConsumeVarint(b)
	case protowire.Fixed64Type:
		if len(b) < 8 {
			return f, nil, errMalformed
		}
		f.x = binary.LittleEndian.Uint64(b)
		return f, b[8:], nil
	case protowire.Fixed32Type:
		if len(b) < 4 {
			return f, nil, errMalformed
		}
		f.x = uint64(binary.LittleEndian.Uint32(b))
		return f, b[4:], nil
	default:
		l = skipGroup(b, f.typ)
	}
	if l < 0 {
		return f, nil, errMalformed
	}
	return f, b[l:], nil
}

// skipGroup skips a (deprecated) group field the way pdata's unmarshaller
// does, so both accept the same requests: a start-group tag is followed by
// tags until the group ends or a non-group field is consumed.
func skipGroup(b []byte, typ protowire.Type) int {
	pos, depth := 0, 0
	for pos < len(b) {
		switch typ {
		case protowire.VarintType:
			_, l := protowire.ConsumeVarint(b[pos:])
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
			_, l := protowire.ConsumeBytes(b[pos:])
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
		_, t, l := protowire.ConsumeTag(b[pos:])
		if l < 0 {
			return -1
		}
		pos += l
		typ = t
	}
	return -1
}

func (e *Extractor) resourceSpans(b []byte, h Handler) (int, error) {
	// the resource may follow its scope spans on the wire: find it first
	svc := intern.None
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == 1 && typ == protowire.BytesType {
			return eachField(v, func(num protowire.Number, typ protowire.Type, kv []byte, _ uint64) error {
				if num != 1 || typ != protowire.BytesType {
					return nil
				}
				k, kind, str, _, err := keyValue(kv)
				if err == nil && svc == intern.None && string(k) == "service.name" && kind == valStr {
					svc = e.strings.IDBytes(str)
				}
				return err
			})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if svc == intern.None {
		svc = e.strings.ID(UnknownService)
	}
	n := 0
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 2 || typ != protowire.BytesType {
			return nil
		}
		return eachField(v, func(num protowire.Number, typ protowire.Type, sp []byte, _ uint64) error {
			if num != 2 || typ != protowire.BytesType {
				return nil
			}
			if err := e.wireSpan(sp, svc); err != nil {
				return err
			}
			h.HandleSpan(&e.span)
			n++
			return nil
		})
	})
	return n, err
}

// keyValue reads a KeyValue: the key, and the value's kind with its string
// bytes or integer (bool as 0/1).
func keyValue(b []byte) (key []byte, kind uint8, str []byte, n int64, err error) {
	for len(b) > 0 {
		var f field
		if f, b, err = nextField(b); err != nil {
			return
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			key = f.v
		case f.num == 2 && f.typ == protowire.BytesType:
			kind, str, n = valOther, nil, 0
			v := f.v
			for len(v) > 0 {
				var g field
				if g, v, err = nextField(v); err != nil {
					return
				}
				switch {
				case g.num == 1 && g.typ == protowire.BytesType:
					kind, str = valStr, g.v
				case g.num == 2 && g.typ == protowire.VarintType:
					kind, n = valBool, 0
					if g.x != 0 {
						n = 1
					}
				case g.num == 3 && g.typ == protowire.VarintType:
					kind, n = valInt, int64(g.x)
				default:
					kind = valOther
				}
			}
		}
	}
	return
}

// maxKeyLen bounds the attribute keys worth comparing: the longest one we
// read; a longer key is skipped before it is turned into a string.
func (e *Extractor) maxKeyLen() int {
	m := len("messaging.destination.name")
	for _, s := range []string{e.names.Retry, e.names.BreakerState, e.names.BreakerName} {
		m = max(m, len(s))
	}
	return m
}

func (e *Extractor) wireSpan(b []byte, svc intern.ID) error {
	s := &e.span
	*s = Span{Service: svc}
	e.brkState, e.brkTarget = breaker.Unknown, intern.None
	e.links = e.links[:0]
	e.events = e.events[:0]
	maxKey := e.keyLimit
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		v, x, typ := f.v, f.x, f.typ
		switch f.num {
		case 1:
			if typ == protowire.BytesType {
				s.TraceID = TraceID{} // empty = zero ID, as pdata reads it
				copy(s.TraceID[:], v)
			}
		case 2:
			if typ == protowire.BytesType {
				s.SpanID = SpanID{}
				copy(s.SpanID[:], v)
			}
		case 4:
			if typ == protowire.BytesType {
				s.ParentID = SpanID{}
				copy(s.ParentID[:], v)
			}
		case 6:
			if typ == protowire.VarintType {
				s.Kind = Kind(int32(x))
			}
		case 7:
			if typ == protowire.Fixed64Type {
				s.StartNs = int64(x)
			}
		case 8:
			if typ == protowire.Fixed64Type {
				s.EndNs = int64(x)
			}
		case 9:
			if typ != protowire.BytesType {
				continue
			}
			k, kind, str, n, err := keyValue(v)
			if err != nil {
				return err
			}
			if len(k) <= maxKey {
				e.applySpanAttr(string(k), kind, str, n)
			}
		case 11:
			if typ == protowire.BytesType {
				e.events = append(e.events, v)
			}
		case 13:
			if typ != protowire.BytesType {
				continue
			}
			var l Link
			for len(v) > 0 {
				g, r, err := nextField(v)
				if err != nil {
					return err
				}
				v = r
				switch {
				case g.num == 1 && g.typ == protowire.BytesType:
					l.TraceID = TraceID{}
					copy(l.TraceID[:], g.v)
				case g.num == 2 && g.typ == protowire.BytesType:
					l.SpanID = SpanID{}
					copy(l.SpanID[:], g.v)
				}
			}
			e.links = append(e.links, l)
		case 15:
			if typ != protowire.BytesType {
				continue
			}
			for len(v) > 0 {
				g, r, err := nextField(v)
				if err != nil {
					return err
				}
				v = r
				if g.num == 3 && g.typ == protowire.VarintType {
					s.Error = int32(g.x) == 2 // STATUS_CODE_ERROR
				}
			}
		}
	}
	s.Breaker = e.brkState
	e.brk = e.brk[:0]
	if e.brkState != breaker.Unknown {
		t := e.brkTarget
		if t == intern.None {
			t = s.Peer()
		}
		e.brk = append(e.brk, BreakerObs{Target: t, State: e.brkState, TimeNs: s.EndNs})
	}
	for _, ev := range e.events {
		if err := e.wireEvent(ev); err != nil {
			return err
		}
	}
	s.Breakers = e.brk
	s.Links = e.links
	return nil
}

func (e *Extractor) wireEvent(b []byte) error {
	var (
		name []byte
		ts   uint64
	)
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.Fixed64Type:
			ts = x
		case num == 2 && typ == protowire.BytesType:
			name = v
		}
		return nil
	})
	if err != nil || string(name) != e.names.BreakerEvent {
		return err
	}
	e.brkState, e.brkTarget = breaker.Unknown, intern.None
	maxKey := e.keyLimit
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 3 || typ != protowire.BytesType {
			return nil
		}
		k, kind, str, _, err := keyValue(v)
		if err == nil && len(k) <= maxKey {
			e.applyBreakerAttr(string(k), kind, str)
		}
		return err
	})
	if err != nil || e.brkState == breaker.Unknown {
		return err
	}
	t := e.brkTarget
	if t == intern.None {
		t = e.span.Peer()
	}
	e.brk = append(e.brk, BreakerObs{Target: t, State: e.brkState, TimeNs: int64(ts)})
	return nil
}
