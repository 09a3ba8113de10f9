package config

import (
	"errors"
	"reflect"
	"strings"
	"time"
)

// Backoff is the one retry shape of every flowlens config: the waits
// between attempts start at Initial and double up to Max.
//
//	retry: {initial: 100ms, max: 5s}
type Backoff struct {
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
}

// SetDefaults fills what is unset.
func (b *Backoff) SetDefaults(initial, max time.Duration) {
	if b.Initial == 0 {
		b.Initial = initial
	}
	if b.Max == 0 {
		b.Max = max
	}
}

// Validate wants 0 < initial <= max.
func (b Backoff) Validate() error {
	var errs []error
	if b.Initial <= 0 {
		errs = append(errs, Errorf("initial", "must be positive"))
	}
	if b.Max < b.Initial {
		errs = append(errs, Errorf("max", "%s is less than initial (%s)", b.Max, b.Initial))
	}
	return errors.Join(errs...)
}

// Next is the wait after prev: Initial after none (0), else twice prev
// up to Max.
func (b Backoff) Next(prev time.Duration) time.Duration {
	if prev <= 0 {
		return b.Initial
	}
	return min(2*prev, b.Max)
}

// Renamer is a config struct some of whose keys were renamed: an old key
// in a file is then an error that names the new one, instead of only
// "unknown key".
type Renamer interface {
	// RenamedKeys maps old keys to what replaces them, both relative to
	// the struct: "http_addr" -> "listen", "enabled" -> "listen: off".
	RenamedKeys() map[string]string
}

// renamedTo says what replaced the key at path (a.b[1].c) in a config of
// type root, if the struct holding it says so.
func renamedTo(root reflect.Type, path string) (string, bool) {
	parent, key := "", path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, key = path[:i], path[i+1:]
	}
	t := typeAt(root, parent)
	if t == nil {
		return "", false
	}
	var r Renamer
	if t.Implements(reflect.TypeFor[Renamer]()) {
		r = reflect.Zero(t).Interface().(Renamer)
	} else if reflect.PointerTo(t).Implements(reflect.TypeFor[Renamer]()) {
		r = reflect.New(t).Interface().(Renamer)
	} else {
		return "", false
	}
	to, ok := r.RenamedKeys()[key]
	if ok && parent != "" {
		to = parent + "." + to
	}
	return to, ok
}

// typeAt follows a YAML path (keys by their yaml tags, inline fields
// looked into, [n] into lists and maps) from t; nil when it leads nowhere.
func typeAt(t reflect.Type, path string) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path == "" || t == nil {
		return t
	}
	seg, rest, _ := strings.Cut(path, ".")
	if i := strings.Index(seg, "["); i >= 0 {
		// key[1][2]: the key, then one element step per index
		key, idx := seg[:i], seg[i:]
		if key != "" {
			t = fieldType(t, key)
		}
		for ; t != nil && strings.HasPrefix(idx, "["); idx = idx[strings.Index(idx, "]")+1:] {
			for t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			switch t.Kind() {
			case reflect.Slice, reflect.Array, reflect.Map:
				t = t.Elem()
			default:
				return nil
			}
		}
		return typeAt(t, rest)
	}
	return typeAt(fieldType(t, seg), rest)
}

// fieldType is the type of t's field whose YAML key is key, looking into
// inline fields.
func fieldType(t reflect.Type, key string) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return nil
	}
	if t.Kind() == reflect.Map {
		return t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(opts, "inline") {
			if ft := fieldType(f.Type, key); ft != nil {
				return ft
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f.Type
		}
	}
	return nil
}
