package logfile

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

type line struct {
	Time    string `json:"time"`
	Level   string `json:"level"`
	Service string `json:"service"`
	Msg     string `json:"msg"`
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
	Seq     uint64 `json:"seq"`
	State   string `json:"breaker.state"`
}

func readLines(t *testing.T, path string) []line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func TestWriteAndRotate(t *testing.T) {
	dir := t.TempDir()
	w, err := New(Config{Dir: dir, RotateBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 25, 23, 0, 0, 123456789, time.UTC)
	r := Record{Time: ts, Level: "info", Service: "cart", Msg: `said "hi"` + "\n\x01",
		TraceID: [16]byte{0xab, 1}, SpanID: [8]byte{0xcd, 2}, Attrs: []Attr{{"breaker.state", "open"}}}
	const n = 200
	for i := 1; i <= n; i++ {
		r.Seq = uint64(i)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cart.log*"))
	if len(files) < 3 {
		t.Fatalf("files = %v, want rotations", files)
	}
	seen := map[uint64]bool{}
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > 4096 {
			t.Errorf("%s is %d bytes, over the rotation size", f, st.Size())
		}
		for _, l := range readLines(t, f) {
			if seen[l.Seq] {
				t.Errorf("seq %d twice", l.Seq)
			}
			seen[l.Seq] = true
			if l.Time != "2026-11-25T23:00:00.123456789Z" || l.Msg != r.Msg || l.TraceID != "ab010000000000000000000000000000" ||
				l.SpanID != "cd02000000000000" || l.Service != "cart" || l.Level != "info" || l.State != "open" {
				t.Fatalf("line = %+v", l)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("read %d records, wrote %d", len(seen), n)
	}
	if s := w.Stats(); s.Records != n || s.Rotations != uint64(len(files)-1) {
		t.Fatalf("stats = %+v, files %d", s, len(files))
	}
}

func TestBadServiceName(t *testing.T) {
	w, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&Record{Service: "../etc"}); err == nil {
		t.Fatal("a service name with a path separator was accepted")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\`, "\x00\x1f\x7f", "héllo", "\xff\xfe", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %q: %v", s, b, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("round trip %q -> %q", s, got)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	r := Record{Time: time.Now(), Level: "info", Service: "checkout", Msg: "handled POST /orders",
		TraceID: [16]byte{1, 2, 3}, SpanID: [8]byte{4, 5}, Seq: 123456}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], &r)
	}
	b.SetBytes(int64(len(buf)))
}
