package parse

import (
	"bytes"
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/internal/severity"
)

// Attribute keys the parser adds to mark what it could not do.
var (
	AttrParseError  = []byte("flowlens.parse_error")  // the format that failed
	AttrInvalidUTF8 = []byte("flowlens.invalid_utf8") // true: bytes were replaced by U+FFFD
)

type fieldKind uint8

const (
	fieldAttr fieldKind = iota
	fieldTime
	fieldSeverity
	fieldMessage
	fieldService
	fieldTraceID
	fieldSpanID
)

// Parser parses lines of one source. It is not safe for concurrent use only
// in the sense that records are not; the Parser itself is read-only.
type Parser struct {
	format      string
	formatBytes []byte
	fields      map[string]fieldKind
	re          *regexp.Regexp
	groups      []group
	traceparent bool
}

type group struct {
	index int
	name  []byte
	kind  fieldKind
}

// New builds a parser; cfg must have been defaulted and validated.
func New(cfg Config) (*Parser, error) {
	p := &Parser{format: cfg.Format, formatBytes: []byte(cfg.Format), fields: map[string]fieldKind{},
		traceparent: cfg.Traceparent == nil || *cfg.Traceparent}
	add := func(keys []string, k fieldKind) {
		for _, s := range keys {
			if _, ok := p.fields[s]; !ok {
				p.fields[s] = k
			}
		}
	}
	add(cfg.Fields.Timestamp, fieldTime)
	add(cfg.Fields.Severity, fieldSeverity)
	add(cfg.Fields.Message, fieldMessage)
	add(cfg.Fields.Service, fieldService)
	add(cfg.Fields.TraceID, fieldTraceID)
	add(cfg.Fields.SpanID, fieldSpanID)
	switch cfg.Format {
	case FormatPlain, FormatJSON, FormatLogfmt:
	case FormatRegex:
		re, err := regexp.Compile(cfg.Regex)
		if err != nil {
			return nil, fmt.Errorf("compile regex: %w", err)
		}
		p.re = re
		for i, n := range re.SubexpNames() {
			if n != "" {
				p.groups = append(p.groups, group{index: i, name: []byte(n), kind: p.fields[n]})
			}
		}
	default:
		return nil, fmt.Errorf("unknown format %q", cfg.Format)
	}
	return p, nil
}

// Parse fills r (which the caller has Reset) from line. It returns false when
// the line did not match the format: r then holds the whole line as a plain
// body with the attribute flowlens.parse_error. r aliases line: line must
// stay unchanged until r has been encoded.
func (p *Parser) Parse(line []byte, r *logrec.Record) bool {
	if !utf8.Valid(line) {
		r.Reserve(4*len(line) + 8)
		start := len(r.Scratch)
		r.Scratch = appendValidUTF8(r.Scratch, line)
		line = r.Scratch[start:]
		r.AddBool(AttrInvalidUTF8, true)
	}
	r.Reserve(len(line))
	nattrs := len(r.Attrs)
	ok := true
	switch p.format {
	case FormatJSON:
		ok = p.parseJSON(line, r)
	case FormatLogfmt:
		ok = p.parseLogfmt(line, r)
	case FormatRegex:
		ok = p.parseRegex(line, r)
	default:
		r.Body = line
	}
	if !ok {
		// keep only the marks added before parsing started
		r.Attrs = r.Attrs[:nattrs]
		r.TimeUnixNano, r.SeverityNumber, r.SeverityText, r.Service = 0, 0, nil, nil
		r.HasTraceID, r.HasSpanID, r.Flags = false, false, 0
		r.Body = line
		r.AddString(AttrParseError, p.formatBytes)
	}
	if p.traceparent && !r.HasTraceID {
		extractTraceparent(r.Body, r)
	}
	return ok
}

// appendValidUTF8 copies s replacing each invalid byte by U+FFFD.
func appendValidUTF8(dst, s []byte) []byte {
	for len(s) > 0 {
		c, size := utf8.DecodeRune(s)
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}

// setField applies a well-known field given as a string value. It returns
// false when the value is not usable for the field (the caller keeps it as an
// attribute instead).
func setField(r *logrec.Record, kind fieldKind, val []byte) bool {
	switch kind {
	case fieldTime:
		ts, ok := parseTime(val)
		if !ok {
			return false
		}
		r.TimeUnixNano = ts
	case fieldSeverity:
		r.SeverityText = val
		r.SeverityNumber = severity.FromText(val)
	case fieldMessage:
		r.Body = val
	case fieldService:
		r.Service = val
	case fieldTraceID:
		if len(val) != 32 || !decodeHex(r.TraceID[:], val) || r.TraceID == ([16]byte{}) {
			r.TraceID = [16]byte{}
			return false
		}
		r.HasTraceID = true
	case fieldSpanID:
		if len(val) != 16 || !decodeHex(r.SpanID[:], val) || r.SpanID == ([8]byte{}) {
			r.SpanID = [8]byte{}
			return false
		}
		r.HasSpanID = true
	default:
		return false
	}
	return true
}

// severityFromNumber maps numeric levels: pino/bunyan (10..60 by tens) and
// OpenTelemetry severity numbers (1..24).
func severityFromNumber(n int64) int32 {
	switch n {
	case 10:
		return severity.Trace
	case 20:
		return severity.Debug
	case 30:
		return severity.Info
	case 40:
		return severity.Warn
	case 50:
		return severity.Error
	case 60:
		return severity.Fatal
	}
	if n >= 1 && n <= 24 {
		return int32(n)
	}
	return 0
}

// hexValue maps a byte to its hex digit value, or to badHex: one load per
// digit instead of three range tests (trace and span IDs are on most lines).
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = badHex
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()

const badHex = 0xff

func unhex(c byte) (byte, bool) {
	v := hexValue[c]
	return v, v != badHex
}

func decodeHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	src = src[:2*len(dst)]
	for i := range dst {
		hi, lo := hexValue[src[2*i]], hexValue[src[2*i+1]]
		if (hi|lo)&0xf0 != 0 { // badHex in either
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

var traceparentVersion = []byte("00-")

// extractTraceparent looks for 00-<32 hex>-<16 hex>-<2 hex> in s.
func extractTraceparent(s []byte, r *logrec.Record) {
	const n = 55 // 2+1+32+1+16+1+2
	off := 0
	for {
		i := bytes.Index(s[off:], traceparentVersion)
		if i < 0 {
			return
		}
		i += off
		if len(s)-i < n {
			return
		}
		c := s[i : i+n]
		var tid [16]byte
		var sid [8]byte
		var fl [1]byte
		if c[35] == '-' && c[52] == '-' &&
			(i == 0 || !isHexOrWord(s[i-1])) && (len(s) == i+n || !isHexOrWord(s[i+n])) &&
			decodeHex(tid[:], c[3:35]) && decodeHex(sid[:], c[36:52]) && decodeHex(fl[:], c[53:55]) &&
			tid != [16]byte{} && sid != [8]byte{} {
			r.TraceID, r.HasTraceID = tid, true
			if !r.HasSpanID {
				r.SpanID, r.HasSpanID = sid, true
			}
			r.Flags = uint32(fl[0])
			return
		}
		off = i + 1
	}
}

func isHexOrWord(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}
