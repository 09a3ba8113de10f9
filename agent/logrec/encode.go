package logrec

import (
	"encoding/binary"
	"math"
)

// ScopeName is the instrumentation scope of every record the agent builds.
const ScopeName = "flowlens-agent"

// Attr is a string resource or per-source attribute.
type Attr struct {
	Key, Value string
}

// Batch accumulates records of one source (one resource) and encodes them as
// one ExportLogsServiceRequest. Records whose Service differs from the
// source's get their own ResourceLogs (service.name is a resource attribute).
// A Batch is not safe for concurrent use.
type Batch struct {
	resAttrs   []byte // encoded Resource.attributes entries, without service.name
	service    []byte // default service.name ("" = none)
	recAttrs   []byte // encoded LogRecord.attributes entries added to every record
	scope      []byte // encoded InstrumentationScope
	groups     []group
	tmp        []byte
	n          int
	traced     int // records with a trace ID
	size       int
	scopeBytes int
}

type group struct {
	service []byte
	recs    []byte // encoded ScopeLogs.log_records entries
}

// NewBatch returns an empty batch for one source. resource are resource
// attributes (host.name, ...), service the default service.name (may be
// empty), perRecord attributes added to every record (log.file.name, ...).
func NewBatch(resource []Attr, service string, perRecord []Attr, scopeVersion string) *Batch {
	b := &Batch{service: []byte(service)}
	for _, a := range resource {
		if a.Key == "service.name" {
			if len(b.service) == 0 {
				b.service = []byte(a.Value)
			}
			continue
		}
		b.resAttrs = appendStrKV(b.resAttrs, 1, []byte(a.Key), []byte(a.Value))
	}
	for _, a := range perRecord {
		b.recAttrs = appendStrKV(b.recAttrs, 6, []byte(a.Key), []byte(a.Value))
	}
	b.scope = appendBytesField(b.scope, 1, []byte(ScopeName))
	if scopeVersion != "" {
		b.scope = appendBytesField(b.scope, 2, []byte(scopeVersion))
	}
	return b
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return b.n }

// Traced is the number of records in the batch that carry a trace ID.
func (b *Batch) Traced() int { return b.traced }

// Size is the encoded size of the records so far (the request adds a few
// hundred bytes of framing and resource).
func (b *Batch) Size() int { return b.size }

// Add encodes r into the batch. r may be reused afterwards.
func (b *Batch) Add(r *Record) {
	svc := b.service
	if len(r.Service) > 0 {
		svc = r.Service
	}
	var g *group
	for i := range b.groups {
		if string(b.groups[i].service) == string(svc) {
			g = &b.groups[i]
			break
		}
	}
	if g == nil {
		if len(b.groups) < cap(b.groups) {
			b.groups = b.groups[:len(b.groups)+1]
			g = &b.groups[len(b.groups)-1]
			g.service = append(g.service[:0], svc...)
			g.recs = g.recs[:0]
		} else {
			b.groups = append(b.groups, group{service: append([]byte(nil), svc...)})
			g = &b.groups[len(b.groups)-1]
		}
	}
	b.tmp = encodeRecord(b.tmp[:0], r, b.recAttrs)
	before := len(g.recs)
	g.recs = appendBytesField(g.recs, 2, b.tmp)
	b.size += len(g.recs) - before
	b.n++
	if r.HasTraceID {
		b.traced++
	}
}

// AppendRequest appends the encoded ExportLogsServiceRequest to dst and
// empties the batch.
func (b *Batch) AppendRequest(dst []byte) []byte {
	for i := range b.groups {
		g := &b.groups[i]
		if len(g.recs) == 0 {
			continue
		}
		// Resource
		resLen := len(b.resAttrs)
		var svcKV []byte
		if len(g.service) > 0 {
			svcKV = appendStrKV(b.tmp[:0], 1, []byte("service.name"), g.service)
			resLen += len(svcKV)
		}
		resourceField := 1 + uvarintLen(uint64(resLen)) + resLen
		scopeField := 1 + uvarintLen(uint64(len(b.scope))) + len(b.scope)
		scopeLogsLen := scopeField + len(g.recs)
		scopeLogsField := 1 + uvarintLen(uint64(scopeLogsLen)) + scopeLogsLen
		rlLen := resourceField + scopeLogsField

		dst = appendTagLen(dst, 1, rlLen)  // ExportLogsServiceRequest.resource_logs
		dst = appendTagLen(dst, 1, resLen) // ResourceLogs.resource
		dst = append(dst, b.resAttrs...)
		dst = append(dst, svcKV...)
		dst = appendTagLen(dst, 2, scopeLogsLen) // ResourceLogs.scope_logs
		dst = appendTagLen(dst, 1, len(b.scope)) // ScopeLogs.scope
		dst = append(dst, b.scope...)
		dst = append(dst, g.recs...)
		g.recs = g.recs[:0]
	}
	b.groups = b.groups[:0]
	b.n, b.traced, b.size = 0, 0, 0
	return dst
}

// Shrink drops buffers larger than max bytes (call it on an empty batch when
// its source goes idle, so that many idle sources hold little memory).
func (b *Batch) Shrink(max int) {
	for i := range b.groups[:cap(b.groups)] {
		g := &b.groups[:cap(b.groups)][i]
		if cap(g.recs) > max {
			g.recs = nil
		}
	}
	if cap(b.tmp) > max {
		b.tmp = nil
	}
}

// encodeRecord appends the fields of a LogRecord message (without its own
// tag and length).
func encodeRecord(dst []byte, r *Record, extra []byte) []byte {
	if r.TimeUnixNano != 0 {
		dst = append(dst, 1<<3|1)
		dst = binary.LittleEndian.AppendUint64(dst, r.TimeUnixNano)
	}
	if r.SeverityNumber != 0 {
		dst = append(dst, 2<<3)
		dst = binary.AppendUvarint(dst, uint64(r.SeverityNumber))
	}
	if len(r.SeverityText) > 0 {
		dst = appendBytesField(dst, 3, r.SeverityText)
	}
	// body: AnyValue{string_value}
	bodyLen := 1 + uvarintLen(uint64(len(r.Body))) + len(r.Body)
	dst = appendTagLen(dst, 5, bodyLen)
	dst = appendBytesField(dst, 1, r.Body)
	for i := range r.Attrs {
		dst = appendKV(dst, 6, &r.Attrs[i])
	}
	dst = append(dst, extra...)
	if r.Flags != 0 {
		dst = append(dst, 8<<3|5)
		dst = binary.LittleEndian.AppendUint32(dst, r.Flags)
	}
	if r.HasTraceID {
		dst = appendBytesField(dst, 9, r.TraceID[:])
	}
	if r.HasSpanID {
		dst = appendBytesField(dst, 10, r.SpanID[:])
	}
	if r.ObservedUnixNano != 0 {
		dst = append(dst, 11<<3|1)
		dst = binary.LittleEndian.AppendUint64(dst, r.ObservedUnixNano)
	}
	return dst
}

func appendKV(dst []byte, field int, kv *KV) []byte {
	var valLen int
	switch kv.Kind {
	case KindString:
		valLen = 1 + uvarintLen(uint64(len(kv.Str))) + len(kv.Str)
	case KindInt:
		valLen = 1 + uvarintLen(uint64(kv.Int))
	case KindDouble:
		valLen = 9
	case KindBool:
		valLen = 2
	}
	keyField := 1 + uvarintLen(uint64(len(kv.Key))) + len(kv.Key)
	valField := 1 + uvarintLen(uint64(valLen)) + valLen
	dst = appendTagLen(dst, field, keyField+valField)
	dst = appendBytesField(dst, 1, kv.Key)
	dst = appendTagLen(dst, 2, valLen)
	switch kv.Kind {
	case KindString:
		dst = appendBytesField(dst, 1, kv.Str)
	case KindInt:
		dst = append(dst, 3<<3)
		dst = binary.AppendUvarint(dst, uint64(kv.Int))
	case KindDouble:
		dst = append(dst, 4<<3|1)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(kv.Float))
	case KindBool:
		dst = append(dst, 2<<3)
		if kv.Bool {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	}
	return dst
}

func appendStrKV(dst []byte, field int, key, val []byte) []byte {
	kv := KV{Key: key, Kind: KindString, Str: val}
	return appendKV(dst, field, &kv)
}

func appendTagLen(dst []byte, field, n int) []byte {
	dst = binary.AppendUvarint(dst, uint64(field)<<3|2)
	return binary.AppendUvarint(dst, uint64(n))
}

func appendBytesField(dst []byte, field int, b []byte) []byte {
	dst = appendTagLen(dst, field, len(b))
	return append(dst, b...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
