// Package config loads a component's typed YAML configuration.
//
// Every component has one Config struct with defaults and a Validate method;
// Load fills defaults, decodes YAML strictly (an unknown key is an error that
// names it), then validates. Validation errors name the offending field by its
// YAML path, e.g. `kafka.brokers[1]: must be host:port`.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Validator is implemented by configuration structs.
type Validator interface {
	Validate() error
}

// Defaulter is implemented by configuration structs that fill their own defaults
// before decoding, so that keys absent from the file keep them.
type Defaulter interface {
	SetDefaults()
}

// Load reads path into cfg: defaults first, then the file, then validation.
// An empty path validates the defaults alone.
func Load(path string, cfg any) error {
	if d, ok := cfg.(Defaulter); ok {
		d.SetDefaults()
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		if err := Decode(data, cfg); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			if path == "" {
				return fmt.Errorf("config: %w", err)
			}
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	return nil
}

// Decode decodes YAML into cfg, rejecting unknown fields. It does not apply
// defaults or validate. Unknown keys and values of the wrong type are
// FieldErrors named by their YAML path (`kafka.compresion: unknown key`),
// not by the Go type that lacks them.
func Decode(data []byte, cfg any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file keeps the defaults
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var root yaml.Node
			if yaml.Unmarshal(data, &root) == nil {
				return locate(te, &root, reflect.TypeOf(cfg))
			}
		}
		return fmt.Errorf("parse: %w", err)
	}
	return nil
}

var (
	// yaml.v3's messages: "line 3: field compresion not found in type forward.Config",
	// "line 4: cannot unmarshal !!str `abc` into int".
	unknownFieldRe = regexp.MustCompile(`^line (\d+): field (\S+) not found in type `)
	lineRe         = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// locate turns the decoder's errors into FieldErrors named by the YAML
// path they are about, found in the document by line (and by the key's name
// or the value's text). A message it cannot place is kept as it is.
func locate(te *yaml.TypeError, root *yaml.Node, cfg reflect.Type) error {
	nodes := pathNodes(root)
	var errs []error
	for _, msg := range te.Errors {
		if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			if n := find(nodes, func(n pathNode) bool { return n.key && n.line == line && n.text == m[2] }); n != nil {
				reason := fmt.Sprintf("unknown key (line %d)", line)
				if to, ok := renamedTo(cfg, n.path); ok {
					reason += "; it is " + to + " now"
				}
				errs = append(errs, &FieldError{Field: n.path, Reason: reason})
				continue
			}
		} else if m := lineRe.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			val := ""
			if v := valueRe.FindStringSubmatch(m[2]); v != nil {
				val = v[1]
			}
			n := find(nodes, func(n pathNode) bool { return !n.key && n.line == line && (val == "" || n.text == val) })
			if n == nil {
				n = find(nodes, func(n pathNode) bool { return !n.key && n.line == line })
			}
			if n != nil {
				errs = append(errs, &FieldError{Field: n.path, Reason: fmt.Sprintf("%s (line %d)", m[2], line)})
				continue
			}
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

// valueRe finds the value quoted in "cannot unmarshal !!str `abc` into int".
var valueRe = regexp.MustCompile("`([^`]*)`")

// pathNode is a mapping key, or a value (of a key or a list item), with its
// YAML path.
type pathNode struct {
	path string
	key  bool   // a mapping key; else a value
	text string // the key's name, or a scalar value's text
	line int
}

// pathNodes lists the keys and values of the document in document order.
func pathNodes(root *yaml.Node) []pathNode {
	var out []pathNode
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
			return
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := path // a merge key (<<) adds its map's keys here
				if k.Value != "<<" {
					p = joinPath(path, k.Value)
				}
				out = append(out, pathNode{path: p, key: true, text: k.Value, line: k.Line})
				walk(v, p)
			}
		}
		out = append(out, pathNode{path: path, text: n.Value, line: n.Line})
	}
	walk(root, "")
	return out
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func find(nodes []pathNode, match func(pathNode) bool) *pathNode {
	for i := range nodes {
		if match(nodes[i]) {
			return &nodes[i]
		}
	}
	return nil
}

// FieldError says which field is wrong and why.
type FieldError struct {
	Field  string // YAML path, e.g. "kafka.brokers[0]"
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Errorf returns a *FieldError for field.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Nest prefixes the field of every FieldError in err with parent, so a
// sub-struct's Validate can name fields relative to itself.
func Nest(parent string, err error) error {
	if err == nil {
		return nil
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, Nest(parent, e))
		}
		return errors.Join(out...)
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		f := parent
		if fe.Field != "" {
			if strings.HasPrefix(fe.Field, "[") {
				f += fe.Field
			} else {
				f += "." + fe.Field
			}
		}
		return &FieldError{Field: f, Reason: fe.Reason}
	}
	return fmt.Errorf("%s: %w", parent, err)
}
