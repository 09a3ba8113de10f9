package chserver

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	chcompress "github.com/ClickHouse/ch-go/compress"
	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/chdb"
)

// maxQueryText bounds a query read from the body (not insert data).
const maxQueryText = 64 << 20

var selectFormatRe = regexp.MustCompile(`(?is)\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$`)

func (s *Server) handleQuery(w http.ResponseWriter, hr *http.Request) {
	if hr.Method != http.MethodGet && hr.Method != http.MethodPost {
		writeError(w, &httpError{status: http.StatusMethodNotAllowed, code: 36, msg: "Code: 36. DB::Exception: use GET or POST. (BAD_ARGUMENTS)"})
		return
	}
	// The body is the query or its data, never a form: curl --data-binary
	// sends it as application/x-www-form-urlencoded, so don't ParseForm.
	req, err := parseURL(hr.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	if db := hr.Header.Get("X-ClickHouse-Database"); db != "" && req.database == "" {
		if !identRe.MatchString(db) {
			writeError(w, badRequest(fmt.Sprintf("database %q is not a valid identifier", db)))
			return
		}
		req.database = db
	}
	body, err := s.requestBody(hr, req)
	if err != nil {
		writeError(w, err)
		return
	}
	defer body.Close()

	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	start := time.Now()
	kind, ins := "query", parseInsert(req.query)
	if ins != nil {
		kind = "insert"
	}
	out, format, err := s.run(req, ins, body)
	s.metrics.observe(kind, start, err)
	if err != nil {
		s.log.Debug("query failed", zap.String("query", truncate(req.query, 300)), zap.Error(err))
		writeError(w, err)
		return
	}
	defer out.Free()
	s.writeResult(w, hr, req, out.Data, format)
}

// requestBody undoes HTTP content encoding and ClickHouse block compression.
func (s *Server) requestBody(hr *http.Request, req *request) (io.ReadCloser, error) {
	var r io.Reader = http.MaxBytesReader(nil, hr.Body, s.cfg.MaxBodyBytes)
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
		r = &eofReader{r: chcompress.NewReader(r)}
	}
	return readCloser{Reader: r, closers: closers}, nil
}

// run executes the request on a fresh engine session. ins is the request's
// insert with data in the body, nil for anything else. It returns the output
// and the format it is in.
func (s *Server) run(req *request, ins *insertData, body io.Reader) (*chdb.Result, string, error) {
	conn, err := s.engine.Session()
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	if req.database != "" {
		if err := exec(conn, "USE "+req.database); err != nil {
			return nil, "", err
		}
	}
	for _, st := range req.settings {
		if err := exec(conn, st.statement()); err != nil {
			return nil, "", err
		}
	}
	params := make([]chdb.Param, 0, len(req.params))
	for k, v := range req.params {
		params = append(params, chdb.Param{Name: k, Value: v})
	}

	if ins != nil {
		res, err := s.insert(conn, ins, body, params)
		return res, "", err
	}
	query := req.query
	text, err := io.ReadAll(io.LimitReader(body, maxQueryText+1))
	if err != nil {
		return nil, "", readBodyError(err)
	}
	if len(text) > maxQueryText {
		return nil, "", &httpError{status: http.StatusRequestEntityTooLarge, code: 202, msg: "Code: 202. DB::Exception: query text is too large. (QUERY_IS_TOO_LARGE)"}
	}
	if len(text) > 0 {
		if query != "" {
			query += "\n"
		}
		query += string(text)
	}
	if strings.TrimSpace(query) == "" {
		return nil, "", &httpError{status: http.StatusBadRequest, code: 62, msg: "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)"}
	}
	format := req.defaultFormat
	if m := selectFormatRe.FindStringSubmatch(query); m != nil {
		format = m[1]
	}
	res, err := conn.Query(query, req.defaultFormat, params)
	return res, format, err
}

// insert spools the body to a file and has the engine read it with FROM
// INFILE: inline data would be cut at the first empty line by the engine.
func (s *Server) insert(conn *chdb.Conn, ins *insertData, body io.Reader, params []chdb.Param) (*chdb.Result, error) {
	f, err := os.CreateTemp(s.cfg.SpoolDir, "flowlens-insert-*.bin")
	if err != nil {
		return nil, fmt.Errorf("spool insert data: %w", err)
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, body)
	s.metrics.bodyIn.Add(float64(n))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, readBodyError(err)
	}
	if n == 0 {
		return &chdb.Result{}, nil
	}
	return conn.Query(ins.fromFile(f.Name()), "TSV", params)
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
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: 202, msg: fmt.Sprintf("Code: 202. DB::Exception: request body is larger than %d bytes. (QUERY_IS_TOO_LARGE)", mbe.Limit)}
	}
	return &httpError{status: http.StatusBadRequest, code: 33, msg: "Code: 33. DB::Exception: cannot read request body: " + err.Error() + ". (CANNOT_READ_ALL_DATA)"}
}

// eofReader turns the wrapped EOF that ch-go's decompressor returns at the
// end of the body into io.EOF.
type eofReader struct{ r io.Reader }

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && errors.Is(err, io.EOF) {
		err = io.EOF
	}
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

func defaultSpoolDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
