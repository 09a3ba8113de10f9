package intern_test

import (
	"strings"
	"testing"

	"github.com/flowlens/flowlens/flowgraph/intern"
)

func TestLongNamesAreCutAtACharacterBoundary(t *testing.T) {
	tb := intern.NewTableLimits(0, 16)
	long := strings.Repeat("é", 20) // 2 bytes each
	id := tb.ID(long)
	if got := tb.Name(id); got != strings.Repeat("é", 8) {
		t.Fatalf("cut to %q", got)
	}
	if tb.ID(long+"more") != id || tb.Truncated() != 2 {
		t.Fatalf("two names with the same first 16 bytes: ids differ or truncated = %d", tb.Truncated())
	}
}

// A swept name's ID is given to the next new name; a cache that held the
// old name must not answer with its ID any more.
func TestSweepFreesIDsAndCachesForgetThem(t *testing.T) {
	tb := intern.NewTable(8)
	c := intern.NewCache(tb)
	keep, gone := c.ID("keep"), c.ID("gone")
	if n := tb.Sweep(func(mark func(intern.ID)) { mark(keep) }); n != 1 || tb.Evicted() != 1 {
		t.Fatalf("swept %d, evicted %d; want 1", n, tb.Evicted())
	}
	if tb.Name(gone) != "" || tb.Name(keep) != "keep" {
		t.Fatalf("after the sweep: %q %q", tb.Name(gone), tb.Name(keep))
	}
	reused := tb.ID("new")
	if reused != gone {
		t.Fatalf("the freed ID %d was not reused (got %d)", gone, reused)
	}
	if id := c.ID("gone"); id == reused || tb.Name(id) != "gone" {
		t.Fatalf("the cache answered %d (%q) for a swept name", id, tb.Name(id))
	}
	if c.ID("keep") != keep {
		t.Fatal("a kept name changed its ID")
	}
}

// A full table refuses new names until a sweep makes room.
func TestFullTableRecoversAfterSweep(t *testing.T) {
	tb := intern.NewTable(4) // "", __overflow__ and two names
	tb.ID("a")
	tb.ID("b")
	if tb.Name(tb.ID("c")) != intern.Overflow || !tb.Full() {
		t.Fatal("a third name fit in a table of two")
	}
	tb.Sweep(func(func(intern.ID)) {})
	if tb.Full() || tb.Name(tb.ID("c")) != "c" || tb.Len() != 3 {
		t.Fatalf("after the sweep: full %v, c -> %q, len %d", tb.Full(), tb.Name(tb.ID("c")), tb.Len())
	}
}
