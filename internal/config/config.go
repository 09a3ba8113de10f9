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
// defaults or validate.
func Decode(data []byte, cfg any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file keeps the defaults
		}
		return fmt.Errorf("parse: %w", err)
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
