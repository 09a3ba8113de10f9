// Package parse turns one log line into a logrec.Record: JSON lines, logfmt,
// a regular expression with named groups, or plain text. Configurable field
// names select the timestamp, severity, message, service, trace ID and span
// ID; a W3C traceparent found in the message is extracted. A line that does
// not parse is kept whole as a plain body and marked, never dropped.
package parse

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/flowlens/flowlens/internal/config"
)

// Formats.
const (
	FormatPlain  = "plain"
	FormatJSON   = "json"
	FormatLogfmt = "logfmt"
	FormatRegex  = "regex"
)

// Config selects the format of a source and where its fields are.
type Config struct {
	// Format is plain (default), json, logfmt or regex.
	Format string `yaml:"format"`
	// Regex is a Go regular expression with named groups (format regex).
	// Groups named like a field below fill that field; others become attributes.
	Regex string `yaml:"regex"`
	// Fields lists, per record field, the keys that hold it (first match wins).
	Fields Fields `yaml:"fields"`
	// Traceparent extracts a W3C traceparent (00-<trace>-<span>-<flags>) from
	// the message when no trace ID field was found. Default true.
	Traceparent *bool `yaml:"traceparent"`
}

// Fields names the keys of the well-known fields.
type Fields struct {
	Timestamp []string `yaml:"timestamp"` // default timestamp, time, ts, @timestamp
	Severity  []string `yaml:"severity"`  // default level, severity, lvl, loglevel
	Message   []string `yaml:"message"`   // default message, msg, @message
	Service   []string `yaml:"service"`   // default service, service.name, service_name
	TraceID   []string `yaml:"trace_id"`  // default trace_id, traceId, traceid, trace.id
	SpanID    []string `yaml:"span_id"`   // default span_id, spanId, spanid, span.id
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	if c.Format == "" {
		c.Format = FormatPlain
	}
	f := &c.Fields
	if f.Timestamp == nil {
		f.Timestamp = []string{"timestamp", "time", "ts", "@timestamp"}
	}
	if f.Severity == nil {
		f.Severity = []string{"level", "severity", "lvl", "loglevel"}
	}
	if f.Message == nil {
		f.Message = []string{"message", "msg", "@message"}
	}
	if f.Service == nil {
		f.Service = []string{"service", "service.name", "service_name"}
	}
	if f.TraceID == nil {
		f.TraceID = []string{"trace_id", "traceId", "traceid", "trace.id"}
	}
	if f.SpanID == nil {
		f.SpanID = []string{"span_id", "spanId", "spanid", "span.id"}
	}
	if c.Traceparent == nil {
		t := true
		c.Traceparent = &t
	}
}

// Validate checks the format and the fields, and reports every mistake.
// It compiles the regular expression to check it; New compiles it to use.
func (c *Config) Validate() error {
	var errs []error
	switch c.Format {
	case FormatPlain, FormatJSON, FormatLogfmt:
		if c.Regex != "" {
			errs = append(errs, config.Errorf("regex", "only used with format regex (format is %q)", c.Format))
		}
	case FormatRegex:
		if c.Regex == "" {
			errs = append(errs, config.Errorf("regex", "required with format regex"))
		} else if re, err := regexp.Compile(c.Regex); err != nil {
			errs = append(errs, config.Errorf("regex", "%v", err))
		} else if !slices.ContainsFunc(re.SubexpNames(), func(n string) bool { return n != "" }) {
			errs = append(errs, config.Errorf("regex", "has no named group (?P<name>...)"))
		}
	default:
		errs = append(errs, config.Errorf("format", "%q: want plain, json, logfmt or regex", c.Format))
	}
	seen := map[string]string{}
	for _, f := range []struct {
		name string
		keys []string
	}{
		{"timestamp", c.Fields.Timestamp}, {"severity", c.Fields.Severity}, {"message", c.Fields.Message},
		{"service", c.Fields.Service}, {"trace_id", c.Fields.TraceID}, {"span_id", c.Fields.SpanID},
	} {
		for i, k := range f.keys {
			if k == "" {
				errs = append(errs, config.Errorf(fmt.Sprintf("fields.%s[%d]", f.name, i), "must not be empty"))
				continue
			}
			if other, ok := seen[k]; ok && other != f.name {
				errs = append(errs, config.Errorf(fmt.Sprintf("fields.%s[%d]", f.name, i), "key %q is already used by fields.%s", k, other))
			}
			seen[k] = f.name
		}
	}
	return errors.Join(errs...)
}
