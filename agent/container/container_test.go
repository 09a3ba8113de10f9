package container

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeCRIAndDocker(t *testing.T) {
	var d Decoder
	var l Line
	cases := []struct {
		in      string
		stream  string
		partial bool
		msg     string
	}{
		{`2024-03-01T10:00:00.123456789Z stdout F {"level":"info","msg":"hi"}`, "stdout", false, `{"level":"info","msg":"hi"}`},
		{`2024-03-01T10:00:00.1Z stderr P first half `, "stderr", true, "first half "},
		{`2024-03-01T10:00:00+01:00 stdout F`, "stdout", false, ""},
		{`2024-03-01T10:00:00Z stdout F:x tagged`, "stdout", false, "tagged"},
		{`{"log":"hello \"docker\"\n","stream":"stdout","time":"2024-03-01T10:00:00.5Z"}`, "stdout", false, `hello "docker"`},
		{`{"log":"16KiB piece","stream":"stderr","time":"2024-03-01T10:00:00.5Z"}`, "stderr", true, "16KiB piece"},
	}
	for _, c := range cases {
		if err := d.Decode([]byte(c.in), &l); err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if l.Stream != c.stream || l.Partial != c.partial || string(l.Message) != c.msg || l.Time.Year() != 2024 {
			t.Errorf("%s: got %+v %q", c.in, l, l.Message)
		}
	}
	for _, bad := range []string{"", "plain text", "2024-03-01T10:00:00Z stdin F x", "2024-03-01T10:00:00Z stdout X x", "notatime stdout F x", `{"log":"x"}`, `{"log":`} {
		if err := d.Decode([]byte(bad), &l); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestPathMeta(t *testing.T) {
	id := strings.Repeat("ab", 32)
	cases := map[string]Meta{
		"/var/log/pods/shop_cart-7d9f_1b2c-uid/cart/3.log":                 {Namespace: "shop", Pod: "cart-7d9f", PodUID: "1b2c-uid", Container: "cart", RestartCount: 3},
		"/var/log/pods/shop_cart-7d9f_1b2c-uid/cart/0.log.20240301-100000": {Namespace: "shop", Pod: "cart-7d9f", PodUID: "1b2c-uid", Container: "cart", RestartCount: 0},
		"/var/log/containers/cart-7d9f_shop_cart-" + id + ".log":           {Namespace: "shop", Pod: "cart-7d9f", Container: "cart", ContainerID: id, RestartCount: -1},
		"/var/lib/docker/containers/" + id + "/" + id + "-json.log":        {ContainerID: id, RestartCount: -1},
	}
	for p, want := range cases {
		got, ok := PathMeta(p)
		if !ok || got != want {
			t.Errorf("%s:\n got %+v %v\nwant %+v", p, got, ok, want)
		}
	}
	if _, ok := PathMeta("/var/log/syslog"); ok {
		t.Error("a plain log file has container meta")
	}
	a := cases["/var/log/pods/shop_cart-7d9f_1b2c-uid/cart/3.log"].Attributes()
	if a["k8s.namespace.name"] != "shop" || a["k8s.pod.name"] != "cart-7d9f" || a["k8s.container.name"] != "cart" || a["k8s.container.restart_count"] != "3" {
		t.Errorf("attributes %v", a)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`2024-03-01T10:00:00.123456789Z stdout F {"level":"info"}`))
	f.Add([]byte(`2024-03-01T10:00:00Z stderr P part`))
	f.Add([]byte(`{"log":"x\n","stream":"stdout","time":"2024-03-01T10:00:00.5Z"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		var l Line
		if err := d.Decode(in, &l); err != nil {
			return
		}
		if l.Stream != "stdout" && l.Stream != "stderr" {
			t.Fatalf("stream %q", l.Stream)
		}
		if in[0] != '{' && len(l.Message) > len(in) {
			t.Fatalf("message longer than the line")
		}
	})
}

func FuzzPathMeta(f *testing.F) {
	f.Add("/var/log/pods/a_b_c/d/1.log")
	f.Add("/var/log/containers/p_n_c-" + strings.Repeat("0", 64) + ".log")
	f.Fuzz(func(t *testing.T, p string) {
		m, ok := PathMeta(p)
		if ok && m.Namespace == "" && m.ContainerID == "" {
			t.Fatalf("%q: meta without namespace or container id: %+v", p, m)
		}
	})
}

func BenchmarkDecodeCRI(b *testing.B) {
	line := []byte(`2024-03-01T10:00:00.123456789Z stdout F {"ts":"2024-03-01T10:00:00.123Z","level":"info","service":"cart","msg":"GET /api/cart 200","trace_id":"0af7651916cd43dd8448eb211c80319c","user":42}`)
	benchDecode(b, line)
}

func BenchmarkDecodeDocker(b *testing.B) {
	line := []byte(`{"log":"{\"level\":\"info\",\"service\":\"cart\",\"msg\":\"GET /api/cart 200\",\"user\":42}\n","stream":"stdout","time":"2024-03-01T10:00:00.123456789Z"}`)
	benchDecode(b, line)
}

// benchDecode measures the Decoder on line, again and again.
func benchDecode(b *testing.B, line []byte) {
	var d Decoder
	var l Line
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(line, &l); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDockerFastPath: wherever the hand-written reader of Docker's lines
// takes a line, it reads what encoding/json reads.
func FuzzDockerFastPath(f *testing.F) {
	f.Add(`hello \"docker\"\n`, "stdout")
	f.Add(`\u00e9\ud83d\ude00 \t\\\/`, "stderr")
	f.Add(`\ud800 lone`, "stdout")
	f.Fuzz(func(t *testing.T, log, stream string) {
		line := []byte(`{"log":"` + log + `","stream":"` + stream + `","time":"2024-03-01T10:00:00.5Z"}`)
		var fast Decoder
		msg, st, _, ok := fast.decodeDockerFast(line)
		if !ok {
			return
		}
		var want dockerLine
		if err := json.Unmarshal(line, &want); err != nil {
			t.Fatalf("fast path took %q, encoding/json refuses it: %v", line, err)
		}
		if string(msg) != want.Log || st != want.Stream {
			t.Fatalf("%q: fast %q %q, encoding/json %q %q", line, msg, st, want.Log, want.Stream)
		}
	})
}
