package storage

import (
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowlens/flowlens/internal/otlpwire"
)

// This file holds what the pdata-free readers (AppendTracesProto,
// AppendLogsProto) share: the arena their strings live in, the slabs their
// attribute maps are cut from, and KeyValue/AnyValue decoding.

// errWireFallback makes a proto reader hand the request to pdata: the bytes
// are malformed (pdata then says why), or hold something the reader does not
// reproduce itself (arrays, maps and bytes values, repeated resources, ...).
var errWireFallback = errors.New("fall back to pdata")

// errWireUnsupported: a value whose AsString is JSON or base64 (array, map,
// bytes) or a string table reference. The message holding it (resource,
// scope, span, log record) is decoded by pdata on its own and converted by
// the same code as AppendTraces / AppendLogs.
var errWireUnsupported = errors.New("value for pdata")

// wrapMsg wraps msg in the messages of path (fields of messages), outermost
// first: the bytes of {path[0]: {path[1]: ... {path[n-1]: msg}}}, appended
// to dst.
func wrapMsg(dst, msg []byte, path ...otlpwire.Tag) []byte {
	sizes := make([]int, len(path)) // sizes[i]: payload of field path[i]
	size := len(msg)
	for i := len(path) - 1; i >= 0; i-- {
		sizes[i] = size
		size += protowire.SizeVarint(uint64(path[i])) + protowire.SizeVarint(uint64(size))
	}
	for i, tag := range path {
		dst = protowire.AppendVarint(dst, uint64(tag))
		dst = protowire.AppendVarint(dst, uint64(sizes[i]))
	}
	return append(dst, msg...)
}

// pdataLogs decodes msg wrapped in an ExportLogsServiceRequest along path.
func (a *wireArena) pdataLogs(msg []byte, path ...otlpwire.Tag) (plog.Logs, error) {
	a.pdataDecodes++
	a.wrap = wrapMsg(a.wrap[:0], msg, path...)
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(a.wrap)
	if err != nil {
		return ld, errWireFallback
	}
	return ld, nil
}

const (
	arenaChunk    = 64 << 10 // bytes per string chunk
	arenaMaxCopy  = 4 << 10  // longer strings get their own allocation
	slabChunk     = 4096     // elements per slab chunk
	attrsSlabSize = 512      // Attrs per slab chunk
	// chunks start at 1/64 of those sizes and double with every chunk
	// allocated, so rows that only ever hold a few records stay small
	maxChunkLevel = 6
)

// wireArena owns the memory the proto readers put into rows. Strings are
// copied into big byte chunks and made with unsafe.String; Attrs, their
// kv slices and event/link columns are cut from slabs. A chunk is filled and
// then replaced, never grown in place or overwritten, so every string and
// slice handed out stays valid and immutable for as long as anything refers
// to it; reset drops the chunks (the garbage collector frees them once the
// rows that refer to them are gone). What is kept across reset is small:
// scratch slices, and the key hints (the last key and value seen at each of
// the first 64 positions of each kind of attribute list), whose strings may
// keep a few old chunks alive.
type wireArena struct {
	bytes    []byte
	kvs      []string
	attrs    []Attrs
	attrPtrs []*Attrs
	times    []time.Time
	names    []string

	// scratch, never referenced by rows
	hintRes, hintScope, hintSpan, hintEvent, hintLink []keyHint
	evs, lnks                                         [][]byte
	evTimes                                           []time.Time
	evNames                                           []string
	evAttrs                                           []*Attrs
	lTrace                                            []string
	lSpan                                             []string
	lState                                            []string
	lAttrs                                            []*Attrs
	rejects                                           []error

	// resources decoded since reset, by their bytes: exporters and the
	// agent's per-trace split repeat one resource in every ResourceSpans.
	// resHits and resMisses count the lookups since reset (see
	// cacheResources).
	resCache           map[string]wireResource
	resLimit           int
	resHits, resMisses int

	level int // chunk size level, see maxChunkLevel

	nameCopies nameCache // span and service names, see internName

	wrap         []byte // scratch for pdataLogs
	pdataDecodes int    // messages decoded by pdata alone (tests)

	fallbacks int // requests handed to pdata (tests check the fast path is taken)
}

// reset drops the chunks rows refer to; the strings and slices already in
// rows stay valid.
func (a *wireArena) reset() {
	clear(a.resCache)
	a.resHits, a.resMisses = 0, 0
	a.nameCopies.hits, a.nameCopies.misses = 0, 0
	a.bytes, a.kvs, a.attrs, a.attrPtrs, a.times, a.names = nil, nil, nil, nil, nil, nil
}

// chunk is the size of a new chunk whose full size is full.
// handRejects passes the rejects of the request just read to onReject
// (nil: drops them, the request goes to pdata instead) and forgets them.
func (a *wireArena) handRejects(onReject RejectFunc) {
	if onReject != nil {
		for _, e := range a.rejects {
			onReject(e)
		}
	}
	clear(a.rejects)
	a.rejects = a.rejects[:0]
}

func (a *wireArena) chunk(full int) int {
	n := full >> (maxChunkLevel - a.level)
	if a.level < maxChunkLevel {
		a.level++
	}
	return n
}

// alloc returns n fresh bytes from the current chunk.
func (a *wireArena) alloc(n int) []byte {
	if n > cap(a.bytes)-len(a.bytes) {
		if n > arenaMaxCopy {
			return make([]byte, n)
		}
		a.bytes = make([]byte, 0, max(n, a.chunk(arenaChunk)))
	}
	off := len(a.bytes)
	a.bytes = a.bytes[:off+n]
	return a.bytes[off : off+n : off+n]
}

// str copies b into the arena.
func (a *wireArena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	d := a.alloc(len(b))
	copy(d, b)
	return unsafe.String(&d[0], len(d))
}

// hexID is the exporter's form of an ID: lowercase hex, "" when empty or
// all zeros (as hexTraceID / hexSpanID).
func (a *wireArena) hexID(id []byte) string {
	zero := true
	for _, c := range id {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return ""
	}
	d := a.alloc(2 * len(id))
	hex.Encode(d, id)
	return unsafe.String(&d[0], len(d))
}

// take copies src into a slab and returns the copy, its capacity capped so
// appending to it never touches its neighbours.
func take[T any](a *wireArena, slab *[]T, src []T) []T {
	n := len(src)
	if n > cap(*slab)-len(*slab) {
		if n > slabChunk/4 {
			return append(make([]T, 0, n), src...)
		}
		*slab = make([]T, 0, max(n, a.chunk(slabChunk)))
	}
	off := len(*slab)
	*slab = append(*slab, src...)
	return (*slab)[off : off+n : off+n]
}

// internBytes is intern for a key in wire bytes: no allocation when cached.
func (c *keyCache) internBytes(k []byte) string {
	if v, ok := c.m[string(k)]; ok {
		return v
	}
	return c.intern(string(k))
}

// anyValue is an AnyValue as read so far (fields of repeated occurrences
// merge, the last value field wins, as in pdata).
type anyValue struct {
	kind otlpwire.Tag // 0 empty, or the AnyValue field holding it: string, bool, int or double
	s    []byte
	x    uint64
}

// read merges one AnyValue message into v. Arrays, maps, bytes and string
// table references fall back to pdata (their AsString is JSON or base64).
func (v *anyValue) read(b []byte) error {
	for len(b) > 0 {
		f, size := otlpwire.Read(b)
		if size < 0 {
			return errWireFallback
		}
		b = b[size:]
		switch f.Tag() {
		case otlpwire.AnyValueString:
			v.kind, v.s = otlpwire.AnyValueString, f.V
		case otlpwire.AnyValueBool, otlpwire.AnyValueInt, otlpwire.AnyValueDouble:
			v.kind, v.x = f.Tag(), f.X
		case otlpwire.AnyValueArray, otlpwire.AnyValueKeyValueList, otlpwire.AnyValueBytes, otlpwire.AnyValueStringStrindex:
			return errWireUnsupported
		default:
			if otlpwire.AnyValue.WrongType(f.Num, f.Type) {
				return errWireFallback
			}
		}
	}
	return nil
}

// appendString appends pcommon.Value.AsString for the kinds read handles
// (a string value is returned as it is, aliasing the wire bytes).
func (v *anyValue) appendString(b []byte) []byte {
	switch v.kind {
	case otlpwire.AnyValueString:
		return v.s
	case otlpwire.AnyValueBool:
		if v.x != 0 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case otlpwire.AnyValueInt:
		return strconv.AppendInt(b, int64(v.x), 10)
	case otlpwire.AnyValueDouble:
		return appendFloatAsString(b, math.Float64frombits(v.x))
	}
	return b[:0]
}

// asString is AsString in the arena.
func (a *wireArena) asString(v *anyValue) string {
	var buf [64]byte
	return a.str(v.appendString(buf[:0]))
}

// appendFloatAsString is pcommon's float64AsString (ES6 number formatting,
// as encoding/json), appending to b.
func appendFloatAsString(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	start := len(b)
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// keyValue decodes a KeyValue: its key and value (aliasing b).
func keyValue(b []byte) (key []byte, val anyValue, err error) {
	// fast path for the shapes marshallers write: {key, {one value field}}
	// in either order (pdata writes the value first) with one-byte lengths;
	// anything else takes the loop
	const otherTag = byte(otlpwire.KeyValueKey) ^ byte(otlpwire.KeyValueValue) // tag ^ otherTag is the other field's tag
	if len(b) >= 4 && b[1] < 0x80 && (b[0] == byte(otlpwire.KeyValueKey) || b[0] == byte(otlpwire.KeyValueValue)) {
		n := int(b[1])
		if n+4 <= len(b) && b[n+2] == b[0]^otherTag && b[n+3] < 0x80 && n+4+int(b[n+3]) == len(b) {
			first, second := b[2:n+2], b[n+4:]
			if b[0] == byte(otlpwire.KeyValueValue) {
				first, second = second, first
			}
			if v, ok := oneValue(second); ok {
				return first, v, nil
			}
		}
	}
	return keyValueLoop(b)
}

// oneValue reads an AnyValue made of one string, bool, int or double field.
func oneValue(b []byte) (anyValue, bool) {
	if len(b) == 0 {
		return anyValue{}, true
	}
	if b[0] == byte(otlpwire.AnyValueString) && len(b) >= 2 && int(b[1])+2 == len(b) {
		return anyValue{kind: otlpwire.AnyValueString, s: b[2:]}, true
	}
	f, rest, err := otlpwire.Next(b)
	if err != nil || len(rest) != 0 {
		return anyValue{}, false
	}
	switch t := f.Tag(); t {
	case otlpwire.AnyValueBool, otlpwire.AnyValueInt, otlpwire.AnyValueDouble:
		return anyValue{kind: t, x: f.X}, true
	}
	return anyValue{}, false
}

func keyValueLoop(b []byte) (key []byte, val anyValue, err error) {
	for len(b) > 0 {
		f, size := otlpwire.Read(b)
		if size < 0 {
			return nil, val, errWireFallback
		}
		b = b[size:]
		switch f.Tag() {
		case otlpwire.KeyValueKey:
			key = f.V
		case otlpwire.KeyValueValue:
			if err := val.read(f.V); err != nil {
				return nil, val, err
			}
		default:
			if otlpwire.KeyValue.WrongType(f.Num, f.Type) {
				return nil, val, errWireFallback
			}
		}
	}
	return key, val, nil
}

// attrList collects the KeyValues of a repeated field as attrsOf does,
// straight into the arena's kv slab: the keys and values up to the
// first one over the limit, whose error is kept in tooBig; later ones are
// still decoded, so malformed bytes are noticed. Lists are built one at a
// time: close one before starting the next.
type attrList struct {
	a      *wireArena
	start  int // of the list in a.kvs
	tooBig error
	hints  *[]keyHint
}

// keyHint remembers the key and value stored at one position of a kind of
// list: attributes come in the same order record after record, often with
// the same values, so comparing with the previous ones is cheaper than a
// keyCache lookup, and a repeated value is not copied again (strings in
// rows are immutable and may be shared by rows).
type keyHint struct {
	key, val       string
	hasKey, hasVal bool
}

const maxKeyHints = 64

// list starts a list; hints are the key hints of its kind.
func (a *wireArena) list(hints *[]keyHint) attrList {
	return attrList{a: a, start: len(a.kvs), hints: hints}
}

func (l *attrList) add(keys *keyCache, b []byte, limit int) (key []byte, val string, err error) {
	a := l.a
	key, v, err := keyValue(b)
	if err != nil {
		return nil, "", err
	}
	var buf [64]byte
	raw := v.appendString(buf[:0])
	if l.tooBig != nil {
		return key, a.str(raw), nil
	}
	i := (len(a.kvs) - l.start) / 2
	var h *keyHint
	if hints := *l.hints; i < len(hints) {
		h = &hints[i]
	} else if i == len(hints) && i < maxKeyHints {
		*l.hints = append(hints, keyHint{})
		h = &(*l.hints)[i]
	}
	var kb string
	haveKey, haveVal := false, false
	if h != nil && h.hasKey && h.key == string(key) {
		kb, haveKey = h.key, true
		if h.hasVal && h.val == string(raw) {
			val, haveVal = h.val, true
		}
	}
	if !haveVal {
		val = a.str(raw)
	}
	if len(key) > limit || len(val) > limit {
		l.tooBig = tooLarge(string(key), max(len(key), len(val)), limit)
		return key, val, nil
	}
	if !haveKey {
		kb = keys.internBytes(key)
		if h != nil {
			h.key, h.hasKey = kb, true
			h.val, h.hasVal = "", false
		}
	}
	if !haveVal && h != nil {
		h.val, h.hasVal = val, true
	}
	if len(a.kvs)+2 > cap(a.kvs) { // move the list to a new chunk
		old := a.kvs[l.start:]
		kvs := make([]string, 0, max(a.chunk(slabChunk), 4*len(old)+2))
		a.kvs = append(kvs, old...)
		l.start = 0
	}
	a.kvs = append(a.kvs, kb, val)
	return key, val, nil
}

// close ends the list and returns its Attrs (emptyAttrs when empty; nil
// when an attribute was over the limit).
func (l *attrList) close() *Attrs {
	a := l.a
	if l.tooBig != nil {
		return nil
	}
	end := len(a.kvs)
	if end == l.start {
		return emptyAttrs
	}
	if len(a.attrs) == cap(a.attrs) {
		a.attrs = make([]Attrs, 0, a.chunk(attrsSlabSize))
	}
	a.attrs = append(a.attrs, Attrs{kv: a.kvs[l.start:end:end]})
	return &a.attrs[len(a.attrs)-1]
}

// checkMsg checks the framing and the wire types of the fields m declares
// of a message the readers do not otherwise use.
func checkMsg(b []byte, m *otlpwire.Message) error {
	for len(b) > 0 {
		f, size := otlpwire.Read(b)
		if size < 0 || m.WrongType(f.Num, f.Type) {
			return errWireFallback
		}
		b = b[size:]
	}
	return nil
}

// wireResource is a Resource as the rows need it.
type wireResource struct {
	service string // AsString of the first service.name attribute
	attrs   *Attrs // nil when err is set
	err     error  // attrsOf's error
}

// nameCache keeps one copy of each span and service name (ServiceName,
// SpanName: LowCardinality columns) while they repeat. The encoder then
// finds the same string by its address (lowCardStrings) instead of hashing
// its bytes again, long after they left the caches; hashing them here, as
// they are read, is cheaper. Its copies are its own, so it keeps no
// request or chunk alive.
type nameCache struct {
	m            map[string]string
	hits, misses int // since reset
}

const (
	maxCachedNames   = 4096
	maxCachedNameLen = 256
)

// internName returns the cached copy of s, caching it first if there is
// room. It gives s back as it is when s is long, or when names do not
// repeat: after the first 256 lookups since reset, fewer than one in eight
// hit (names made of IDs).
func (a *wireArena) internName(s string) string {
	c := &a.nameCopies
	if len(s) == 0 || len(s) > maxCachedNameLen || (c.misses >= 256 && c.hits < c.misses/8) {
		return s
	}
	if v, ok := c.m[s]; ok {
		c.hits++
		return v
	}
	c.misses++
	if len(c.m) >= maxCachedNames {
		return s
	}
	if c.m == nil {
		c.m = make(map[string]string, 64)
	}
	v := strings.Clone(s)
	c.m[v] = v
	return v
}

// maxCachedResources bounds wireArena.resCache.
const maxCachedResources = 256

// cacheResources says whether resources are worth caching: not when, after
// the first 256 lookups since reset, fewer than one in eight hit. Then
// resources hardly repeat (more processes than the cache holds, or an
// attribute that differs per request), and hashing and copying each one's
// bytes into the cache costs more than the hits save (a tenth of the
// decoding, measured with a new resource per span).
func (a *wireArena) cacheResources() bool {
	return a.resMisses < maxCachedResources || a.resHits >= a.resMisses/8
}

// resource decodes a Resource message, or returns the result of the same
// bytes decoded earlier (Attrs may be shared by rows).
func (a *wireArena) resource(keys *keyCache, b []byte, limit int) (wireResource, error) {
	if limit != a.resLimit {
		clear(a.resCache)
		a.resLimit = limit
	}
	cache := a.cacheResources()
	if cache {
		if res, ok := a.resCache[string(b)]; ok {
			a.resHits++
			return res, nil
		}
		a.resMisses++
	}
	res, err := a.decodeResource(keys, b, limit)
	if err == errWireUnsupported {
		res, err = a.pdataResource(keys, b, limit)
	}
	if err != nil || !cache {
		return res, err
	}
	if a.resCache == nil {
		a.resCache = make(map[string]wireResource)
	} else if len(a.resCache) >= maxCachedResources {
		clear(a.resCache)
	}
	a.resCache[string(b)] = res
	return res, nil
}

func (a *wireArena) decodeResource(keys *keyCache, b []byte, limit int) (wireResource, error) {
	var (
		res   wireResource
		l     = a.list(&a.hintRes)
		found bool
	)
	for len(b) > 0 {
		f, size := otlpwire.Read(b)
		if size < 0 {
			return res, errWireFallback
		}
		b = b[size:]
		switch f.Tag() {
		case otlpwire.ResourceAttributes:
			k, v, err := l.add(keys, f.V, limit)
			if err != nil {
				return res, err
			}
			if !found && string(k) == "service.name" {
				res.service, found = a.internName(v), true
			}
		case otlpwire.ResourceEntityRefs:
			if err := checkMsg(f.V, &otlpwire.EntityRef); err != nil {
				return res, err
			}
		default:
			if otlpwire.Resource.WrongType(f.Num, f.Type) {
				return res, errWireFallback
			}
		}
	}
	res.attrs, res.err = l.close(), l.tooBig
	return res, nil
}

// wireScope is an InstrumentationScope as the rows need it.
type wireScope struct {
	name, version string
	attrs         *Attrs // nil when err is set
	err           error
}

// scope decodes an InstrumentationScope message (logs store its attributes,
// spans only need them checked).
func (a *wireArena) scope(keys *keyCache, b []byte, limit int) (wireScope, error) {
	sc, err := a.decodeScope(keys, b, limit)
	if err == errWireUnsupported {
		return a.pdataScope(keys, b, limit)
	}
	return sc, err
}

// pdataResource is decodeResource through pdata, as AppendLogs/AppendTraces
// convert a resource.
func (a *wireArena) pdataResource(keys *keyCache, b []byte, limit int) (wireResource, error) {
	ld, err := a.pdataLogs(b, otlpwire.LogsRequestResourceLogs, otlpwire.ResourceLogsResource)
	if err != nil {
		return wireResource{}, err
	}
	attrs := ld.ResourceLogs().At(0).Resource().Attributes()
	var res wireResource
	if v, ok := attrs.Get("service.name"); ok {
		res.service = v.AsString()
	}
	res.attrs, res.err = attrsOf(attrs, limit, keys)
	return res, nil
}

// pdataScope is decodeScope through pdata.
func (a *wireArena) pdataScope(keys *keyCache, b []byte, limit int) (wireScope, error) {
	ld, err := a.pdataLogs(b, otlpwire.LogsRequestResourceLogs, otlpwire.ResourceLogsScopeLogs, otlpwire.ScopeLogsScope)
	if err != nil {
		return wireScope{}, err
	}
	scope := ld.ResourceLogs().At(0).ScopeLogs().At(0).Scope()
	sc := wireScope{name: scope.Name(), version: scope.Version()}
	sc.attrs, sc.err = attrsOf(scope.Attributes(), limit, keys)
	return sc, nil
}

func (a *wireArena) decodeScope(keys *keyCache, b []byte, limit int) (wireScope, error) {
	var (
		sc         wireScope
		l          = a.list(&a.hintScope)
		name, vers []byte
	)
	for len(b) > 0 {
		f, size := otlpwire.Read(b)
		if size < 0 {
			return sc, errWireFallback
		}
		b = b[size:]
		switch f.Tag() {
		case otlpwire.ScopeName:
			name = f.V
		case otlpwire.ScopeVersion:
			vers = f.V
		case otlpwire.ScopeAttributes:
			if _, _, err := l.add(keys, f.V, limit); err != nil {
				return sc, err
			}
		default:
			if otlpwire.InstrumentationScope.WrongType(f.Num, f.Type) {
				return sc, errWireFallback
			}
		}
	}
	sc.name, sc.version = a.str(name), a.str(vers)
	sc.attrs, sc.err = l.close(), l.tooBig
	return sc, nil
}
