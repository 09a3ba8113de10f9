package chserver

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	chcompress "github.com/ClickHouse/ch-go/compress"
	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/embedded/chdb"
)

// maxQueryText bounds a query read from the body (not insert data).
const maxQueryText = 64 << 20

var selectFormatRe = regexp.MustCompile(`(?is)\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$`)

func (s *Server) handleQuery(w http.ResponseWriter, hr *http.Request) {
	if hr.Method != http.MethodGet && hr.Method != http.MethodPost {
		writeError(w, &httpError{status: http.StatusMethodNotAllowed, code: 36, msg: "Code: 36. DB::Exception: use GET or POST. (BAD_ARGUMENTS)"})
		return
	}
	if err := s.checkBrowser(hr); err != nil {
		s.refuse(w, err)
		return
	}
	user, role, err := s.authenticate(hr)
	if err != nil {
		if toHTTPError(err).code == 194 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ClickHouse server HTTP API", charset="UTF-8"`)
		}
		s.refuse(w, err)
		return
	}
	if hr.Method == http.MethodGet {
		role = RoleReader // as ClickHouse: GET is read-only, whoever asks
	}
	// The body is the query or its data, never a form: curl --data-binary
	// sends it as application/x-www-form-urlencoded, so don't ParseForm.
	req, err := parseURL(hr.URL.Query())
	if err != nil {
		s.refuse(w, err)
		return
	}
	if db := hr.Header.Get("X-ClickHouse-Database"); db != "" && req.database == "" {
		if !identRe.MatchString(db) {
			s.refuse(w, badRequest(fmt.Sprintf("database %q is not a valid identifier", db)))
			return
		}
		req.database = db
	}
	for i, st := range req.settings {
		if req.settings[i].value, err = s.guard.urlSetting(user, role, st.name, st.value); err != nil {
			s.refuse(w, err)
			return
		}
	}
	body, err := s.requestBody(hr, req)
	if err != nil {
		s.refuse(w, err)
		return
	}
	defer body.Close()

	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	start := time.Now()
	x := &execution{user: user, role: role, req: req}
	kind := "query"
	if x.ins = splitInsert(req.query); x.ins != nil {
		kind = "insert"
		var data io.Reader = body
		if x.ins.data != "" {
			data = io.MultiReader(strings.NewReader(x.ins.data+"\n"), body)
		}
		err = s.prepareInsert(x, data)
	} else if err = s.prepareQuery(x, body); err == nil && x.ins != nil {
		kind = "insert"
	}
	if x.spooled != nil {
		defer x.spooled.release()
	}
	var out *chdb.Result
	var format string
	if err == nil {
		var done func()
		out, format, done, err = s.run(hr.Context(), x)
		defer done() // after out.Free below: the session may serve the next request
	}
	s.metrics.observe(kind, start, err)
	if err != nil {
		s.log.Debug("query failed", zap.String("user", user), zap.String("query", truncate(req.query, 300)), zap.Error(err))
		writeError(w, err)
		return
	}
	defer out.Free()
	if limit := s.cfg.Limits.of(role).MaxResultBytes; bytesize.Size(len(out.Data)) > limit {
		writeError(w, &httpError{status: http.StatusInternalServerError, code: 396,
			msg: fmt.Sprintf("Code: 396. DB::Exception: Limit for result exceeded, max bytes: %d of the %s role, the answer has %d. (TOO_MANY_ROWS_OR_BYTES)", limit, role, len(out.Data))})
		return
	}
	s.writeResult(w, hr, req, out.Data, format)
}

// requestBody undoes HTTP content encoding and ClickHouse block compression.
func (s *Server) requestBody(hr *http.Request, req *request) (io.ReadCloser, error) {
	var r io.Reader = http.MaxBytesReader(nil, hr.Body, int64(s.cfg.MaxBodyBytes))
	closers := []io.Closer{hr.Body}
	switch enc := strings.ToLower(hr.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, badRequest("gzip body: " + err.Error())
		}
		r = zr
	case "deflate":
		zr, err := zlib.NewReader(r)
		if err != nil {
			return nil, badRequest("deflate body: " + err.Error())
		}
		r = zr
	case "br":
		r = &brotliReader{r: brotli.NewReader(r)}
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, badRequest("zstd body: " + err.Error())
		}
		closers = append(closers, closerFunc(func() error { zr.Close(); return nil }))
		r = zr
	default:
		return nil, &httpError{status: http.StatusNotImplemented, code: 48, msg: "Code: 48. DB::Exception: Content-Encoding " + enc + " is not supported. (NOT_IMPLEMENTED)"}
	}
	if req.decompressIn {
		br := s.blocks.get(r, int64(s.cfg.MaxBlockBytes))
		var once sync.Once // put twice, br would serve two bodies at once
		closers = append(closers, closerFunc(func() error { once.Do(func() { s.blocks.put(br) }); return nil }))
		r = br
	}
	// What the engine gets is bounded after decoding too: a small gzip body
	// may decode to gigabytes.
	r = &decodedLimit{r: r, left: int64(s.cfg.MaxBodyBytes)}
	return readCloser{Reader: r, closers: closers}, nil
}

// refuse answers a request turned down before it reached the engine.
func (s *Server) refuse(w http.ResponseWriter, err error) {
	s.metrics.observe("refused", time.Now(), err)
	writeError(w, err)
}

// execution is one request on its way to the engine.
type execution struct {
	user    string
	role    Role
	req     *request
	query   string      // a statement without data (ins == nil)
	ins     *insertHead // an insert with data
	spooled *spooled    // the insert's data
}

// prepareQuery reads a query from the URL and the body. An INSERT whose
// data follows in the text becomes an insert with data (x.ins).
func (s *Server) prepareQuery(x *execution, body io.Reader) error {
	text, err := io.ReadAll(io.LimitReader(body, maxQueryText+1))
	if err != nil {
		return readBodyError(err)
	}
	if len(text) > maxQueryText {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: 202, msg: "Code: 202. DB::Exception: query text is too large. (QUERY_IS_TOO_LARGE)"}
	}
	query := x.req.query
	if len(text) > 0 {
		if query != "" {
			query += "\n"
		}
		query += string(text)
	}
	if strings.TrimSpace(query) == "" {
		return &httpError{status: http.StatusBadRequest, code: 62, msg: "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)"}
	}
	if x.ins = splitInsert(query); x.ins != nil {
		return s.prepareInsert(x, strings.NewReader(x.ins.data))
	}
	x.query = query
	return s.guard.checkRaw(x.user, query)
}

// prepareInsert checks an insert's head as far as it can without the
// engine and spools its data.
func (s *Server) prepareInsert(x *execution, data io.Reader) error {
	if x.role == RoleReader {
		return readonlyError(x.user)
	}
	if err := s.guard.checkRaw(x.user, x.ins.head+" "+x.ins.tail); err != nil {
		return err
	}
	if err := s.guard.checkSettingsClauses(x.user, x.role, x.ins.toks); err != nil {
		return err
	}
	if strings.EqualFold(x.ins.format, "Values") || strings.EqualFold(x.ins.format, "MySQLDump") {
		// The engine evaluates expressions in these rows: file(...) among them.
		rows, err := io.ReadAll(io.LimitReader(data, maxQueryText+1))
		if err != nil {
			return readBodyError(err)
		}
		if len(rows) > maxQueryText {
			return &httpError{status: http.StatusRequestEntityTooLarge, code: 202, msg: "Code: 202. DB::Exception: Values data is too large. (QUERY_IS_TOO_LARGE)"}
		}
		if err := s.guard.checkExpression(x.user, string(rows)); err != nil {
			return err
		}
		data = bytes.NewReader(rows)
	}
	sp, err := s.spool.spool(data)
	if err != nil {
		if he := blockError(err); he != nil {
			return he
		}
		return readBodyError(err)
	}
	x.spooled = sp
	s.metrics.bodyIn.Add(float64(sp.size))
	return nil
}

// queueWait is how long a request waits for one of the engine's slots.
const queueWait = 10 * time.Second

// acquire takes one of the engine's slots (MaxConcurrentQueries).
func (s *Server) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-s.slots }
	select {
	case s.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(s.queueWait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, &httpError{status: http.StatusServiceUnavailable, code: 202,
			msg: fmt.Sprintf("Code: 202. DB::Exception: Too many simultaneous queries. Maximum: %d. (TOO_MANY_SIMULTANEOUS_QUERIES)", cap(s.slots))}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run executes the request on an engine session set up for it: the
// client's settings, then the role's (which the session keeps: readonly
// and allow_ddl cannot be set back), then the statement; the session is a
// fresh one or one a read with the same setup left (sessionPool). It
// returns the output, the format it is in, and done, which hands the
// session back and is to be called once the output is freed.
func (s *Server) run(ctx context.Context, x *execution) (_ *chdb.Result, format string, done func(), err error) {
	done = func() {}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, "", done, err
	}
	defer release()
	req := x.req
	setup := s.sessionSettings(x)
	key := req.database + "\x00" + setup
	var conn *chdb.Conn
	if x.ins == nil {
		conn = s.sessions.get(key)
	}
	if conn == nil {
		if conn, err = s.openSession(req.database, setup); err != nil {
			return nil, "", done, err
		}
	}
	keep := false
	done = func() {
		if keep {
			s.sessions.put(key, conn)
		} else {
			conn.Close()
		}
	}
	params := make([]chdb.Param, 0, len(req.params))
	for k, v := range req.params {
		params = append(params, chdb.Param{Name: k, Value: v})
	}

	if x.ins != nil {
		head, tail := x.ins.head, x.ins.tail
		if !x.ins.simple {
			canonical, err := s.judgeWithEngine(conn, x, head+" "+tail+" FORMAT "+x.ins.format)
			if err != nil {
				return nil, "", done, err
			}
			c := splitInsert(canonical)
			if c == nil || c.format != x.ins.format || c.data != "" {
				return nil, "", done, syntaxError("the insert's statement could not be told from its data")
			}
			head, tail = c.head, c.tail
		}
		if x.spooled.size == 0 {
			return &chdb.Result{}, "", done, nil
		}
		q := head + " FROM INFILE " + quoteString(x.spooled.path)
		if tail != "" {
			q += " " + tail
		}
		q += " FORMAT " + x.ins.format
		res, err := conn.Query(q, "TSV", params)
		return res, "", done, err
	}
	canonical, err := s.judgeWithEngine(conn, x, x.query)
	if err != nil {
		return nil, "", done, err
	}
	format = req.defaultFormat
	if m := selectFormatRe.FindStringSubmatch(canonical); m != nil {
		format = m[1]
	}
	res, err := conn.Query(canonical, req.defaultFormat, params)
	keep = err == nil && readStatement(canonical)
	return res, format, done, err
}

// openSession opens an engine session in database with setup (a SET).
func (s *Server) openSession(database, setup string) (*chdb.Conn, error) {
	conn, err := s.engine.Session()
	if err != nil {
		return nil, err
	}
	s.metrics.sessions.Inc()
	if database != "" {
		if err := exec(conn, "USE "+database); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if err := exec(conn, setup); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// judgeWithEngine has the engine's parser format the statement (one
// statement only, comments gone, names and quoting canonical), judges that
// and returns it: the engine then runs exactly what was judged, not the
// client's text, which the engine's client could split differently (inline
// data ends at a newline, and what follows would run). ClickHouse relies on
// the same formatting to send queries to other shards. Cost: one more
// engine call, which parses but runs nothing.
//
// The formatting depends on the text alone (the dialect settings are held
// constant), so it is cached by text: the queries clients repeat (Grafana's,
// flowlens's own, with parameters sent apart from the text) skip that call.
// What is cached is judged again on every request, for its role.
func (s *Server) judgeWithEngine(conn *chdb.Conn, x *execution, query string) (string, error) {
	canonical, ok := s.formatted.Get(query)
	if !ok {
		res, err := conn.Query("SELECT formatQuery({q:String})", "RawBLOB", []chdb.Param{{Name: "q", Value: tsvEscape(query)}})
		if err != nil {
			return "", err
		}
		canonical = string(res.Data)
		res.Free()
		if len(query) <= maxFormattedQuery {
			s.formatted.Add(query, canonical)
		}
	}
	return canonical, s.guard.checkCanonical(x.user, x.role, canonical)
}

// The formatted-query cache: entries, and the longest query text kept.
const (
	formattedQueries  = 1024
	maxFormattedQuery = 16 << 10
)

// sessionSettings is one SET with the client's settings and then the
// role's: its limits where the client did not ask for less, and readonly
// = 2 (reader) or allow_ddl = 0 (writer), which the engine then holds for
// the rest of the session.
func (s *Server) sessionSettings(x *execution) string {
	var b strings.Builder
	b.WriteString("SET ")
	given := map[string]bool{}
	for _, st := range x.req.settings {
		b.WriteString(st.assignment())
		b.WriteString(", ")
		given[strings.ToLower(st.name)] = true
	}
	l := s.cfg.Limits.of(x.role)
	for _, st := range []setting{
		{"max_execution_time", strconv.FormatInt(seconds(l.MaxExecutionTime), 10)},
		{"max_memory_usage", strconv.FormatInt(int64(l.MaxMemoryUsage), 10)},
		{"max_result_bytes", strconv.FormatInt(int64(l.MaxResultBytes), 10)},
	} {
		if !given[st.name] {
			b.WriteString(st.assignment())
			b.WriteString(", ")
		}
	}
	switch x.role {
	case RoleReader:
		b.WriteString("readonly = 2")
	case RoleWriter:
		b.WriteString("allow_ddl = 0")
	default:
		b.WriteString("readonly = 0")
	}
	return b.String()
}

// tsvEscape renders v as a query parameter value (escaped text, as the
// HTTP interface receives param_x).
func tsvEscape(v string) string {
	r := strings.NewReplacer("\\", "\\\\", "\t", "\\t", "\n", "\\n", "\r", "\\r", "\x00", "\\0")
	return r.Replace(v)
}

func (s *Server) writeResult(w http.ResponseWriter, hr *http.Request, req *request, data []byte, format string) {
	h := w.Header()
	h.Set("X-ClickHouse-Server-Display-Name", "flowlens-embedded")
	h.Set("X-ClickHouse-Timezone", s.tz.String())
	if req.queryID != "" {
		h.Set("X-ClickHouse-Query-Id", req.queryID)
	}
	if format != "" {
		h.Set("X-ClickHouse-Format", format)
	}
	if len(data) == 0 {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	if strings.EqualFold(format, "Native") && req.protocolRev > 0 {
		var buf chproto.Buffer
		if err := reframeNative(&buf, data, req.protocolRev, s.tz); err != nil {
			writeError(w, err)
			return
		}
		data = buf.Buf
	}
	if req.compressOut {
		method := chcompress.LZ4
		switch req.compressMethod {
		case "ZSTD":
			method = chcompress.ZSTD
		case "NONE":
			method = chcompress.None
		}
		out, err := compressBlocks(data, method)
		if err != nil {
			writeError(w, err)
			return
		}
		data = out
		h.Set("Content-Type", "application/octet-stream")
	} else if hr.URL.Query().Get("enable_http_compression") == "1" {
		if enc, out, ok := httpCompress(hr.Header.Get("Accept-Encoding"), data); ok {
			h.Set("Content-Encoding", enc)
			data = out
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	n, _ := w.Write(data)
	s.metrics.bytesOut.Add(float64(n))
}

// compressBlocks frames data as ClickHouse compressed blocks of at most 1 MiB.
func compressBlocks(data []byte, method chcompress.Method) ([]byte, error) {
	const chunk = 1 << 20
	wr := chcompress.NewWriter(chcompress.LevelZero, method)
	var out []byte
	for len(data) > 0 {
		n := min(chunk, len(data))
		if err := wr.Compress(data[:n]); err != nil {
			return nil, fmt.Errorf("compress response: %w", err)
		}
		out = append(out, wr.Data...)
		data = data[n:]
	}
	return out, nil
}

func httpCompress(accept string, data []byte) (string, []byte, bool) {
	var b bytes.Buffer
	switch {
	case strings.Contains(accept, "gzip"):
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(data)
		_ = zw.Close()
		return "gzip", b.Bytes(), true
	case strings.Contains(accept, "br"):
		bw := brotli.NewWriter(&b)
		_, _ = bw.Write(data)
		_ = bw.Close()
		return "br", b.Bytes(), true
	case strings.Contains(accept, "deflate"):
		zw, _ := zlib.NewWriterLevel(&b, flate.DefaultCompression)
		_, _ = zw.Write(data)
		_ = zw.Close()
		return "deflate", b.Bytes(), true
	}
	return "", nil, false
}

func exec(conn *chdb.Conn, q string) error {
	r, err := conn.Query(q, "TSV", nil)
	if err != nil {
		return err
	}
	r.Free()
	return nil
}

func readBodyError(err error) error {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: 202, msg: "Code: 202. DB::Exception: request body is larger than the endpoint's max_body_bytes (as sent or decompressed). (QUERY_IS_TOO_LARGE)"}
	}
	if he := blockError(err); he != nil {
		return he
	}
	return &httpError{status: http.StatusBadRequest, code: 33, msg: "Code: 33. DB::Exception: cannot read request body: " + err.Error() + ". (CANNOT_READ_ALL_DATA)"}
}

// decodedLimit fails a body that decodes to more than left bytes.
type decodedLimit struct {
	r    io.Reader
	left int64
}

func (d *decodedLimit) Read(p []byte) (int, error) {
	if d.left <= 0 {
		var one [1]byte
		if n, _ := d.r.Read(one[:]); n > 0 {
			return 0, &http.MaxBytesError{Limit: d.left}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.r.Read(p)
	d.left -= int64(n)
	return n, err
}

// brotliReader ends the body at the end of the brotli stream: clickhouse-go
// may flush bytes after it, which the decoder reports as excessive input.
type brotliReader struct{ r io.Reader }

func (b *brotliReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && strings.Contains(err.Error(), "excessive input") {
		err = io.EOF
	}
	return n, err
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

type readCloser struct {
	io.Reader
	closers []io.Closer
}

func (r readCloser) Close() error {
	var errs []error
	for _, c := range r.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
