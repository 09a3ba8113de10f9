package parse

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/internal/severity"
)

func newParser(t testing.TB, format, regex string) *Parser {
	t.Helper()
	cfg := Config{Format: format, Regex: regex}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func attr(r *logrec.Record, key string) (logrec.KV, bool) {
	for _, a := range r.Attrs {
		if string(a.Key) == key {
			return a, true
		}
	}
	return logrec.KV{}, false
}

func TestParse(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name, format, regex, line string
		ok                        bool
		body, sev                 string
		sevNum                    int32
		time                      uint64
		trace, span, service      string
		attrs                     map[string]any
	}{
		{name: "json full", format: "json",
			line: `{"ts":"2024-01-02T03:04:05.123456789Z","level":"warn","msg":"disk \"low\"\n","service":"db","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","n":12,"f":1.5,"b":true,"z":null,"o":{"a":[1,"}"]},"u":"\u00e9\ud83d\ude00"}`,
			ok:   true, body: "disk \"low\"\n", sev: "warn", sevNum: severity.Warn, time: 1704164645123456789,
			trace: "4bf92f3577b34da6a3ce929d0e0e4736", span: "00f067aa0ba902b7", service: "db",
			attrs: map[string]any{"n": int64(12), "f": 1.5, "b": true, "o": `{"a":[1,"}"]}`, "u": "é😀"}},
		{name: "json no message keeps line", format: "json", line: ` {"a":"b"} `, ok: true, body: ` {"a":"b"} `, attrs: map[string]any{"a": "b"}},
		{name: "json epoch millis and pino level", format: "json", line: `{"time":1704164645123,"level":30,"msg":"x"}`, ok: true, body: "x", sev: "30", sevNum: severity.Info, time: 1704164645123000000},
		{name: "json epoch float seconds", format: "json", line: `{"ts":1704164645.5,"msg":"x"}`, ok: true, body: "x", time: 1704164645500000000},
		{name: "json offset zone", format: "json", line: `{"ts":"2024-01-02T05:04:05+02:00","msg":"x"}`, ok: true, body: "x", time: 1704164645000000000},
		{name: "json bad time kept as attribute", format: "json", line: `{"ts":"yesterday","msg":"x"}`, ok: true, body: "x", attrs: map[string]any{"ts": "yesterday"}},
		{name: "json bad trace id kept", format: "json", line: `{"trace_id":"xyz","msg":"x"}`, ok: true, body: "x", attrs: map[string]any{"trace_id": "xyz"}},
		{name: "json traceparent in message", format: "json", line: `{"msg":"call traceparent=` + tp + ` done"}`, ok: true, body: "call traceparent=" + tp + " done",
			trace: "4bf92f3577b34da6a3ce929d0e0e4736", span: "00f067aa0ba902b7"},
		{name: "json malformed", format: "json", line: `{"a":"b"`, ok: false, body: `{"a":"b"`, attrs: map[string]any{"flowlens.parse_error": "json"}},
		{name: "json trailing garbage", format: "json", line: `{"a":1} x`, ok: false, body: `{"a":1} x`},
		{name: "json not an object", format: "json", line: `[1,2]`, ok: false, body: `[1,2]`},
		{name: "json empty object", format: "json", line: `{}`, ok: true, body: `{}`},
		{name: "json nul byte", format: "json", line: "{\"a\":\x00}", ok: false, body: "{\"a\":\x00}"},
		{name: "whitespace only", format: "json", line: "   \t ", ok: false, body: "   \t "},
		{name: "logfmt", format: "logfmt", line: `time=2024-01-02T03:04:05Z level=error msg="boom \"x\"" user=ann debug`, ok: true,
			body: `boom "x"`, sev: "error", sevNum: severity.Error, time: 1704164645000000000, attrs: map[string]any{"user": "ann", "debug": true}},
		{name: "logfmt no pairs", format: "logfmt", line: `just some words`, ok: false, body: `just some words`},
		{name: "logfmt unterminated quote", format: "logfmt", line: `msg="abc`, ok: false, body: `msg="abc`},
		{name: "regex", format: "regex", regex: `^(?P<time>\S+ \S+) (?P<level>\w+) (?P<msg>.*)$`,
			line: `2024-01-02 03:04:05.5 INFO started id=3`, ok: true, body: "started id=3", sev: "INFO", sevNum: severity.Info, time: 1704164645500000000},
		{name: "regex no match", format: "regex", regex: `^(?P<level>[A-Z]+): (?P<msg>.*)$`, line: `nope`, ok: false, body: "nope"},
		{name: "plain traceparent", format: "plain", line: "GET / " + tp, ok: true, body: "GET / " + tp, trace: "4bf92f3577b34da6a3ce929d0e0e4736", span: "00f067aa0ba902b7"},
		{name: "plain fake traceparent", format: "plain", line: "x00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ok: true, body: "x00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{name: "invalid utf8", format: "plain", line: "a\xffb", ok: true, body: "a\uFFFDb", attrs: map[string]any{"flowlens.invalid_utf8": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newParser(t, tc.format, tc.regex)
			var r logrec.Record
			ok := p.Parse([]byte(tc.line), &r)
			if ok != tc.ok {
				t.Fatalf("ok=%v want %v", ok, tc.ok)
			}
			if string(r.Body) != tc.body {
				t.Errorf("body %q want %q", r.Body, tc.body)
			}
			if !tc.ok {
				if a, found := attr(&r, "flowlens.parse_error"); !found || string(a.Str) != tc.format {
					t.Errorf("parse error mark missing")
				}
			}
			if string(r.SeverityText) != tc.sev || r.SeverityNumber != tc.sevNum {
				t.Errorf("severity %q/%d want %q/%d", r.SeverityText, r.SeverityNumber, tc.sev, tc.sevNum)
			}
			if r.TimeUnixNano != tc.time {
				t.Errorf("time %d want %d", r.TimeUnixNano, tc.time)
			}
			if got := hexIf(r.HasTraceID, r.TraceID[:]); got != tc.trace {
				t.Errorf("trace %q want %q", got, tc.trace)
			}
			if got := hexIf(r.HasSpanID, r.SpanID[:]); got != tc.span {
				t.Errorf("span %q want %q", got, tc.span)
			}
			if string(r.Service) != tc.service {
				t.Errorf("service %q want %q", r.Service, tc.service)
			}
			for k, want := range tc.attrs {
				a, found := attr(&r, k)
				if !found {
					t.Errorf("attribute %s missing (have %d)", k, len(r.Attrs))
					continue
				}
				var got any
				switch a.Kind {
				case logrec.KindString:
					got = string(a.Str)
				case logrec.KindInt:
					got = a.Int
				case logrec.KindDouble:
					got = a.Float
				case logrec.KindBool:
					got = a.Bool
				}
				if got != want {
					t.Errorf("attribute %s = %#v want %#v", k, got, want)
				}
			}
		})
	}
}

func hexIf(ok bool, b []byte) string {
	if !ok {
		return ""
	}
	return hex.EncodeToString(b)
}

func TestHugeLine(t *testing.T) {
	p := newParser(t, "json", "")
	line := []byte(`{"msg":"` + strings.Repeat("a\\n", 10<<20/3) + `"}`)
	var r logrec.Record
	if !p.Parse(line, &r) {
		t.Fatal("10 MB line did not parse")
	}
	if len(r.Body) != 2*(10<<20/3) {
		t.Fatalf("body %d", len(r.Body))
	}
}

func TestConfigErrorsNameField(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Format: "xml"}, "format"},
		{Config{Format: "regex"}, "regex"},
		{Config{Format: "regex", Regex: "("}, "regex"},
		{Config{Format: "regex", Regex: "a+"}, "regex"},
		{Config{Format: "json", Fields: Fields{Message: []string{"level"}}}, "fields.message[0]"},
	} {
		tc.cfg.SetDefaults()
		err := tc.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%+v: error %v, want field %s", tc.cfg, err, tc.field)
		}
	}
}

// FuzzParse checks that no input panics, every line yields a record whose
// strings are valid UTF-8 and nothing of a failed line is lost.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"msg":"a","level":"info"}`, `{"a":{"b":[1,2,"\"]"]}}`, `a=b c="d e"`, `{"u":"\ud800"}`, "\xff\x00", `{"ts":"2024-01-02T03:04:05Z"}`, `{"n":1e999}`} {
		f.Add(s)
	}
	parsers := []*Parser{newParser(f, "json", ""), newParser(f, "logfmt", ""), newParser(f, "regex", `(?P<level>\w+) (?P<msg>.*)`), newParser(f, "plain", "")}
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range parsers {
			var r logrec.Record
			b := []byte(line)
			ok := p.Parse(b, &r)
			if !ok && utf8.ValidString(line) && string(r.Body) != line {
				t.Fatalf("%s: failed line not kept: %q", p.format, r.Body)
			}
			if !utf8.Valid(r.Body) {
				t.Fatalf("%s: body not UTF-8", p.format)
			}
			for _, a := range r.Attrs {
				if !utf8.Valid(a.Key) || (a.Kind == logrec.KindString && !utf8.Valid(a.Str)) {
					t.Fatalf("%s: attribute not UTF-8: %q=%q", p.format, a.Key, a.Str)
				}
			}
			// raw control characters inside strings are accepted on purpose
			lenient := strings.IndexFunc(line, func(c rune) bool { return c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != ' ' }) >= 0
			if p.format == "json" && ok && !lenient && utf8.ValidString(line) && !json.Valid(b) {
				t.Fatalf("accepted invalid JSON %q", line)
			}
		}
	})
}

func benchLines(b *testing.B) [][]byte {
	data, err := os.ReadFile("testdata/lines.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

func BenchmarkParseJSON(b *testing.B) {
	lines := benchLines(b)
	p := newParser(b, "json", "")
	var r logrec.Record
	var n int
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Reset()
		if !p.Parse(lines[i%len(lines)], &r) {
			b.Fatal("parse failed")
		}
		i++
	}
}

// BenchmarkEncodingJSON is the reference: encoding/json into a map.
func BenchmarkEncodingJSON(b *testing.B) {
	lines := benchLines(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(lines[i%len(lines)], &m); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestDecodeHexAgreesWithEncodingHex: every byte value, in either digit of
// a pair, is accepted and decoded exactly as encoding/hex does (the
// characters next to the digit ranges, '/', ':', '@', 'G', '`', 'g', and
// bytes over 0x7f are the ones a lookup table gets wrong).
func TestDecodeHexAgreesWithEncodingHex(t *testing.T) {
	for c := range 256 {
		for _, src := range [][]byte{{byte(c), 'a'}, {'7', byte(c)}} {
			var got [1]byte
			ok := decodeHex(got[:], src)
			want, err := hex.DecodeString(string(src))
			if ok != (err == nil) || ok && got[0] != want[0] {
				t.Fatalf("decodeHex(%q) = %x, %v; encoding/hex: %x, %v", src, got, ok, want, err)
			}
		}
	}
}

func BenchmarkDecodeHex(b *testing.B) {
	src := []byte("4bf92f3577b34da6a3ce929d0e0e4736")
	var dst [16]byte
	for b.Loop() {
		if !decodeHex(dst[:], src) {
			b.Fatal("not hex")
		}
	}
}
