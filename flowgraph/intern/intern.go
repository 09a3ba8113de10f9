// Package intern maps the strings of the flow graph (service names, peer
// names, destinations) to small integer IDs, so the pairing hot path hashes
// and stores uint32s instead of strings.
//
// A Table is shared by every shard of an analyzer, so IDs mean the same
// everywhere (a span extracted by one shard can be paired in another); it is
// safe for concurrent use. Hot paths look names up through a Cache, an
// unsynchronised per-goroutine front that only takes the table's lock for a
// name it has not seen yet.
//
// Names come from spans, so from anyone who can send one: a name is cut at
// MaxNameBytes, and names nothing refers to any more are removed by Sweep,
// whose caller says which IDs are still in use. A removed name's ID is
// given to the next new name, so Sweep must run while no ID of a removed
// name is held anywhere (the analyzer holds every shard's lock).
package intern

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// ID identifies an interned string inside one Table. ID 0 is always "".
type ID uint32

// None is the ID of the empty string: "attribute absent".
const None ID = 0

// Overflow is the name returned for every new string once a Table is full.
const Overflow = "__overflow__"

// DefaultMaxNameBytes is the longest name kept whole: longer than any DNS
// name (253), so only what cannot be a service or host name is cut.
const DefaultMaxNameBytes = 256

// Table interns strings up to a maximum count. Beyond it, new strings map to
// the Overflow name (counted), so a high-cardinality attribute such as a
// client IP in server.address cannot grow memory without bound.
type Table struct {
	mu       sync.RWMutex
	ids      map[string]ID
	names    []string // by ID; "" at a free ID
	free     []ID     // IDs of removed names, given out again
	max      int
	maxBytes int
	overflow ID
	// epoch changes at every Sweep that removed names: Caches drop what
	// they hold then.
	epoch atomic.Uint64
	// full is set when a name was refused for lack of room: a Sweep is due.
	full                     atomic.Bool
	over, truncated, evicted atomic.Uint64
}

// NewTable returns a table holding at most max distinct strings (max <= 0:
// 1<<20) of at most DefaultMaxNameBytes each.
func NewTable(max int) *Table { return NewTableLimits(max, 0) }

// NewTableLimits returns a table holding at most max distinct strings (max
// <= 0: 1<<20), each cut at maxBytes (<= 0: DefaultMaxNameBytes).
func NewTableLimits(max, maxBytes int) *Table {
	if max <= 0 {
		max = 1 << 20
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxNameBytes
	}
	t := &Table{ids: make(map[string]ID, 256), names: make([]string, 1, 256), max: max, maxBytes: maxBytes}
	t.ids[""] = None
	t.overflow = t.add(Overflow)
	return t
}

// add interns s; the caller holds the write lock.
func (t *Table) add(s string) ID {
	s = strings.Clone(s) // the caller's string may point into a reused decode buffer
	var id ID
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.names[id] = s
	} else {
		id = ID(len(t.names))
		t.names = append(t.names, s)
	}
	t.ids[s] = id
	return id
}

// ID returns the ID of s, interning it when new. A name longer than the
// table's limit is cut (at a character boundary) and counted.
func (t *Table) ID(s string) ID {
	if len(s) > t.maxBytes {
		s = cut(s, t.maxBytes)
		t.truncated.Add(1)
	}
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
	if len(t.ids) >= t.max {
		t.over.Add(1)
		t.full.Store(true)
		return t.overflow
	}
	return t.add(s)
}

// cut returns s's first n bytes or fewer, ending at a character boundary.
func cut(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Sweep removes every name whose ID inUse does not mark ("" and Overflow
// stay), and returns how many it removed. inUse calls mark for each ID
// still referred to. No ID of a removed name may be held anywhere when
// Sweep runs: the ID is given to another name after it.
func (t *Table) Sweep(inUse func(mark func(ID))) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.full.Store(false)
	keep := make([]bool, len(t.names))
	keep[None], keep[t.overflow] = true, true
	inUse(func(id ID) {
		if int(id) < len(keep) {
			keep[id] = true
		}
	})
	removed := 0
	for id, name := range t.names {
		if keep[id] || (name == "" && id != int(None)) {
			continue // in use, or already free
		}
		delete(t.ids, name)
		t.names[id] = ""
		t.free = append(t.free, ID(id))
		removed++
	}
	if removed > 0 {
		t.evicted.Add(uint64(removed))
		t.epoch.Add(1)
	}
	return removed
}

// Full says whether a name was refused for lack of room since the last Sweep.
func (t *Table) Full() bool { return t.full.Load() }

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
	return len(t.ids)
}

// Overflowed counts lookups that were mapped to Overflow.
func (t *Table) Overflowed() uint64 { return t.over.Load() }

// Truncated counts lookups of names longer than the limit, which were cut.
func (t *Table) Truncated() uint64 { return t.truncated.Load() }

// Evicted counts the names Sweep removed.
func (t *Table) Evicted() uint64 { return t.evicted.Load() }

// Cache is a per-goroutine front of a Table: lookups of known names take no
// lock and do not allocate. Not safe for concurrent use.
type Cache struct {
	t     *Table
	ids   map[string]ID
	epoch uint64 // the table's epoch that ids belong to
}

// NewCache returns an empty cache over t.
func NewCache(t *Table) *Cache {
	return &Cache{t: t, ids: make(map[string]ID, 256), epoch: t.epoch.Load()}
}

// Table is the shared table behind the cache.
func (c *Cache) Table() *Table { return c.t }

// ID returns the ID of s, interning it when new.
func (c *Cache) ID(s string) ID {
	c.check()
	if id, ok := c.ids[s]; ok {
		return id
	}
	return c.miss(s)
}

// IDBytes is ID for a byte slice; it does not allocate when b is cached.
func (c *Cache) IDBytes(b []byte) ID {
	c.check()
	if id, ok := c.ids[string(b)]; ok {
		return id
	}
	return c.miss(string(b))
}

// check forgets the cached IDs after a Sweep gave some of them to other names.
func (c *Cache) check() {
	if e := c.t.epoch.Load(); e != c.epoch {
		clear(c.ids)
		c.epoch = e
	}
}

func (c *Cache) miss(s string) ID {
	id := c.t.ID(s)
	if id != c.t.overflow || s == Overflow {
		c.ids[c.t.Name(id)] = id // the table's own copy of the string
	}
	return id
}
