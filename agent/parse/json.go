package parse

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/flowlens/flowlens/agent/logrec"
)

// parseJSON scans one JSON object by hand: top-level keys only, strings
// unescaped into r.Scratch only when they contain escapes, nested objects
// and arrays kept as their JSON text. It allocates nothing per line.
func (p *Parser) parseJSON(line []byte, r *logrec.Record) bool {
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i = skipWS(line, i+1)
	if i < len(line) && line[i] == '}' {
		i++
		return skipWS(line, i) == len(line) && p.finishJSON(line, r, false)
	}
	hasMsg := false
	for {
		if i >= len(line) || line[i] != '"' {
			return false
		}
		key, next, ok := jsonString(line, i, r)
		if !ok {
			return false
		}
		i = skipWS(line, next)
		if i >= len(line) || line[i] != ':' {
			return false
		}
		i = skipWS(line, i+1)
		if i >= len(line) {
			return false
		}
		kind := p.fields[unsafe.String(unsafe.SliceData(key), len(key))]
		switch c := line[i]; {
		case c == '"':
			val, next, ok := jsonString(line, i, r)
			if !ok {
				return false
			}
			i = next
			if kind == fieldMessage {
				hasMsg = true
			}
			if kind == fieldAttr || !setField(r, kind, val) {
				r.AddString(key, val)
			}
		case c == '{' || c == '[':
			end, ok := skipComposite(line, i)
			if !ok || !json.Valid(line[i:end]) {
				return false
			}
			r.AddString(key, line[i:end])
			i = end
		case c == 't' || c == 'f' || c == 'n':
			switch {
			case bytes.HasPrefix(line[i:], []byte("true")):
				r.AddBool(key, true)
				i += 4
			case bytes.HasPrefix(line[i:], []byte("false")):
				r.AddBool(key, false)
				i += 5
			case bytes.HasPrefix(line[i:], []byte("null")):
				i += 4
			default:
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			isInt := true
			for j < len(line) {
				d := line[j]
				if d >= '0' && d <= '9' {
					j++
					continue
				}
				if d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-' {
					isInt = false
					j++
					continue
				}
				break
			}
			num := line[i:j]
			i = j
			if !p.setNumber(r, kind, key, num, isInt) {
				return false
			}
		default:
			return false
		}
		i = skipWS(line, i)
		if i >= len(line) {
			return false
		}
		if line[i] == ',' {
			i = skipWS(line, i+1)
			continue
		}
		if line[i] == '}' {
			i++
			break
		}
		return false
	}
	if skipWS(line, i) != len(line) {
		return false
	}
	return p.finishJSON(line, r, hasMsg)
}

func (p *Parser) finishJSON(line []byte, r *logrec.Record, hasMsg bool) bool {
	if !hasMsg {
		// no message field: the body is the line itself, so nothing is lost
		r.Body = line
	}
	return true
}

func (p *Parser) setNumber(r *logrec.Record, kind fieldKind, key, num []byte, isInt bool) bool {
	s := unsafe.String(unsafe.SliceData(num), len(num))
	if isInt {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			switch kind {
			case fieldTime:
				r.TimeUnixNano = epochToNanos(float64(n), n)
				return true
			case fieldSeverity:
				r.SeverityText = num
				r.SeverityNumber = severityFromNumber(n)
				return true
			case fieldMessage:
				r.Body = num
				return true
			}
			r.AddInt(key, n)
			return true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// out of range integers and odd spellings stay as text
		if len(num) == 0 || num[len(num)-1] < '0' || num[len(num)-1] > '9' {
			return false
		}
		r.AddString(key, num)
		return true
	}
	switch kind {
	case fieldTime:
		r.TimeUnixNano = epochToNanos(f, int64(f))
		return true
	case fieldMessage:
		r.Body = num
		return true
	}
	r.AddDouble(key, f)
	return true
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonString reads the string starting at b[i] == '"'. Without escapes the
// result aliases b; with escapes it is unescaped into r.Scratch (reserved by
// the caller, so it never reallocates).
func jsonString(b []byte, i int, r *logrec.Record) ([]byte, int, bool) {
	start := i + 1
	q := bytes.IndexByte(b[start:], '"')
	if q < 0 {
		return nil, 0, false
	}
	seg := b[start : start+q]
	if bytes.IndexByte(seg, '\\') < 0 {
		return seg, start + q + 1, true
	}
	// slow path: unescape
	out := len(r.Scratch)
	j := start
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return r.Scratch[out:len(r.Scratch):len(r.Scratch)], j + 1, true
		case c == '\\':
			if j+1 >= len(b) {
				return nil, 0, false
			}
			e := b[j+1]
			j += 2
			switch e {
			case '"', '\\', '/':
				r.Scratch = append(r.Scratch, e)
			case 'b':
				r.Scratch = append(r.Scratch, '\b')
			case 'f':
				r.Scratch = append(r.Scratch, '\f')
			case 'n':
				r.Scratch = append(r.Scratch, '\n')
			case 'r':
				r.Scratch = append(r.Scratch, '\r')
			case 't':
				r.Scratch = append(r.Scratch, '\t')
			case 'u':
				rn, ok := hex4(b, j)
				if !ok {
					return nil, 0, false
				}
				j += 4
				if utf16.IsSurrogate(rn) {
					if j+6 <= len(b) && b[j] == '\\' && b[j+1] == 'u' {
						if rn2, ok := hex4(b, j+2); ok {
							if d := utf16.DecodeRune(rn, rn2); d != utf8.RuneError {
								rn = d
								j += 6
							} else {
								rn = utf8.RuneError
							}
						}
					} else {
						rn = utf8.RuneError
					}
				}
				// \u escapes expand to at most 3 bytes for 6 input bytes, so the
				// reservation of len(line) still holds.
				r.Scratch = utf8.AppendRune(r.Scratch, rn)
			default:
				return nil, 0, false
			}
		default:
			r.Scratch = append(r.Scratch, c)
			j++
		}
	}
	return nil, 0, false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var v rune
	for _, c := range b[i : i+4] {
		h, ok := unhex(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | rune(h)
	}
	return v, true
}

// skipComposite returns the index after the object or array at b[i].
func skipComposite(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				return 0, false
			}
		}
		i++
	}
	return 0, false
}
