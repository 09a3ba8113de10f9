// Package intern maps the strings of the flow graph (service names, peer
// names, destinations) to small integer IDs, so the pairing hot path hashes
// and stores uint32s instead of strings.
//
// A Table is not safe for concurrent use: each pairing shard owns one.
package intern

import "strings"

// ID identifies an interned string inside one Table. ID 0 is always "".
type ID uint32

// None is the ID of the empty string: "attribute absent".
const None ID = 0

// Overflow is the name returned for every new string once a Table is full.
const Overflow = "__overflow__"

// Table interns strings up to a maximum count. Beyond it, new strings map to
// the Overflow name (counted), so a high-cardinality attribute such as a
// client IP in server.address cannot grow memory without bound.
type Table struct {
	ids      map[string]ID
	names    []string
	max      int
	overflow ID
	// Overflowed counts lookups that were mapped to Overflow.
	Overflowed uint64
}

// NewTable returns a table holding at most max distinct strings (max <= 0: 1<<20).
func NewTable(max int) *Table {
	if max <= 0 {
		max = 1 << 20
	}
	t := &Table{ids: make(map[string]ID, 256), names: make([]string, 1, 256), max: max}
	t.ids[""] = None
	t.overflow = t.add(Overflow)
	return t
}

func (t *Table) add(s string) ID {
	id := ID(len(t.names))
	s = strings.Clone(s) // the caller's string may point into a reused decode buffer
	t.names = append(t.names, s)
	t.ids[s] = id
	return id
}

// ID returns the ID of s, interning it when new. It does not allocate when s
// is already known.
func (t *Table) ID(s string) ID {
	if id, ok := t.ids[s]; ok {
		return id
	}
	if len(t.names) >= t.max {
		t.Overflowed++
		return t.overflow
	}
	return t.add(s)
}

// IDBytes is ID for a byte slice; it does not allocate when b is known.
func (t *Table) IDBytes(b []byte) ID {
	if id, ok := t.ids[string(b)]; ok {
		return id
	}
	return t.ID(string(b))
}

// Lookup returns the ID of s without interning it.
func (t *Table) Lookup(s string) (ID, bool) {
	id, ok := t.ids[s]
	return id, ok
}

// Name returns the string of id ("" for an unknown ID).
func (t *Table) Name(id ID) string {
	if int(id) < len(t.names) {
		return t.names[id]
	}
	return ""
}

// Len is the number of interned strings, "" and Overflow included.
func (t *Table) Len() int { return len(t.names) }
