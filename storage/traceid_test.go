package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTraceID(t *testing.T) {
	const id = "0af7651916cd43dd8448eb211c80319c"
	ok := []string{id, strings.ToUpper(id), "0x" + id, "0X" + id, "  " + id + "\n"}
	for _, s := range ok {
		got, err := ParseTraceID(s)
		if err != nil || got.String() != id {
			t.Errorf("ParseTraceID(%q) = %s, %v", s, got, err)
		}
	}
	bad := []string{"", "0x", id[:31], id + "0", "0af7651916cd43dd8448eb211c80319g", "00000000000000000000000000000000",
		"' OR 1=1 --", "0af7651916cd43dd-8448eb211c80319c", "0af7651916cd43dd8448eb211c80319\x00", "０af7651916cd43dd8448eb211c80319c",
		"0x0x" + id[4:], "{id:String}"}
	for _, s := range bad {
		if _, err := ParseTraceID(s); !errors.Is(err, ErrInvalidTraceID) {
			t.Errorf("ParseTraceID(%q) err = %v, want ErrInvalidTraceID", s, err)
		}
	}
}

func FuzzParseTraceID(f *testing.F) {
	for _, s := range []string{"0af7651916cd43dd8448eb211c80319c", "0X0AF7651916CD43DD8448EB211C80319C", "", "' OR 1=1 --",
		"00000000000000000000000000000000", " 0af7651916cd43dd8448eb211c80319c ", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseTraceID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTraceID) {
				t.Fatalf("error does not wrap ErrInvalidTraceID: %v", err)
			}
			if len(err.Error()) > 300 {
				t.Fatalf("error message too long: %d bytes", len(err.Error()))
			}
			return
		}
		h := id.String()
		if len(h) != 32 || strings.Trim(h, "0123456789abcdef") != "" {
			t.Fatalf("ParseTraceID(%q) = %q: not 32 lowercase hex digits", s, h)
		}
		if !strings.Contains(strings.ToLower(s), h) {
			t.Fatalf("ParseTraceID(%q) = %q: not taken from the input", s, h)
		}
		again, err := ParseTraceID(h)
		if err != nil || again != id {
			t.Fatalf("round trip of %q: %v, %v", h, again, err)
		}
	})
}
