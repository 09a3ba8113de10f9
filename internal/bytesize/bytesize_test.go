package bytesize

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Size{"512": 512, "64KiB": 64 << 10, "10MB": 10e6, "1GiB": 1 << 30, "1.5 MiB": 3 << 19, "2G": 2 << 30} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ten", "-5", "1XB"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var v struct{ S Size }
	if err := yaml.Unmarshal([]byte("s: 4MiB"), &v); err != nil || v.S != 4<<20 {
		t.Fatalf("yaml: %v %v", v.S, err)
	}
	if (Size(1 << 30)).String() != "1GiB" {
		t.Fatal(Size(1 << 30).String())
	}
}
