package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
)

// nativeInserter sends row batches as `INSERT ... FORMAT Native` over
// ClickHouse's HTTP interface, the columns encoded with ch-go's proto
// package (the codecs clickhouse-go itself is built on). It exists for
// speed: clickhouse-go's batch appends every map entry through reflection
// and interface conversions, which cost the collector about 4 us per span
// with 15-20 attributes; appending to ch-go columns directly costs under
// one. The request is the one clickhouse-go's HTTP batch sends (same
// format, compression and settings), so any ClickHouse server takes it.
//
// Everything else (queries, DDL, the native TCP protocol) goes through
// clickhouse-go; a Store on the TCP protocol inserts through it too.
type nativeInserter struct {
	client   *http.Client
	base     url.URL // scheme, host and path of the HTTP interface
	user     string
	password string
	headers  map[string]string
	method   compress.Method
	compress bool

	// Blocks (columns and buffers of tens of MB) are kept for the next
	// insert into the same table; a sync.Pool would drop them at every GC.
	mu   sync.Mutex
	free map[string][]*nativeBlock
}

// maxFreeBlocks bounds the blocks kept per table: about the inserts that
// run at once.
const maxFreeBlocks = 4

// newNativeInserter returns nil when opts is not the HTTP protocol.
func newNativeInserter(opts *clickhouse.Options, cfg Config) *nativeInserter {
	if opts.Protocol != clickhouse.HTTP || len(opts.Addr) == 0 {
		return nil
	}
	scheme := "http"
	if opts.TLS != nil {
		scheme = "https"
	}
	path := "/"
	if opts.HttpUrlPath != "" {
		path = "/" + strings.TrimPrefix(opts.HttpUrlPath, "/")
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: cfg.MaxOpenConns,
		IdleConnTimeout:     time.Minute,
	}
	if opts.TLS != nil {
		tr.TLSClientConfig = opts.TLS.Clone()
	}
	n := &nativeInserter{
		client:   &http.Client{Transport: tr, Timeout: cfg.ReadTimeout},
		base:     url.URL{Scheme: scheme, Host: opts.Addr[0], Path: path},
		user:     opts.Auth.Username,
		password: opts.Auth.Password,
		headers:  opts.HttpHeaders,
	}
	switch cfg.Compression {
	case "lz4":
		n.method, n.compress = compress.LZ4, true
	case "zstd":
		n.method, n.compress = compress.ZSTD, true
	}
	return n
}

// nativeBlock is one insert's columns and buffers.
type nativeBlock struct {
	cols []proto.InputColumn
	// own are the columns kept from insert to insert (nil where the
	// column is a strColumn, made anew over the rows each time)
	own []nativeColumn
	buf proto.Buffer
	cw  *compress.Writer
}

func (n *nativeInserter) getBlock(table string) *nativeBlock {
	n.mu.Lock()
	defer n.mu.Unlock()
	if free := n.free[table]; len(free) > 0 {
		blk := free[len(free)-1]
		n.free[table] = free[:len(free)-1]
		return blk
	}
	return &nativeBlock{}
}

func (n *nativeInserter) putBlock(table string, blk *nativeBlock) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.free == nil {
		n.free = map[string][]*nativeBlock{}
	}
	if len(n.free[table]) < maxFreeBlocks {
		n.free[table] = append(n.free[table], blk)
	}
}

// insert stores cols (the Go column slices named by names, as in
// SpanRows.columns) into table (its bare name, e.g. TracesTable) under its
// qualified name target, in one request.
func (n *nativeInserter) insert(ctx context.Context, table, target string, names []string, cols []any, settings map[string]string) error {
	blk := n.getBlock(table)
	defer n.putBlock(table, blk)
	err := blk.encode(table, names, cols)
	blk.release()
	if err != nil {
		return err
	}
	body := blk.buf.Buf
	if n.compress {
		if blk.cw == nil {
			blk.cw = compress.NewWriter(compress.LevelZero, n.method)
		}
		if err := blk.cw.Compress(body); err != nil {
			return fmt.Errorf("compress: %w", err)
		}
		body = blk.cw.Data
	}
	u := n.base
	q := url.Values{}
	q.Set("query", "INSERT INTO "+target+" ("+strings.Join(names, ", ")+") FORMAT Native")
	if n.compress {
		q.Set("decompress", "1")
	}
	for k, v := range settings {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	for k, v := range n.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	if n.user != "" {
		req.Header.Set("X-ClickHouse-User", n.user)
		if n.password != "" {
			req.Header.Set("X-ClickHouse-Key", n.password)
		}
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return responseError(resp, msg)
}

// responseError turns a failed answer into the errors clickhouse-go
// returns (*clickhouse.Exception with the engine's code, or
// *clickhouse.HTTPError), so IsRetryable classifies both paths alike. An
// exception can also arrive in the body of a 200 once the server has
// flushed its headers.
func responseError(resp *http.Response, body []byte) error {
	text := strings.TrimSpace(string(body))
	code, cerr := strconv.Atoi(resp.Header.Get("X-ClickHouse-Exception-Code"))
	if resp.StatusCode == http.StatusOK && (cerr != nil || code == 0) {
		if !strings.Contains(text, "DB::Exception") {
			return nil
		}
		code = exceptionCode(text)
	}
	if cerr != nil && code == 0 {
		code = exceptionCode(text)
	}
	if code != 0 {
		return &clickhouse.Exception{Code: int32(code), Message: text}
	}
	return &clickhouse.HTTPError{StatusCode: resp.StatusCode, Err: errors.New(text)}
}

// exceptionCode reads "Code: 60. DB::Exception: ..." (0 when absent).
func exceptionCode(text string) int {
	i := strings.Index(text, "Code: ")
	if i < 0 {
		return 0
	}
	rest := text[i+len("Code: "):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	code, _ := strconv.Atoi(rest[:j])
	return code
}

// encode builds the Native block (uncompressed) in blk.buf. Its columns
// are built on first use from the Go types of cols (and the table's
// LowCardinality columns), then reset and reused; String columns and the
// values of attribute maps are written from the rows' strings straight
// into the block.
func (blk *nativeBlock) encode(table string, names []string, cols []any) error {
	if len(blk.cols) != len(cols) {
		blk.cols, blk.own = blk.cols[:0], blk.own[:0]
		for i, name := range names {
			c, err := newNativeColumn(table, name, cols[i])
			if err != nil {
				return err
			}
			if _, ok := c.(strColumn); ok {
				c = nil
			}
			blk.cols = append(blk.cols, proto.InputColumn{Name: name, Data: c})
			blk.own = append(blk.own, c)
		}
	}
	rows, size := -1, 0
	for i := range blk.cols {
		var c proto.ColInput
		if own := blk.own[i]; own != nil {
			own.Reset()
			if err := appendNative(own, cols[i]); err != nil {
				return fmt.Errorf("column %s: %w", names[i], err)
			}
			c = own
		} else {
			c = strColumn(cols[i].([]string))
		}
		blk.cols[i].Data = c
		if r := c.Rows(); rows < 0 {
			rows = r
		} else if r != rows {
			return fmt.Errorf("column %s has %d rows, want %d", names[i], r, rows)
		}
		size += encodedSize(c)
	}
	// one allocation for the whole block, not a series of growing ones
	// (each a copy of all before it) the first time a block this large is
	// built
	blk.buf.Buf = slices.Grow(blk.buf.Buf[:0], size)
	b := proto.Block{Columns: len(blk.cols), Rows: rows}
	if err := b.EncodeRawBlock(&blk.buf, 0, blk.cols); err != nil {
		return fmt.Errorf("encode native block: %w", err)
	}
	return nil
}

// release drops the columns' references to the rows' strings: a block
// kept for the next insert must not keep the last batch's memory alive
// (one string is enough to keep its whole chunk).
func (blk *nativeBlock) release() {
	for i, c := range blk.own {
		switch c := c.(type) {
		case nil:
			blk.cols[i].Data = nil // a strColumn over the rows
		case *lowCardColumn:
			c.Reset()
		case *proto.ColArr[string]:
			if lc, ok := c.Data.(*proto.ColLowCardinality[string]); ok {
				clear(lc.Values[:cap(lc.Values)])
				lc.Reset()
			}
		case *attrMapColumn:
			c.Reset()
		}
	}
}

// encodedSize is about the bytes c takes in a block: exact for the
// strings, a generous 16 bytes per row for the other columns.
func encodedSize(c proto.ColInput) int {
	switch c := c.(type) {
	case strColumn:
		return stringsSize(c)
	case *attrMapColumn:
		return c.size + c.keys.size() + 8*len(c.attrs)
	case *lowCardColumn:
		return c.size()
	}
	return 16*c.Rows() + 64
}

// strColumn is a String column over the rows' own strings: encoding
// copies each string once, into the block. ch-go's ColStr would first copy
// them into a buffer of its own (growing it whenever a batch is larger
// than any before), then into the block.
type strColumn []string

func (c strColumn) Type() proto.ColumnType       { return proto.ColumnTypeString }
func (c strColumn) Rows() int                    { return len(c) }
func (c strColumn) Reset()                       {}
func (c strColumn) EncodeColumn(b *proto.Buffer) { b.Buf = appendStrings(b.Buf, c) }
func (c strColumn) WriteColumn(w *proto.Writer)  { w.ChainBuffer(c.EncodeColumn) }

// appendStrings appends ss in the String column encoding: each string's
// length as a uvarint, then its bytes. (encode has sized the block for
// them already.)
func appendStrings(dst []byte, ss []string) []byte {
	for _, s := range ss {
		dst = appendString(dst, s)
	}
	return dst
}

// appendString appends one String value: its length as a uvarint (one
// byte for most, written without binary.AppendUvarint's loop), then its
// bytes.
func appendString(dst []byte, s string) []byte {
	if len(s) < 0x80 {
		dst = append(dst, byte(len(s)))
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
	}
	return append(dst, s...)
}

func stringsSize(ss []string) int {
	n := 0
	for _, s := range ss {
		n += uvarintSize(len(s)) + len(s)
	}
	return n
}

func uvarintSize(n int) int {
	size := 1
	for n >= 0x80 {
		n >>= 7
		size++
	}
	return size
}

// lowCardStrings encodes a LowCardinality(String) column: its dictionary
// (each distinct string once, in order of appearance) and every row's
// index in it, in the bytes ch-go's ColLowCardinality writes. Values come
// in the same order row after row (attribute keys, interned) or repeat
// from one row to the next (service and span names, kinds, status codes),
// so the value last seen at the same position is nearly always the same,
// found without hashing; ch-go hashes every value and first copies each
// distinct one into a column of its own.
type lowCardStrings struct {
	dict  []string       // the distinct values, in order of appearance
	index map[string]int // position of each value in dict
	keys  []uint32       // of every value, its position in dict
	last  []keyAt        // the value seen last at each position
	// byAddr finds a value by its address before index hashes its bytes:
	// interned attribute keys and constant values (kinds, status codes)
	// come back as the same string, whatever their position. Valid for
	// one column's values only, all alive meanwhile (an address is not
	// reused while a row refers to it); reset clears it.
	byAddr *[byAddrSlots]addrAt
}

type addrAt struct {
	p  *byte
	n  int
	at uint32
}

const byAddrSlots = 256

type keyAt struct {
	key string
	at  uint32
}

// maxKeyPositions bounds lowCardStrings.last.
const maxKeyPositions = 64

// reset forgets the values and every string of theirs.
func (c *lowCardStrings) reset() {
	clear(c.dict)
	c.dict = c.dict[:0]
	clear(c.index)
	c.keys = c.keys[:0]
	clear(c.last)
	c.last = c.last[:0]
	if c.byAddr != nil {
		clear(c.byAddr[:])
	}
}

// add appends v; pos is its position in its row (its map's keys), 0 for
// a plain column.
func (c *lowCardStrings) add(pos int, v string) {
	c.keys = append(c.keys, c.keyIndex(pos, v))
}

// keyIndex is key's position in the dictionary; pos is its position in
// its row.
func (c *lowCardStrings) keyIndex(pos int, key string) uint32 {
	if pos < len(c.last) && c.last[pos].key == key {
		return c.last[pos].at
	}
	if c.byAddr == nil {
		c.byAddr = new([byAddrSlots]addrAt)
	}
	p := unsafe.StringData(key)
	slot := &c.byAddr[(uintptr(unsafe.Pointer(p))>>4)%byAddrSlots]
	var at int
	if slot.p == p && slot.n == len(key) && p != nil {
		at = int(slot.at)
	} else {
		var ok bool
		at, ok = c.index[key]
		if !ok {
			at = len(c.dict)
			c.dict = append(c.dict, key)
			if c.index == nil {
				c.index = map[string]int{}
			}
			c.index[key] = at
		}
		*slot = addrAt{p, len(key), uint32(at)}
	}
	switch {
	case pos < len(c.last):
		c.last[pos] = keyAt{key, uint32(at)}
	case pos == len(c.last) && pos < maxKeyPositions:
		c.last = append(c.last, keyAt{key, uint32(at)})
	}
	return uint32(at)
}

// size is about the bytes encode writes.
func (c *lowCardStrings) size() int { return stringsSize(c.dict) + 4*len(c.keys) + 64 }

// LowCardinality serialization (as ch-go's ColLowCardinality writes it):
// the state is the key serialization version; the column is a meta word
// (the index width, and flags: the dictionary comes with the block and
// holds all its keys), the dictionary as a String column, then the
// indexes.
const (
	lowCardinalityVersion    = 1 // shared dictionaries with additional keys
	lowCardinalityHasKeys    = 1 << 9
	lowCardinalityUpdateDict = 1 << 10
)

// encode writes the column (nothing when it has no rows, as ch-go).
func (c *lowCardStrings) encode(b *proto.Buffer) {
	if len(c.keys) == 0 {
		return
	}
	var width int64 // 0: UInt8, 1: UInt16, 2: UInt32 indexes
	switch {
	case len(c.dict) > math.MaxUint16+1:
		width = 2
	case len(c.dict) > math.MaxUint8+1:
		width = 1
	}
	b.PutInt64(lowCardinalityHasKeys | lowCardinalityUpdateDict | width)
	b.PutInt64(int64(len(c.dict)))
	b.Buf = appendStrings(b.Buf, c.dict)
	b.PutInt64(int64(len(c.keys)))
	for _, k := range c.keys {
		switch width {
		case 0:
			b.Buf = append(b.Buf, byte(k))
		case 1:
			b.Buf = binary.LittleEndian.AppendUint16(b.Buf, uint16(k))
		default:
			b.Buf = binary.LittleEndian.AppendUint32(b.Buf, k)
		}
	}
}

// lowCardColumn is a LowCardinality(String) column over the rows' strings.
type lowCardColumn struct{ lowCardStrings }

func (c *lowCardColumn) Type() proto.ColumnType {
	return proto.ColumnTypeLowCardinality.Sub(proto.ColumnTypeString)
}
func (c *lowCardColumn) Rows() int                    { return len(c.keys) }
func (c *lowCardColumn) Reset()                       { c.reset() }
func (c *lowCardColumn) EncodeState(b *proto.Buffer)  { b.PutInt64(lowCardinalityVersion) }
func (c *lowCardColumn) EncodeColumn(b *proto.Buffer) { c.encode(b) }
func (c *lowCardColumn) WriteColumn(w *proto.Writer)  { w.ChainBuffer(c.EncodeColumn) }

func (c *lowCardColumn) set(values []string) {
	c.reset()
	for _, v := range values {
		c.add(0, v)
	}
}

// attrMapColumn is a Map(LowCardinality(String), String) column over the
// rows' Attrs. The values are written from the Attrs straight into the
// block (see strColumn); the keys are a LowCardinality column
// (lowCardStrings).
type attrMapColumn struct {
	attrs   []*Attrs
	offsets proto.ColUInt64
	keys    lowCardStrings
	size    int // of the values, encoded
}

func newAttrMapColumn() *attrMapColumn { return &attrMapColumn{} }

func (c *attrMapColumn) Type() proto.ColumnType {
	return proto.ColumnTypeMap.Sub(proto.ColumnTypeLowCardinality.Sub(proto.ColumnTypeString), proto.ColumnTypeString)
}

func (c *attrMapColumn) Rows() int { return len(c.attrs) }

// Reset forgets the rows and every string of theirs.
func (c *attrMapColumn) Reset() {
	c.attrs = nil
	c.offsets = c.offsets[:0]
	c.keys.reset()
	c.size = 0
}

// set makes the column hold attrs: offsets, key indexes and the values'
// size are computed here.
func (c *attrMapColumn) set(attrs []*Attrs) {
	c.Reset()
	c.attrs = attrs
	n := 0
	for _, a := range attrs {
		if a != nil {
			for i := 0; i+1 < len(a.kv); i += 2 {
				c.keys.add(i/2, a.kv[i])
				v := a.kv[i+1]
				c.size += uvarintSize(len(v)) + len(v)
			}
			n += len(a.kv) / 2
		}
		c.offsets = append(c.offsets, uint64(n))
	}
}

// EncodeState is the keys' LowCardinality state (String values have none).
func (c *attrMapColumn) EncodeState(b *proto.Buffer) { b.PutInt64(lowCardinalityVersion) }

func (c *attrMapColumn) EncodeColumn(b *proto.Buffer) {
	c.offsets.EncodeColumn(b)
	c.keys.encode(b)
	for _, a := range c.attrs {
		if a == nil {
			continue
		}
		for i := 1; i < len(a.kv); i += 2 {
			b.Buf = appendString(b.Buf, a.kv[i])
		}
	}
}

func (c *attrMapColumn) WriteColumn(w *proto.Writer) { w.ChainBuffer(c.EncodeColumn) }

// lowCardinality names the LowCardinality(String) columns of the tables
// written natively (a Go []string is a String column otherwise).
// TestNativeColumnTypes checks them against the migrated tables.
var lowCardinality = map[string]map[string]bool{
	TracesTable: {"SpanName": true, "SpanKind": true, "ServiceName": true, "StatusCode": true, "Events.Name": true},
	LogsTable: {"SeverityText": true, "ServiceName": true, "ResourceSchemaUrl": true,
		"ScopeSchemaUrl": true, "ScopeVersion": true},
}

func newAttrMap() *proto.ColMap[string, string] {
	return proto.NewMap[string, string](proto.NewLowCardinality[string](new(proto.ColStr)), new(proto.ColStr))
}

// nativeColumn is what newNativeColumn builds: appendable, encodable,
// resettable.
type nativeColumn interface {
	proto.ColInput
	proto.Resettable
}

func newNativeColumn(table, name string, v any) (nativeColumn, error) {
	switch v.(type) {
	case []time.Time:
		return new(proto.ColDateTime64).WithPrecision(proto.PrecisionNano), nil
	case []string:
		if lowCardinality[table][name] {
			return &lowCardColumn{}, nil
		}
		return strColumn(nil), nil
	case []uint64:
		return new(proto.ColUInt64), nil
	case []uint8:
		return new(proto.ColUInt8), nil
	case []*Attrs:
		return newAttrMapColumn(), nil
	case [][]time.Time:
		return proto.NewArray[time.Time](new(proto.ColDateTime64).WithPrecision(proto.PrecisionNano)), nil
	case [][]string:
		if lowCardinality[table][name] {
			return proto.NewArray[string](proto.NewLowCardinality[string](new(proto.ColStr))), nil
		}
		return proto.NewArray[string](new(proto.ColStr)), nil
	case [][]*Attrs:
		return proto.NewArray[map[string]string](newAttrMap()), nil
	}
	return nil, fmt.Errorf("column %s: no native encoding for %T", name, v)
}

// appendNative appends the Go column v to the ch-go column c built for it
// by newNativeColumn.
func appendNative(c proto.ColInput, v any) error {
	switch v := v.(type) {
	case []time.Time:
		col := c.(*proto.ColDateTime64)
		for _, t := range v {
			col.AppendRaw(proto.DateTime64(t.UnixNano()))
		}
	case []string:
		c.(*lowCardColumn).set(v) // the others are strColumns
	case []uint64:
		col := c.(*proto.ColUInt64)
		*col = append(*col, v...)
	case []uint8:
		col := c.(*proto.ColUInt8)
		*col = append(*col, v...)
	case []*Attrs:
		c.(*attrMapColumn).set(v)
	case [][]time.Time:
		col := c.(*proto.ColArr[time.Time])
		data := col.Data.(*proto.ColDateTime64)
		for _, ts := range v {
			for _, t := range ts {
				data.AppendRaw(proto.DateTime64(t.UnixNano()))
			}
			col.Offsets.Append(uint64(data.Rows()))
		}
	case [][]string:
		col := c.(*proto.ColArr[string])
		for _, ss := range v {
			col.Data.AppendArr(ss)
			col.Offsets.Append(uint64(col.Data.Rows()))
		}
	case [][]*Attrs:
		col := c.(*proto.ColArr[map[string]string])
		data := col.Data.(*proto.ColMap[string, string])
		for _, as := range v {
			for _, a := range as {
				if err := appendAttrs(data, a); err != nil {
					return err
				}
			}
			col.Offsets.Append(uint64(data.Rows()))
		}
	default:
		return fmt.Errorf("no native encoding for %T", v)
	}
	return nil
}

func appendAttrs(m *proto.ColMap[string, string], a *Attrs) error {
	keys := m.Keys.(*proto.ColLowCardinality[string])
	values := m.Values.(*proto.ColStr)
	if a != nil {
		for i := 0; i+1 < len(a.kv); i += 2 {
			keys.Append(a.kv[i])
			values.Append(a.kv[i+1])
		}
	}
	m.Offsets.Append(uint64(values.Rows()))
	return nil
}
