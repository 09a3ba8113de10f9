package syslogin

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/flowlens/flowlens/agent/logrec"
)

func frames(t testing.TB, in string, max int) (msgs []string, cuts []bool, err error) {
	t.Helper()
	fr := NewFrameReader(strings.NewReader(in), max)
	for {
		m, cut, err := fr.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return msgs, cuts, err
		}
		msgs = append(msgs, string(m))
		cuts = append(cuts, cut)
	}
}

func TestFramingOctetCountingAndNewlines(t *testing.T) {
	// both framings on one stream, as RFC 6587 senders may mix; a message
	// with a newline inside survives octet counting
	in := "11 <13>1 - a\nb" + "<14>plain line\r\n" + "\n" + "5 <13>x" + "<15>last without newline"
	got, cuts, err := frames(t, in, 1024)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"<13>1 - a\nb", "<14>plain line", "<13>x", "<15>last without newline"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for i, c := range cuts {
		if c {
			t.Errorf("message %d marked cut", i)
		}
	}
}

func TestFramingBoundsMessageSize(t *testing.T) {
	long := strings.Repeat("x", 3000)
	in := "<13>" + long + "\n" + "3004 <13>" + long + "<14>next\n"
	got, cuts, err := frames(t, in, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got[0]) != 1000 || len(got[1]) != 1000 || got[2] != "<14>next" {
		t.Fatalf("got %d messages: %d %d bytes, %q", len(got), len(got[0]), len(got[1]), got[len(got)-1])
	}
	if !cuts[0] || !cuts[1] || cuts[2] {
		t.Errorf("cut flags %v", cuts)
	}
	// a message of exactly the limit is not cut
	got, cuts, _ = frames(t, strings.Repeat("y", 1000)+"\n", 1000)
	if len(got) != 1 || cuts[0] {
		t.Errorf("exact size: %d messages, cut %v", len(got), cuts)
	}
	if _, _, err := frames(t, "12x <13>\n", 1000); !errors.Is(err, ErrFraming) {
		t.Errorf("bad octet count: %v", err)
	}
	if _, _, err := frames(t, "1234567890123 x", 1000); !errors.Is(err, ErrFraming) {
		t.Errorf("octet count of 13 digits: %v", err)
	}
}

func attrs(r *logrec.Record) map[string]any {
	m := map[string]any{}
	for _, kv := range r.Attrs {
		switch kv.Kind {
		case logrec.KindString:
			m[string(kv.Key)] = string(kv.Str)
		case logrec.KindInt:
			m[string(kv.Key)] = kv.Int
		case logrec.KindBool:
			m[string(kv.Key)] = kv.Bool
		}
	}
	return m
}

func TestParseRFC5424(t *testing.T) {
	p := NewParser(FormatAuto, time.UTC, nil)
	var r logrec.Record
	msg := `<165>1 2024-03-01T10:00:00.123Z web-1 cart 4242 ID47 [exampleSDID@32473 iut="3" eventSource="App"][meta seq="7"] order 9917 failed`
	if !p.Parse([]byte(msg), &r) {
		t.Fatalf("did not parse: %q", r.Body)
	}
	want := time.Date(2024, 3, 1, 10, 0, 0, 123e6, time.UTC)
	if r.TimeUnixNano != uint64(want.UnixNano()) || string(r.Body) != "order 9917 failed" || string(r.Service) != "cart" {
		t.Errorf("time %d body %q service %q", r.TimeUnixNano, r.Body, r.Service)
	}
	// 165 = facility 20 (local4), severity 5 (notice)
	if r.SeverityNumber != 10 || string(r.SeverityText) != "notice" {
		t.Errorf("severity %d %q", r.SeverityNumber, r.SeverityText)
	}
	a := attrs(&r)
	for k, v := range map[string]any{"syslog.hostname": "web-1", "syslog.procid": "4242", "syslog.msgid": "ID47", "syslog.facility": int64(20),
		"syslog.version": int64(1), "syslog.sd.exampleSDID@32473.iut": "3", "syslog.sd.meta.seq": "7"} {
		if a[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, a[k], v, a)
		}
	}
}

func TestParseRFC3164(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	// RFC 3164 has no year: the parser's clock gives it
	clock := time.Date(2025, 6, 1, 12, 0, 0, 0, loc)
	p := NewParser(FormatAuto, loc, func() time.Time { return clock })
	var r logrec.Record
	msg := "<34>Jun  1 11:59:58 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8"
	if !p.Parse([]byte(msg), &r) {
		t.Fatalf("did not parse: %q", r.Body)
	}
	if want := clock.Add(-2 * time.Second); r.TimeUnixNano != uint64(want.UnixNano()) {
		t.Errorf("time %v, want %v", time.Unix(0, int64(r.TimeUnixNano)), want)
	}
	a := attrs(&r)
	if string(r.Service) != "su" || a["syslog.procid"] != "230" || a["syslog.hostname"] != "mymachine" || string(r.SeverityText) != "crit" || a["syslog.facility"] != int64(4) {
		t.Errorf("service %q severity %q attrs %v", r.Service, r.SeverityText, a)
	}
	if string(r.Body) != "'su root' failed for lonvick on /dev/pts/8" {
		t.Errorf("body %q", r.Body)
	}
}

// A December message read on New Year's day is last year's.
func TestParseRFC3164AcrossNewYear(t *testing.T) {
	clock := time.Date(2025, 1, 1, 0, 0, 5, 0, time.UTC)
	p := NewParser(FormatRFC3164, time.UTC, func() time.Time { return clock })
	var r logrec.Record
	if !p.Parse([]byte("<13>Dec 31 23:59:58 h app: late"), &r) {
		t.Fatalf("did not parse: %q", r.Body)
	}
	if got := time.Unix(0, int64(r.TimeUnixNano)).UTC(); !got.Equal(time.Date(2024, 12, 31, 23, 59, 58, 0, time.UTC)) {
		t.Errorf("time %v", got)
	}
}

func TestParseKeepsWhatDoesNotParse(t *testing.T) {
	p := NewParser(FormatAuto, time.UTC, nil)
	var r logrec.Record
	for _, msg := range []string{"no priority at all", "<999>1 bad", "<13>\xff\xfe binary"} {
		r.Reset()
		p.Parse([]byte(msg), &r)
		if len(r.Body) == 0 || !utf8.Valid(r.Body) {
			t.Errorf("%q: body %q", msg, r.Body)
		}
	}
	r.Reset()
	if p.Parse([]byte("no priority at all"), &r) || attrs(&r)["flowlens.parse_error"] != "syslog" || string(r.Body) != "no priority at all" {
		t.Errorf("unparsed message: body %q attrs %v", r.Body, attrs(&r))
	}
}

// FuzzParse: any message gives a record whose strings are valid UTF-8
// (protobuf strings must be) and a body.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`<165>1 2024-03-01T10:00:00.123Z web-1 cart 4242 ID47 [a b="c\]d"] msg`))
	f.Add([]byte("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed"))
	f.Add([]byte("<13>1 - - - - - -"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, format := range []string{FormatAuto, FormatRFC5424, FormatRFC3164} {
			p := NewParser(format, time.UTC, nil)
			var r logrec.Record
			p.Parse(in, &r)
			check := func(what string, b []byte) {
				if !utf8.Valid(b) {
					t.Fatalf("%s: %s not valid UTF-8: %q", format, what, b)
				}
			}
			check("body", r.Body)
			check("service", r.Service)
			for _, kv := range r.Attrs {
				check(string(kv.Key), kv.Key)
				check(string(kv.Key), kv.Str)
			}
		}
	})
}

// FuzzFrames: framing never returns more than the limit and never
// panics.
func FuzzFrames(f *testing.F) {
	f.Add([]byte("11 <13>1 - a\nb<14>plain line\r\n\n5 <13>x"))
	f.Add([]byte("999999999 x"))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := NewFrameReader(bytes.NewReader(in), 64)
		for i := 0; i < 10000; i++ {
			m, _, err := fr.Next()
			if err != nil {
				return
			}
			if len(m) > 64 {
				t.Fatalf("message of %d bytes past the limit", len(m))
			}
		}
	})
}

func BenchmarkParseRFC5424(b *testing.B) {
	msg := []byte(`<165>1 2024-03-01T10:00:00.123Z web-1 cart 4242 ID47 [meta seq="7"] GET /api/cart 200 12ms user=42 order=9917`)
	benchParse(b, msg)
}

func BenchmarkParseRFC3164(b *testing.B) {
	msg := []byte("<34>Oct 11 22:14:15 web-1 cart[4242]: GET /api/cart 200 12ms user=42 order=9917")
	benchParse(b, msg)
}

func benchParse(b *testing.B, msg []byte) {
	p := NewParser(FormatAuto, time.UTC, nil)
	var r logrec.Record
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Reset()
		if !p.Parse(msg, &r) {
			b.Fatal("did not parse")
		}
	}
}
