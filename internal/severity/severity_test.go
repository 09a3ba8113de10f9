package severity

import (
	"strings"
	"testing"
)

func TestEveryWordReadsAsItsLevel(t *testing.T) {
	for _, l := range Levels {
		for _, w := range l.Words {
			for _, s := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:]} {
				if got := FromText([]byte(s)); got != l.Number {
					t.Errorf("FromText(%q) = %d, want %d (%s)", s, got, l.Number, l.Name)
				}
				if got, ok := Parse(" " + s + " "); !ok || got.Name != l.Name {
					t.Errorf("Parse(%q) = %v, %v, want %s", s, got.Name, ok, l.Name)
				}
			}
			if len(w) > maxWord {
				t.Errorf("%q is longer than maxWord %d", w, maxWord)
			}
		}
		if FromText([]byte(l.Name)) != l.Number {
			t.Errorf("the level's own name %s is not one of its words", l.Name)
		}
	}
	for _, s := range []string{"", "x", "errors", "informationally", "ok"} {
		if got := FromText([]byte(s)); got != 0 {
			t.Errorf("FromText(%q) = %d, want 0", s, got)
		}
		if _, ok := Parse(s); ok {
			t.Errorf("Parse(%q) found a level", s)
		}
	}
}

func TestNameOfEveryNumber(t *testing.T) {
	want := []string{"", "TRACE", "TRACE", "TRACE", "TRACE", "DEBUG", "DEBUG", "DEBUG", "DEBUG", "INFO", "INFO", "INFO", "INFO",
		"WARN", "WARN", "WARN", "WARN", "ERROR", "ERROR", "ERROR", "ERROR", "FATAL", "FATAL", "FATAL", "FATAL"}
	for n, w := range want {
		if got := Name(int32(n)); got != w {
			t.Errorf("Name(%d) = %q, want %q", n, got, w)
		}
	}
	if got := Name(200); got != "FATAL" {
		t.Errorf("Name(200) = %q", got)
	}
}

func TestFromTextDoesNotAllocate(t *testing.T) {
	b := []byte("Warning")
	if n := testing.AllocsPerRun(100, func() { FromText(b) }); n != 0 {
		t.Errorf("FromText allocates %.0f times", n)
	}
}

func TestFromSyslog(t *testing.T) {
	// each syslog severity falls in the level its keyword names
	for p, word := range SyslogNames {
		n, text, ok := FromSyslog(p)
		if !ok || text != word {
			t.Fatalf("%d: %d %q %v", p, n, text, ok)
		}
		if got, want := Name(n), Name(FromText([]byte(word))); got != want {
			t.Errorf("%s: number %d is in level %s, the word says %s", word, n, got, want)
		}
	}
	if _, _, ok := FromSyslog(8); ok {
		t.Error("8 is not a syslog severity")
	}
}
