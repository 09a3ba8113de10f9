// Package intern maps the strings of the flow graph (service names, peer
// names, destinations) to small integer IDs, so the pairing hot path hashes
// and stores uint32s instead of strings.
//
// A Table is shared by every shard of an analyzer, so IDs mean the same
// everywhere (a span extracted by one shard can be paired in another); it is
// safe for concurrent use. Hot paths look names up through a Cache, an
// unsynchronised per-goroutine front that only takes the table's lock for a
// name it has not seen yet.
package intern

import (
	"strings"
	"sync"
	"sync/atomic"
)

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
	mu       sync.RWMutex
	ids      map[string]ID
	names    []string
	max      int
	overflow ID
	over     atomic.Uint64
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

// add interns s; the caller holds the write lock.
func (t *Table) add(s string) ID {
	id := ID(len(t.names))
	s = strings.Clone(s) // the caller's string may point into a reused decode buffer
	t.names = append(t.names, s)
	t.ids[s] = id
	return id
}

// ID returns the ID of s, interning it when new.
func (t *Table) ID(s string) ID {
	t.mu.RLock()
	id, ok := t.ids[s]
	t.mu.RUnlock()
	if ok {
		return id
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[s]; ok {
		return id
	}
	if len(t.names) >= t.max {
		t.over.Add(1)
		return t.overflow
	}
	return t.add(s)
}

// Name returns the string of id ("" for an unknown ID).
func (t *Table) Name(id ID) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if int(id) < len(t.names) {
		return t.names[id]
	}
	return ""
}

// Len is the number of interned strings, "" and Overflow included.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.names)
}

// Overflowed counts lookups that were mapped to Overflow.
func (t *Table) Overflowed() uint64 { return t.over.Load() }

// Cache is a per-goroutine front of a Table: lookups of known names take no
// lock and do not allocate. Not safe for concurrent use.
type Cache struct {
	t   *Table
	ids map[string]ID
}

// NewCache returns an empty cache over t.
func NewCache(t *Table) *Cache { return &Cache{t: t, ids: make(map[string]ID, 256)} }

// Table is the shared table behind the cache.
func (c *Cache) Table() *Table { return c.t }

// ID returns the ID of s, interning it when new.
func (c *Cache) ID(s string) ID {
	if id, ok := c.ids[s]; ok {
		return id
	}
	return c.miss(s)
}

// IDBytes is ID for a byte slice; it does not allocate when b is cached.
func (c *Cache) IDBytes(b []byte) ID {
	if id, ok := c.ids[string(b)]; ok {
		return id
	}
	return c.miss(string(b))
}

func (c *Cache) miss(s string) ID {
	id := c.t.ID(s)
	if id != c.t.overflow || s == Overflow {
		c.ids[c.t.Name(id)] = id // the table's own copy of the string
	}
	return id
}
