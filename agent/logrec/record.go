// Package logrec holds one parsed log line (Record) and encodes batches of
// them directly into the OTLP wire format (an ExportLogsServiceRequest
// protobuf), without building pdata objects: the file hot path appends into
// reused buffers and allocates nothing per line.
package logrec

// ValueKind is the type of an attribute value.
type ValueKind uint8

// Attribute value kinds (the AnyValue variants the agent produces).
const (
	KindString ValueKind = iota
	KindInt
	KindDouble
	KindBool
)

// KV is one log record attribute. Key and Str point into the parsed line or
// into the record's scratch space; they are valid until the record is reset.
type KV struct {
	Key   []byte
	Kind  ValueKind
	Str   []byte
	Int   int64
	Float float64
	Bool  bool
}

// Record is one log record being built. Byte slices alias the source line or
// Scratch; a Record is reused for every line (call Reset between lines).
type Record struct {
	TimeUnixNano     uint64 // 0 when the line carries no timestamp
	ObservedUnixNano uint64
	SeverityNumber   int32
	SeverityText     []byte
	Body             []byte
	Service          []byte // a per-line service name overriding the source's
	TraceID          [16]byte
	SpanID           [8]byte
	HasTraceID       bool
	HasSpanID        bool
	Flags            uint32
	Attrs            []KV

	// Scratch holds unescaped strings. Parsers must call Reserve(len(line))
	// before appending, so that it never reallocates while earlier slices
	// still point into it.
	Scratch []byte
}

// Reset clears the record for the next line, keeping its buffers.
func (r *Record) Reset() {
	attrs, scratch := r.Attrs[:0], r.Scratch[:0]
	*r = Record{Attrs: attrs, Scratch: scratch}
}

// Reserve makes sure Scratch can take n more bytes without reallocating.
func (r *Record) Reserve(n int) {
	if cap(r.Scratch)-len(r.Scratch) < n {
		s := make([]byte, len(r.Scratch), len(r.Scratch)+n+64)
		copy(s, r.Scratch)
		r.Scratch = s
	}
}

// AddString appends a string attribute.
func (r *Record) AddString(key, val []byte) {
	r.Attrs = append(r.Attrs, KV{Key: key, Kind: KindString, Str: val})
}

// AddInt appends an integer attribute.
func (r *Record) AddInt(key []byte, v int64) {
	r.Attrs = append(r.Attrs, KV{Key: key, Kind: KindInt, Int: v})
}

// AddDouble appends a floating point attribute.
func (r *Record) AddDouble(key []byte, v float64) {
	r.Attrs = append(r.Attrs, KV{Key: key, Kind: KindDouble, Float: v})
}

// AddBool appends a boolean attribute.
func (r *Record) AddBool(key []byte, v bool) {
	r.Attrs = append(r.Attrs, KV{Key: key, Kind: KindBool, Bool: v})
}
