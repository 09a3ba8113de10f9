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
			if !identRe.MatchString(ins.format) {
				t.Fatalf("format %q", ins.format)
			}
			if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(ins.head)), "INSERT") {
				t.Fatalf("head %q", ins.head)
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
