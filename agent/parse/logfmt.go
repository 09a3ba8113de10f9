package parse

import (
	"unsafe"

	"github.com/flowlens/flowlens/agent/logrec"
)

// parseLogfmt reads key=value pairs separated by spaces; values may be
// double-quoted with backslash escapes. A bare key means true. A line with
// no key=value pair at all is not logfmt.
func (p *Parser) parseLogfmt(line []byte, r *logrec.Record) bool {
	pairs := 0
	hasMsg := false
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			break
		}
		ks := i
		for i < len(line) && line[i] != '=' && line[i] != ' ' && line[i] != '\t' {
			if line[i] == '"' {
				return false
			}
			i++
		}
		key := line[ks:i]
		if i >= len(line) || line[i] != '=' {
			r.AddBool(key, true)
			continue
		}
		if len(key) == 0 {
			return false
		}
		i++ // '='
		var val []byte
		if i < len(line) && line[i] == '"' {
			v, next, ok := logfmtQuoted(line, i, r)
			if !ok {
				return false
			}
			val, i = v, next
			if i < len(line) && line[i] != ' ' && line[i] != '\t' {
				return false
			}
		} else {
			vs := i
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				i++
			}
			val = line[vs:i]
		}
		pairs++
		kind := p.fields[unsafe.String(unsafe.SliceData(key), len(key))]
		if kind == fieldMessage {
			hasMsg = true
		}
		if kind == fieldSeverity {
			if n, ok := smallInt(val); ok {
				r.SeverityText = val
				r.SeverityNumber = severityFromNumber(n)
				continue
			}
		}
		if kind == fieldAttr || !setField(r, kind, val) {
			r.AddString(key, val)
		}
	}
	if pairs == 0 {
		return false
	}
	if !hasMsg {
		r.Body = line
	}
	return true
}

func smallInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 3 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// logfmtQuoted reads "..." at b[i]; escapes are unescaped into r.Scratch.
func logfmtQuoted(b []byte, i int, r *logrec.Record) ([]byte, int, bool) {
	start := i + 1
	j := start
	for j < len(b) && b[j] != '"' && b[j] != '\\' {
		j++
	}
	if j < len(b) && b[j] == '"' {
		return b[start:j], j + 1, true
	}
	out := len(r.Scratch)
	r.Scratch = append(r.Scratch, b[start:j]...)
	for j < len(b) {
		c := b[j]
		switch c {
		case '"':
			return r.Scratch[out:len(r.Scratch):len(r.Scratch)], j + 1, true
		case '\\':
			if j+1 >= len(b) {
				return nil, 0, false
			}
			e := b[j+1]
			switch e {
			case 'n':
				e = '\n'
			case 't':
				e = '\t'
			case 'r':
				e = '\r'
			}
			r.Scratch = append(r.Scratch, e)
			j += 2
		default:
			r.Scratch = append(r.Scratch, c)
			j++
		}
	}
	return nil, 0, false
}

// parseRegex matches the whole configured expression; named groups fill the
// fields they are named after, the others become attributes.
func (p *Parser) parseRegex(line []byte, r *logrec.Record) bool {
	m := p.re.FindSubmatchIndex(line)
	if m == nil {
		return false
	}
	hasMsg := false
	for _, g := range p.groups {
		s, e := m[2*g.index], m[2*g.index+1]
		if s < 0 {
			continue
		}
		val := line[s:e]
		if g.kind == fieldMessage {
			hasMsg = true
		}
		if g.kind == fieldAttr || !setField(r, g.kind, val) {
			r.AddString(g.name, val)
		}
	}
	if !hasMsg {
		r.Body = line
	}
	return true
}
