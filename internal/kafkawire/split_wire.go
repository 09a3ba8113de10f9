package kafkawire

import (
	"errors"
	"fmt"

	"github.com/flowlens/flowlens/internal/otlpwire"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// wireSplitter splits an already-marshalled OTLP export request (traces or
// logs: both are Request{Resource*{resource, Scope*{scope, record,
// schema_url}, schema_url}}, with the same tags, named after the spans' in
// otlpwire) into one request per trace ID, by copying byte ranges. The request is marshalled once and no pdata
// object is copied, so the cost is one scan plus one memcpy of the payload.
//
// Fields other than the nested repeated scopes and records (resource, scope,
// schema_url, unknown fields) are copied verbatim into every part that needs
// them. Parts keep the order of first appearance of their trace ID and the
// record order within it.
type wireSplitter struct {
	// the records' trace ID field: otlpwire.SpanTraceID or LogRecordTraceID
	traceIDNum  protowire.Number
	traceIDType protowire.Type
	// spans: a consumer with links goes with its linked trace (SpanPartitionID)
	consumerByLink bool

	other     []rng // raw field bytes (tag included) to copy into each part
	resources []wireRes
	scopes    []wireScope
	records   []wireRecord
	groups    []wireGroup
	byID      map[pcommon.TraceID]int32

	resSizes   []int
	scopeSizes []int
}

type rng struct{ a, b int }

type wireRes struct{ otherA, otherB int } // range in other

type wireScope struct {
	res            int
	otherA, otherB int
}

type wireRecord struct {
	scope int
	a, b  int   // value bytes of the record (no tag/length)
	next  int32 // next record of the same group, -1 at the end
}

type wireGroup struct {
	id          pcommon.TraceID
	first, last int32
	size        int
}

var errWire = errors.New("malformed OTLP protobuf")

// splitBy sets the records' trace ID field.
func (s *wireSplitter) splitBy(traceID otlpwire.Tag) {
	s.traceIDNum, s.traceIDType = traceID.Num(), traceID.Type()
	s.consumerByLink = traceID == otlpwire.SpanTraceID
}

func (s *wireSplitter) reset() {
	s.other = s.other[:0]
	s.resources = s.resources[:0]
	s.scopes = s.scopes[:0]
	s.records = s.records[:0]
	s.groups = s.groups[:0]
	if s.byID == nil {
		s.byID = make(map[pcommon.TraceID]int32, 64)
	}
	clear(s.byID)
}

// scan indexes buf. It returns the number of distinct trace IDs.
func (s *wireSplitter) scan(buf []byte) (int, error) {
	s.reset()
	for off := 0; off < len(buf); {
		num, typ, n := protowire.ConsumeTag(buf[off:])
		if n < 0 {
			return 0, fmt.Errorf("%w: request tag at %d", errWire, off)
		}
		if !otlpwire.TracesRequestResourceSpans.Is(num, typ) {
			// The export requests have only their resources; anything else
			// would be lost by the split, so refuse rather than drop it silently.
			return 0, fmt.Errorf("%w: unexpected field %d in request", errWire, num)
		}
		v, m := protowire.ConsumeBytes(buf[off+n:])
		if m < 0 {
			return 0, fmt.Errorf("%w: resource length at %d", errWire, off)
		}
		start := off + n + m - len(v)
		if err := s.scanResource(buf, start, start+len(v)); err != nil {
			return 0, err
		}
		off += n + m
	}
	return len(s.groups), nil
}

func (s *wireSplitter) scanResource(buf []byte, a, b int) error {
	ri := len(s.resources)
	res := wireRes{otherA: len(s.other)}
	var scopes []rng // at most a few; collected to scan after "other" is complete
	for off := a; off < b; {
		num, typ, n := protowire.ConsumeTag(buf[off:b])
		if n < 0 {
			return fmt.Errorf("%w: resource tag", errWire)
		}
		m := protowire.ConsumeFieldValue(num, typ, buf[off+n:b])
		if m < 0 {
			return fmt.Errorf("%w: resource field %d", errWire, num)
		}
		if otlpwire.ResourceSpansScopeSpans.Is(num, typ) {
			v, _ := protowire.ConsumeBytes(buf[off+n : b])
			vs := off + n + m - len(v)
			scopes = append(scopes, rng{vs, vs + len(v)})
		} else {
			s.other = append(s.other, rng{off, off + n + m})
		}
		off += n + m
	}
	res.otherB = len(s.other)
	s.resources = append(s.resources, res)
	for _, sc := range scopes {
		if err := s.scanScope(buf, ri, sc.a, sc.b); err != nil {
			return err
		}
	}
	return nil
}

func (s *wireSplitter) scanScope(buf []byte, ri, a, b int) error {
	si := len(s.scopes)
	sc := wireScope{res: ri, otherA: len(s.other)}
	firstRecord := len(s.records)
	for off := a; off < b; {
		num, typ, n := protowire.ConsumeTag(buf[off:b])
		if n < 0 {
			return fmt.Errorf("%w: scope tag", errWire)
		}
		m := protowire.ConsumeFieldValue(num, typ, buf[off+n:b])
		if m < 0 {
			return fmt.Errorf("%w: scope field %d", errWire, num)
		}
		if otlpwire.ScopeSpansSpans.Is(num, typ) {
			v, _ := protowire.ConsumeBytes(buf[off+n : b])
			vs := off + n + m - len(v)
			s.records = append(s.records, wireRecord{scope: si, a: vs, b: vs + len(v), next: -1})
		} else {
			s.other = append(s.other, rng{off, off + n + m})
		}
		off += n + m
	}
	sc.otherB = len(s.other)
	s.scopes = append(s.scopes, sc)
	for i := firstRecord; i < len(s.records); i++ {
		id, err := s.recordPartitionID(buf[s.records[i].a:s.records[i].b])
		if err != nil {
			return err
		}
		gi, ok := s.byID[id]
		if !ok {
			gi = int32(len(s.groups))
			s.byID[id] = gi
			s.groups = append(s.groups, wireGroup{id: id, first: int32(i), last: int32(i)})
			continue
		}
		g := &s.groups[gi]
		s.records[g.last].next = int32(i)
		g.last = int32(i)
	}
	return nil
}

// recordPartitionID is the record's trace ID, or for a consumer span with
// links its first linked trace ID (SpanPartitionID, in bytes).
func (s *wireSplitter) recordPartitionID(rec []byte) (pcommon.TraceID, error) {
	var id, linked pcommon.TraceID
	consumer := false
	for off := 0; off < len(rec); {
		num, typ, n := protowire.ConsumeTag(rec[off:])
		if n < 0 {
			return id, fmt.Errorf("%w: record tag", errWire)
		}
		m := protowire.ConsumeFieldValue(num, typ, rec[off+n:])
		if m < 0 {
			return id, fmt.Errorf("%w: record field %d", errWire, num)
		}
		switch {
		case num == s.traceIDNum && typ == s.traceIDType:
			v, _ := protowire.ConsumeBytes(rec[off+n:])
			if len(v) == len(id) {
				copy(id[:], v)
			} else if len(v) != 0 {
				return id, fmt.Errorf("%w: trace ID of %d bytes", errWire, len(v))
			}
		case !s.consumerByLink:
		case otlpwire.SpanKind.Is(num, typ):
			// the last occurrence wins, as in protobuf decoding
			k, _ := protowire.ConsumeVarint(rec[off+n:])
			consumer = int32(k) == int32(ptrace.SpanKindConsumer)
		case otlpwire.SpanLinks.Is(num, typ) && linked.IsEmpty():
			v, _ := protowire.ConsumeBytes(rec[off+n:])
			l, err := linkTraceID(v)
			if err != nil {
				return id, err
			}
			linked = l
		}
		off += n + m
	}
	if consumer && !linked.IsEmpty() {
		return linked, nil
	}
	return id, nil
}

// linkTraceID is the trace ID of a Span.Link message (the last one set,
// as in protobuf decoding).
func linkTraceID(link []byte) (pcommon.TraceID, error) {
	var id pcommon.TraceID
	for off := 0; off < len(link); {
		num, typ, n := protowire.ConsumeTag(link[off:])
		if n < 0 {
			return id, fmt.Errorf("%w: link tag", errWire)
		}
		m := protowire.ConsumeFieldValue(num, typ, link[off+n:])
		if m < 0 {
			return id, fmt.Errorf("%w: link field %d", errWire, num)
		}
		if otlpwire.LinkTraceID.Is(num, typ) {
			v, _ := protowire.ConsumeBytes(link[off+n:])
			switch len(v) {
			case len(id):
				copy(id[:], v)
			case 0:
				id = pcommon.TraceID{}
			default:
				return id, fmt.Errorf("%w: link trace ID of %d bytes", errWire, len(v))
			}
		}
		off += n + m
	}
	return id, nil
}

func fieldSize(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func (s *wireSplitter) otherSize(a, b int) int {
	n := 0
	for _, r := range s.other[a:b] {
		n += r.b - r.a
	}
	return n
}

// sizeGroup computes the encoded size of group gi, recording the nested
// resource and scope sizes for writeGroup.
func (s *wireSplitter) sizeGroup(gi int) int {
	s.resSizes, s.scopeSizes = s.resSizes[:0], s.scopeSizes[:0]
	total, resSize, scopeSize := 0, 0, 0
	curRes, curScope := -1, -1
	closeScope := func() {
		if curScope >= 0 {
			s.scopeSizes = append(s.scopeSizes, scopeSize)
			resSize += fieldSize(scopeSize)
			curScope = -1
		}
	}
	closeRes := func() {
		closeScope()
		if curRes >= 0 {
			s.resSizes = append(s.resSizes, resSize)
			total += fieldSize(resSize)
			curRes = -1
		}
	}
	for ri := s.groups[gi].first; ri >= 0; ri = s.records[ri].next {
		rec := &s.records[ri]
		sc := &s.scopes[rec.scope]
		if sc.res != curRes {
			closeRes()
			curRes = sc.res
			res := &s.resources[curRes]
			resSize = s.otherSize(res.otherA, res.otherB)
		}
		if rec.scope != curScope {
			closeScope()
			curScope = rec.scope
			scopeSize = s.otherSize(sc.otherA, sc.otherB)
		}
		scopeSize += fieldSize(rec.b - rec.a)
	}
	closeRes()
	return total
}

// appendGroup appends group gi to dst; sizeGroup(gi) must run just before.
func (s *wireSplitter) appendGroup(dst, buf []byte, gi int) []byte {
	curRes, curScope, nRes, nScope := -1, -1, 0, 0
	for ri := s.groups[gi].first; ri >= 0; ri = s.records[ri].next {
		rec := &s.records[ri]
		sc := &s.scopes[rec.scope]
		if sc.res != curRes {
			curRes, curScope = sc.res, -1
			dst = protowire.AppendVarint(dst, uint64(otlpwire.TracesRequestResourceSpans))
			dst = protowire.AppendVarint(dst, uint64(s.resSizes[nRes]))
			nRes++
			res := &s.resources[curRes]
			for _, r := range s.other[res.otherA:res.otherB] {
				dst = append(dst, buf[r.a:r.b]...)
			}
		}
		if rec.scope != curScope {
			curScope = rec.scope
			dst = protowire.AppendVarint(dst, uint64(otlpwire.ResourceSpansScopeSpans))
			dst = protowire.AppendVarint(dst, uint64(s.scopeSizes[nScope]))
			nScope++
			for _, r := range s.other[sc.otherA:sc.otherB] {
				dst = append(dst, buf[r.a:r.b]...)
			}
		}
		dst = protowire.AppendVarint(dst, uint64(otlpwire.ScopeSpansSpans))
		dst = protowire.AppendVarint(dst, uint64(rec.b-rec.a))
		dst = append(dst, buf[rec.a:rec.b]...)
	}
	return dst
}
