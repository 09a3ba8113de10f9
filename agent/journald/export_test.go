package journald

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func decodeAll(t testing.TB, data []byte, max int) ([]map[string]string, []bool, error) {
	t.Helper()
	d := NewDecoder(bytes.NewReader(data), max)
	var out []map[string]string
	var cut []bool
	var e Entry
	for {
		err := d.Next(&e)
		if err == io.EOF {
			return out, cut, nil
		}
		if err != nil {
			return out, cut, err
		}
		m := map[string]string{}
		for _, f := range e.Fields {
			m[string(f.Name)] = string(f.Value)
		}
		out = append(out, m)
		cut = append(cut, e.Truncated)
	}
}

func TestDecodeTextAndBinaryFields(t *testing.T) {
	data, err := os.ReadFile("testdata/two.export")
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := decodeAll(t, data, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("want 2 entries, got %d: %v", len(got), got)
	}
	if got[0]["MESSAGE"] != "hello" || got[0]["_PID"] != "42" || got[0]["__CURSOR"] != "s=1;i=1" {
		t.Errorf("first entry: %v", got[0])
	}
	// a binary field: a newline and an invalid byte inside, kept as they are
	if got[1]["MESSAGE"] != "a\nb\xffc" || got[1]["PRIORITY"] != "6" {
		t.Errorf("second entry: %q", got[1])
	}
}

func TestDecodeCutsLargeEntries(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("__CURSOR=c1\nMESSAGE=" + strings.Repeat("x", 5000) + "\nBIG\n")
	binary.Write(&b, binary.LittleEndian, uint64(3000))
	b.WriteString(strings.Repeat("y", 3000) + "\nAFTER=1\n\n__CURSOR=c2\nMESSAGE=next\n\n")
	got, cut, err := decodeAll(t, b.Bytes(), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !cut[0] || cut[1] {
		t.Fatalf("entries %d, cut %v", len(got), cut)
	}
	if got[0]["__CURSOR"] != "c1" || len(got[0]["MESSAGE"]) > 1024 || got[1]["MESSAGE"] != "next" {
		t.Errorf("cut entry kept its cursor and the next entry is whole: %d bytes, %v", len(got[0]["MESSAGE"]), got[1])
	}
}

func TestDecodeErrors(t *testing.T) {
	for name, in := range map[string]string{
		"cut inside an entry":      "__CURSOR=a\nMESSAGE=x",
		"binary without its bytes": "__CURSOR=a\nMESSAGE\n\x05\x00",
		"binary without newline":   "MESSAGE\n\x01\x00\x00\x00\x00\x00\x00\x00ab\n\n",
		"huge binary size":         "MESSAGE\n\xff\xff\xff\xff\xff\xff\xff\xff",
	} {
		_, _, err := decodeAll(t, []byte(in), 1024)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestArgs(t *testing.T) {
	c := Config{Units: []string{"a.service", "b*"}, Priority: "warning", Directory: "/j"}
	c.SetDefaults()
	got := strings.Join(c.Args("s=1"), " ")
	want := "--output=export --follow --no-pager --after-cursor=s=1 --no-tail --directory=/j --unit=a.service --unit=b* --priority=4"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	c.StartAt = StartEnd
	if got := strings.Join(c.Args(""), " "); !strings.Contains(got, "--lines=0") {
		t.Errorf("start_at end: %s", got)
	}
	bad := Config{Priority: "loud", Directory: "/j", Files: []string{"/f"}, StartAt: "middle"}
	bad.SetDefaults()
	err := bad.Validate()
	for _, w := range []string{"priority", "directory", "start_at"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate should name %s: %v", w, err)
		}
	}
}

// FuzzDecode: any input decodes without panicking, never returns a field
// longer than the limit, and text fields survive a re-encode.
func FuzzDecode(f *testing.F) {
	data, _ := os.ReadFile("testdata/two.export")
	f.Add(data)
	f.Add([]byte("A=1\n\nB\n\x00\x00\x00\x00\x00\x00\x00\x00\n\n"))
	f.Add([]byte("\n\n\nX"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in), 1024)
		var e Entry
		for i := 0; i < 1000; i++ {
			if err := d.Next(&e); err != nil {
				return
			}
			size := 0
			for _, fl := range e.Fields {
				size += len(fl.Name) + len(fl.Value)
			}
			if size > 1024 {
				t.Fatalf("entry of %d bytes past the limit", size)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	entry := "__CURSOR=s=739ad463348b4ceca5a9e69c95a3c93f;i=4ece7;b=6c7c6013a8674ba3a3bc2c8a1d9b9a2e;m=3a5f4d55;t=5e3a8e0a9c0d0;x=f3c2d0e0c0b0a090\n" +
		"__REALTIME_TIMESTAMP=1700000000000000\n__MONOTONIC_TIMESTAMP=979211605\n_BOOT_ID=6c7c6013a8674ba3a3bc2c8a1d9b9a2e\n" +
		"_TRANSPORT=stdout\nPRIORITY=6\nSYSLOG_IDENTIFIER=cart\n_PID=1234\n_UID=1000\n_GID=1000\n_COMM=cart\n_EXE=/usr/bin/cart\n" +
		"_SYSTEMD_UNIT=cart.service\n_HOSTNAME=web-1\nMESSAGE=GET /api/cart 200 12ms user=42 order=9917\n\n"
	data := bytes.Repeat([]byte(entry), 1000)
	b.SetBytes(int64(len(data)) / 1000)
	b.ReportAllocs()
	var e Entry
	for i := 0; i < b.N; i += 1000 {
		d := NewDecoder(bytes.NewReader(data), 256<<10)
		for d.Next(&e) == nil {
		}
	}
}
