package chserver

import (
	"bytes"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseRequest feeds arbitrary URLs and bodies through everything the
// endpoint does before the engine sees a request: URL arguments, settings,
// insert detection, content decoding. Nothing may panic, every setting name
// must be an identifier (they are spliced into SET statements), and an
// insert's rewritten statement must be the one the endpoint means (see
// checkInsertQuery).
func FuzzParseRequest(f *testing.F) {
	seeds := []struct{ rawQuery, enc string }{
		{"query=SELECT+1&default_format=Native&client_protocol_version=54460", ""},
		{"query=INSERT+INTO+t+(a,+b)+SETTINGS+x%3D1+FORMAT+Native&decompress=1&compress=1", ""},
		{"query=INSERT+INTO+t+VALUES&max_threads=2&param_s=a%5Ctb", "gzip"},
		{"database=db&insert_deduplication_token=abc", "zstd"},
		{"query=INSERT+INTO+%60s+e%60+(%60SETTINGS%60)+FORMAT+JSONEachRow", "br"},
		{"a-b=1&%00=2", "deflate"},
		{"query=INSERT+INTO+t+FORMAT+Native+FORMAT+RowBinary", ""},
		{"query=insert+into+t+format+CSV+%3B+", ""},
		{"query=INSERT+INTO+t+SETTINGS+a%3D%27FORMAT+X%27+FORMAT%09TSV", ""},
	}
	for _, s := range seeds {
		f.Add(s.rawQuery, s.enc, []byte("SELECT 1"))
	}
	f.Fuzz(func(t *testing.T, rawQuery, enc string, body []byte) {
		v, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		req, err := parseURL(v)
		if err != nil {
			return
		}
		for _, st := range req.settings {
			if !identRe.MatchString(st.name) {
				t.Fatalf("setting name %q is not an identifier", st.name)
			}
			_ = st.assignment()
		}
		if ins := splitInsert(req.query); ins != nil {
			checkInsertQuery(t, ins)
		}
		s := &Server{cfg: Config{MaxBodyBytes: 1 << 20}}
		hr := httptest.NewRequest("POST", "/?"+v.Encode(), bytes.NewReader(body))
		hr.Header.Set("Content-Encoding", enc)
		r, err := s.requestBody(hr, req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r, 8<<20))
		_ = r.Close()
	})
}

// checkInsertQuery: the statement the endpoint builds around an insert's
// head (FROM INFILE its own spool file) is, whenever the head passes the
// guard, one statement whose only INFILE is the endpoint's, outside any
// comment or string, with the client's FORMAT.
func checkInsertQuery(t *testing.T, ins *insertHead) {
	t.Helper()
	if !identRe.MatchString(ins.format) {
		t.Fatalf("format %q", ins.format)
	}
	if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(ins.head)), "INSERT") {
		t.Fatalf("head %q", ins.head)
	}
	if testGuard().checkRaw("u", ins.head+" "+ins.tail) != nil {
		return
	}
	q := ins.head + " FROM INFILE '/spool/f' " + ins.tail + " FORMAT " + ins.format
	toks, err := lex(q)
	if err != nil {
		t.Fatalf("built %q, which does not lex: %v", q, err)
	}
	infiles := 0
	for _, tok := range toks {
		if tok.is("INFILE") {
			infiles++
		}
		if tok.kind == tokSemicolon {
			t.Fatalf("built %q: a second statement", q)
		}
	}
	if infiles != 1 || !toks[len(toks)-1].is(ins.format) && toks[len(toks)-1].name() != ins.format {
		t.Fatalf("built %q: %d INFILE, last token %q", q, infiles, toks[len(toks)-1].text)
	}
}

// FuzzSplitInsert: any query text, split as an insert with data, builds
// the statement the endpoint means.
func FuzzSplitInsert(f *testing.F) {
	for _, s := range []string{
		"INSERT INTO t (a, b) FORMAT Native", "INSERT INTO t VALUES (1)", "INSERT INTO t -- c\n FORMAT TSV",
		"INSERT INTO t SETTINGS a = 1 FORMAT CSV\n1,2", "INSERT /* x */ INTO `a b`.c (`d`) FORMAT JSONEachRow {}",
		"INSERT INTO t SETTINGS x = '-- ' FORMAT TSV", "INSERT INTO t $a$ FORMAT $a$ FORMAT TSV",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if ins := splitInsert(q); ins != nil {
			checkInsertQuery(t, ins)
		}
	})
}

// FuzzLex: the lexer never panics, and its tokens are slices of the input,
// in order, without overlap.
func FuzzLex(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT 'a''b', `c`, \"d\" -- x\n /* /* */ */ $t$ $$ $t$", "x'41' b'1' 1e-3 .5 a.1.2 ->", "#!", "\\G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		toks, err := lex(q)
		if err != nil {
			return
		}
		end := 0
		for _, tok := range toks {
			if tok.pos < end || tok.pos+len(tok.text) > len(q) || q[tok.pos:tok.pos+len(tok.text)] != tok.text || tok.text == "" {
				t.Fatalf("token %+v out of place in %q", tok, q)
			}
			end = tok.pos + len(tok.text)
		}
	})
}

// FuzzGuard: judging any text never panics, for any role.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SET a = 1, b = {'x': 'file(1)'}", "EXPLAIN a = 1, SELECT", "CREATE DATABASE x ENGINE =", "INSERT INTO FUNCTION"} {
		f.Add(s)
	}
	g := testGuard()
	f.Fuzz(func(t *testing.T, q string) {
		for _, r := range []Role{RoleReader, RoleWriter, RoleAdmin} {
			_ = g.checkRaw("u", q)
			_ = g.checkCanonical("u", r, q)
			_, _ = g.urlSetting("u", r, "additional_table_filters", q)
			_ = g.checkExpression("u", q)
		}
	})
}

// FuzzBlockReader: any decompress=1 body decodes or fails; no block is
// accepted beyond the limit.
func FuzzBlockReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, blockHeaderSize))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _ := io.ReadAll(io.LimitReader(newBlockReader(bytes.NewReader(body), 1<<16), 1<<20))
		if len(out) > 1<<16*(len(body)/blockHeaderSize+1) {
			t.Fatalf("%d bytes out of %d in", len(out), len(body))
		}
	})
}
