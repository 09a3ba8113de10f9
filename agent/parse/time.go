package parse

import (
	"strconv"
	"time"
	"unsafe"
)

// parseTime reads the timestamps found in logs: RFC 3339 with a 'T' or a
// space, optional fraction, 'Z' / ±hh:mm / ±hhmm or no zone (UTC); or a
// number of seconds, milliseconds, microseconds or nanoseconds since the
// epoch (told apart by magnitude).
func parseTime(b []byte) (uint64, bool) {
	if ns, ok := parseRFC3339(b); ok {
		return ns, true
	}
	if len(b) > 0 && (b[0] >= '0' && b[0] <= '9') {
		s := unsafe.String(unsafe.SliceData(b), len(b))
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return epochToNanos(float64(n), n), true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return epochToNanos(f, int64(f)), true
		}
	}
	// a last, slower chance for other layouts
	s := unsafe.String(unsafe.SliceData(b), len(b))
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, time.RubyDate, time.UnixDate, time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return uint64(t.UnixNano()), true
		}
	}
	return 0, false
}

// epochToNanos converts an epoch number whose unit is guessed from its size.
func epochToNanos(f float64, n int64) uint64 {
	switch {
	case f <= 0:
		return 0
	case f < 1e11: // seconds (until year 5138)
		return uint64(f * 1e9)
	case f < 1e14: // milliseconds
		return uint64(n) * 1e6
	case f < 1e17: // microseconds
		return uint64(n) * 1e3
	default:
		return uint64(n)
	}
}

func digits(b []byte, n int) (int, bool) {
	if len(b) < n {
		return 0, false
	}
	v := 0
	for _, c := range b[:n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func parseRFC3339(b []byte) (uint64, bool) {
	// 2006-01-02T15:04:05
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	y, ok1 := digits(b, 4)
	mo, ok2 := digits(b[5:], 2)
	d, ok3 := digits(b[8:], 2)
	h, ok4 := digits(b[11:], 2)
	mi, ok5 := digits(b[14:], 2)
	s, ok6 := digits(b[17:], 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return 0, false
	}
	i := 19
	var frac int64
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		i++
		scale := int64(1e8)
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if scale > 0 {
				frac += int64(b[i]-'0') * scale
				scale /= 10
			}
			i++
		}
		if i == start {
			return 0, false
		}
	}
	offset := 0
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			sign := 1
			if b[i] == '-' {
				sign = -1
			}
			i++
			oh, ok := digits(b[i:], 2)
			if !ok {
				return 0, false
			}
			i += 2
			if i < len(b) && b[i] == ':' {
				i++
			}
			om, ok := digits(b[i:], 2)
			if !ok {
				return 0, false
			}
			i += 2
			offset = sign * (oh*3600 + om*60)
		}
	}
	if i != len(b) {
		return 0, false
	}
	days := daysFromCivil(y, mo, d)
	secs := days*86400 + int64(h*3600+mi*60+s) - int64(offset)
	if secs < 0 {
		return 0, false
	}
	return uint64(secs)*1e9 + uint64(frac), true
}

// daysFromCivil returns days since 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
