package chdb

import (
	"errors"
	"runtime"
	"unsafe"
)

// Conn is one engine session. A Conn is not safe for concurrent use; open one
// per goroutine (it costs about 0.1 ms) so settings never leak between users.
type Conn struct {
	lib *Library
	ptr unsafe.Pointer // chdb_connection* (a pointer to the handle)
}

// connect opens a session with the engine's argv. Callers go through
// Engine, which guarantees one data folder per process.
func (l *Library) connect(args []string) (*Conn, error) {
	argv := make([]*byte, len(args)+1)
	for i, a := range args {
		argv[i] = cstring(a)
	}
	var p unsafe.Pointer
	l.keepGoSignalHandlers(func() { p = l.chdbConnect(len(args), &argv[0]) })
	runtime.KeepAlive(argv)
	if p == nil {
		return nil, errors.New("the engine refused (is the folder used by another process, another folder open in this one, or its configuration wrong?)")
	}
	return &Conn{lib: l, ptr: p}, nil
}

// Close ends the session. Close on a closed Conn is a no-op.
func (c *Conn) Close() {
	if c.ptr != nil {
		c.lib.closeConn(c.ptr)
		c.ptr = nil
	}
}

// Param is a named query parameter for a {name:Type} placeholder. Value is in
// ClickHouse's escaped text (TSV) form, as the HTTP interface receives it.
type Param struct {
	Name, Value string
}

// Result is a query's output. Data points into engine memory and is valid
// until Free.
type Result struct {
	lib      *Library
	ptr      unsafe.Pointer
	Data     []byte
	RowsRead uint64
	Elapsed  float64 // seconds
}

// Free releases the engine memory behind Data. Safe to call twice.
func (r *Result) Free() {
	if r != nil && r.ptr != nil {
		r.lib.destroyResult(r.ptr)
		r.ptr = nil
		r.Data = nil
	}
}

// Query runs query and returns its output in format (e.g. "Native", "TSV").
// An engine error is returned as *Error, with the engine's message.
func (c *Conn) Query(query, format string, params []Param) (*Result, error) {
	if c.ptr == nil {
		return nil, errors.New("query on a closed engine connection")
	}
	qb := []byte(query)
	if len(qb) == 0 {
		return nil, &Error{Message: "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)"}
	}
	fb := []byte(format)
	if len(fb) == 0 {
		fb = []byte("TSV")
	}
	var names, values []*byte
	var nameLens, valueLens []uintptr
	for _, p := range params {
		names = append(names, bytesPtr(p.Name))
		nameLens = append(nameLens, uintptr(len(p.Name)))
		values = append(values, bytesPtr(p.Value))
		valueLens = append(valueLens, uintptr(len(p.Value)))
	}
	var np, vp **byte
	var nl, vl *uintptr
	if len(params) > 0 {
		np, vp, nl, vl = &names[0], &values[0], &nameLens[0], &valueLens[0]
	}
	// The C side takes a chdb_connection by value: the handle the pointer points at.
	conn := *(*uintptr)(c.ptr)
	res := c.lib.queryWithParamsN(conn, &qb[0], uintptr(len(qb)), &fb[0], uintptr(len(fb)), np, nl, vp, vl, uintptr(len(params)))
	runtime.KeepAlive(qb)
	runtime.KeepAlive(fb)
	runtime.KeepAlive(names)
	runtime.KeepAlive(values)
	runtime.KeepAlive(nameLens)
	runtime.KeepAlive(valueLens)
	if res == nil {
		return nil, errors.New("ClickHouse engine returned no result (connection closed?)")
	}
	r := &Result{lib: c.lib, ptr: res}
	if e := c.lib.resultError(res); e != nil {
		msg := gostring(e)
		if msg != "" {
			r.Free()
			return nil, parseError(msg)
		}
	}
	if n := c.lib.resultLength(res); n > 0 {
		if buf := c.lib.resultBuffer(res); buf != nil {
			r.Data = unsafe.Slice((*byte)(buf), n)
		}
	}
	r.RowsRead = c.lib.resultRowsRead(res)
	r.Elapsed = c.lib.resultElapsed(res)
	return r, nil
}

func bytesPtr(s string) *byte {
	if s == "" {
		var zero byte
		return &zero
	}
	b := []byte(s)
	return &b[0]
}

func gostring(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}
