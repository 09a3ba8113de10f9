package pairing

import (
	"testing"
	"unsafe"
)

// The store's memory is MaxItems entries plus an index of 8-byte cells
// (at least twice the entries, rounded up to a power of two).
func TestEntrySize(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s > 160 {
		t.Fatalf("entry is %d bytes; the memory figure in flowgraph.StoreConfig assumes <= 160", s)
	}
	t.Logf("entry: %d bytes", unsafe.Sizeof(entry{}))
}
