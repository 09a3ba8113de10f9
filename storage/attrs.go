package storage

import (
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Attrs is one Map(LowCardinality(String), String) value as it is sent:
// keys and values as strings in pdata order. A go map here costs a map
// build per span plus a reflective walk at append time: 3x slower for 13
// attributes. The strings are not boxed in interfaces: a []any of them
// doubled the pointers the garbage collector scans in every buffered batch
// (half the collector's CPU was the GC's). clickhouse-go's Map column takes
// it as a column.IterableOrderedMap, which boxes each string as it is
// appended; the native inserter reads the strings directly.
//
// An Attrs is immutable once appended to rows and may be shared by rows
// (all spans of a resource share its resource attributes).
type Attrs struct {
	kv []string // key0, value0, key1, value1, ...
}

// emptyAttrs stands for "no attributes": the Map column needs a non-nil value.
var emptyAttrs = &Attrs{}

// NewAttrs builds Attrs from a Go map (order: map iteration order).
func NewAttrs(m map[string]string) *Attrs {
	if len(m) == 0 {
		return emptyAttrs
	}
	a := &Attrs{kv: make([]string, 0, 2*len(m))}
	for k, v := range m {
		a.kv = append(a.kv, k, v)
	}
	return a
}

// Put appends a key and value (strings; anything else is stored as its
// fmt.Sprint form); it implements column.IterableOrderedMap.
func (a *Attrs) Put(key, value any) { a.kv = append(a.kv, asString(key), asString(value)) }

func asString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// Iterator implements column.IterableOrderedMap.
func (a *Attrs) Iterator() column.MapIterator { return &attrsIter{kv: a.kv, i: -2} }

// Len is the number of attributes.
func (a *Attrs) Len() int { return len(a.kv) / 2 }

// Get returns the value of key.
func (a *Attrs) Get(key string) (string, bool) {
	for i := 0; i+1 < len(a.kv); i += 2 {
		if a.kv[i] == key {
			return a.kv[i+1], true
		}
	}
	return "", false
}

// Map returns the attributes as a Go map.
func (a *Attrs) Map() map[string]string {
	m := make(map[string]string, a.Len())
	for i := 0; i+1 < len(a.kv); i += 2 {
		m[a.kv[i]] = a.kv[i+1]
	}
	return m
}

type attrsIter struct {
	kv []string
	i  int
}

func (it *attrsIter) Next() bool { it.i += 2; return it.i+1 < len(it.kv) }
func (it *attrsIter) Key() any   { return it.kv[it.i] }
func (it *attrsIter) Value() any { return it.kv[it.i+1] }

// attrsOf converts pdata attributes the exporter's way (non-string values as
// AsString: numbers in decimal, maps and slices as JSON). It fails with
// ErrAttributeTooLarge if a key or value exceeds limit bytes.
func attrsOf(attrs pcommon.Map, limit int, keys *keyCache) (*Attrs, error) {
	if attrs.Len() == 0 {
		return emptyAttrs, nil
	}
	a := &Attrs{kv: make([]string, 0, 2*attrs.Len())}
	var err error
	attrs.Range(func(k string, v pcommon.Value) bool {
		s := v.AsString()
		if len(k) > limit || len(s) > limit {
			err = tooLarge(k, max(len(k), len(s)), limit)
			return false
		}
		a.kv = append(a.kv, keys.intern(k), s)
		return true
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// maxCachedKeys bounds a keyCache: attribute keys are few in practice, but a
// client that puts IDs into keys must not grow it without limit.
const maxCachedKeys = 4096

// keyCache keeps one copy of each attribute key: keys repeat on every span,
// so rows share them instead of each holding its own. Cached keys are
// copies, so the cache does not keep the pdata they came from alive.
type keyCache struct {
	m map[string]string
}

func (c *keyCache) intern(k string) string {
	if c == nil {
		return k
	}
	if v, ok := c.m[k]; ok {
		return v
	}
	if c.m == nil {
		c.m = make(map[string]string, 64)
	}
	if len(c.m) >= maxCachedKeys {
		return k
	}
	kc := strings.Clone(k)
	c.m[kc] = kc
	return kc
}
