package container

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeDockerFast reads the line Docker's json-file driver writes,
// `{"log":"...","stream":"stdout","time":"..."}` in that order, without
// encoding/json (which costs about 4 µs a line). ok is false for
// anything else (other keys, other order, odd escapes): the caller then
// decodes it with encoding/json.
func (d *Decoder) decodeDockerFast(line []byte) (log []byte, stream string, ts []byte, ok bool) {
	rest, found := bytes.CutPrefix(line, []byte(`{"log":"`))
	if !found {
		return nil, "", nil, false
	}
	d.buf = d.buf[:0]
	var i int
	d.buf, i, ok = unquote(d.buf, rest)
	if !ok {
		return nil, "", nil, false
	}
	rest = rest[i:]
	switch {
	case bytes.HasPrefix(rest, []byte(`,"stream":"stdout","time":"`)):
		stream, rest = "stdout", rest[len(`,"stream":"stdout","time":"`):]
	case bytes.HasPrefix(rest, []byte(`,"stream":"stderr","time":"`)):
		stream, rest = "stderr", rest[len(`,"stream":"stderr","time":"`):]
	default:
		return nil, "", nil, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || !bytes.Equal(rest[end:], []byte(`"}`)) || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil, "", nil, false
	}
	return d.buf, stream, rest[:end], true
}

// unquote appends the JSON string that s starts with (after its opening
// quote) to dst, unescaped; n is the length read including the closing
// quote. ok is false on anything encoding/json would read differently
// (control characters, invalid UTF-8, bad escapes), left to it.
func unquote(dst, s []byte) (_ []byte, n int, ok bool) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			return dst, i + 1, true
		case c == '\\':
			if i+1 >= len(s) {
				return dst, 0, false
			}
			switch s[i+1] {
			case '"', '\\', '/':
				dst = append(dst, s[i+1])
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := hex4(s[i+2:])
				if !ok {
					return dst, 0, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// a pair, else encoding/json's U+FFFD
					if r2, ok := hex4(s[min(i+2, len(s)):]); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					return dst, 0, false
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default:
				return dst, 0, false
			}
			i += 2
		case c < 0x20:
			return dst, 0, false
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				return dst, 0, false
			}
			dst = append(dst, s[i:i+size]...)
			i += size
		}
	}
	return dst, 0, false
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s[:4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}
