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
// insert's rewritten statement must keep the FORMAT the client named.
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
			_ = st.statement()
		}
		if ins := parseInsert(req.query); ins != nil {
			want := clientFormat(req.query)
			if want == "" || ins.format != want {
				t.Fatalf("%q: format %q, the client named %q", req.query, ins.format, want)
			}
			if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(ins.head)), "INSERT") {
				t.Fatalf("head %q", ins.head)
			}
			stmt := ins.fromFile("/tmp/flowlens-insert-1.bin")
			if !strings.HasPrefix(stmt, ins.head+" FROM INFILE '/tmp/flowlens-insert-1.bin'") || !strings.HasSuffix(stmt, " FORMAT "+want) {
				t.Fatalf("%q rewritten as %q", req.query, stmt)
			}
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

// clientFormat reads the format an insert names, the way ClickHouse's
// lexer sees its end: the last word, after FORMAT, before an optional
// semicolon. "" when the statement does not end that way.
func clientFormat(q string) string {
	const space = " \t\n\v\f\r"
	q = strings.TrimRight(q, space)
	q = strings.TrimRight(strings.TrimSuffix(q, ";"), space)
	words := strings.FieldsFunc(q, func(r rune) bool { return strings.ContainsRune(space, r) })
	if len(words) < 2 || !strings.EqualFold(words[len(words)-2], "FORMAT") {
		return ""
	}
	return words[len(words)-1]
}

func TestSplitSettings(t *testing.T) {
	tests := []struct{ in, head, tail string }{
		{"INSERT INTO t (a, b)", "INSERT INTO t (a, b)", ""},
		{"INSERT INTO t (a, b) SETTINGS insert_deduplication_token = 'x'", "INSERT INTO t (a, b)", "SETTINGS insert_deduplication_token = 'x'"},
		{"INSERT INTO t (`SETTINGS`, b)", "INSERT INTO t (`SETTINGS`, b)", ""},
		{"INSERT INTO t ('a SETTINGS b')", "INSERT INTO t ('a SETTINGS b')", ""},
		{"insert into t settings a=1", "insert into t", "settings a=1"},
	}
	for _, tt := range tests {
		h, tl := splitSettings(tt.in)
		if h != tt.head || tl != tt.tail {
			t.Errorf("%q: got %q | %q", tt.in, h, tl)
		}
	}
}

func TestParseInsert(t *testing.T) {
	tests := []struct {
		q      string
		format string // "" means not a body insert
	}{
		{"INSERT INTO db.t (a, b) FORMAT Native", "Native"},
		{"  insert into t format JSONEachRow", "JSONEachRow"},
		{"INSERT INTO t (a) SETTINGS x=1 FORMAT RowBinary", "RowBinary"},
		{"INSERT INTO t SELECT * FROM u FORMAT Native", ""},
		{"INSERT INTO t VALUES (1)", ""},
		{"SELECT 1 FORMAT Native", ""},
	}
	for _, tt := range tests {
		ins := parseInsert(tt.q)
		got := ""
		if ins != nil {
			got = ins.format
		}
		if got != tt.format {
			t.Errorf("%q: format %q, want %q", tt.q, got, tt.format)
		}
	}
}
