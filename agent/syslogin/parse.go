package syslogin

import (
	"bytes"
	"sort"
	"time"
	"unicode/utf8"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/internal/severity"
)

// Message formats.
const (
	FormatAuto    = "auto"
	FormatRFC5424 = "rfc5424"
	FormatRFC3164 = "rfc3164"
)

// Attribute keys of syslog records.
var (
	keyHostname    = []byte("syslog.hostname")
	keyAppname     = []byte("syslog.appname")
	keyProcID      = []byte("syslog.procid")
	keyMsgID       = []byte("syslog.msgid")
	keyFacility    = []byte("syslog.facility")
	keyVersion     = []byte("syslog.version")
	keyParseError  = []byte("flowlens.parse_error")
	keyInvalidUTF8 = []byte("flowlens.invalid_utf8")
	valSyslog      = []byte("syslog")
)

// Parser parses syslog messages into log records with leodido/go-syslog's
// RFC 5424 and RFC 3164 machines (best effort: what parsed up to an
// error is kept). One Parser per goroutine.
type Parser struct {
	format  string
	rfc5424 syslog.Machine
	rfc3164 syslog.Machine
	keys    []string
	now     func() time.Time
}

// NewParser parses format (auto tells the two apart per message: RFC 5424
// has a version after the priority, `<34>1 ...`). RFC 3164 timestamps,
// which have no year or zone, are read in loc and the year of now (nil:
// time.Now); one more than a day ahead of now is taken as last year's (a
// December message read in January).
func NewParser(format string, loc *time.Location, now func() time.Time) *Parser {
	if now == nil {
		now = time.Now
	}
	return &Parser{
		format:  format,
		now:     now,
		rfc5424: rfc5424.NewParser(rfc5424.WithBestEffort()),
		rfc3164: rfc3164.NewParser(rfc3164.WithBestEffort(), rfc3164.WithYear(yearOf{now, loc}), rfc3164.WithLocaleTimezone(loc)),
	}
}

// yearOf is the year of now in loc.
type yearOf struct {
	now func() time.Time
	loc *time.Location
}

func (y yearOf) Apply() int { return y.now().In(y.loc).Year() }

// isRFC5424 reports whether msg starts `<PRI>VERSION ` (a digit after
// the priority).
func isRFC5424(msg []byte) bool {
	i := bytes.IndexByte(msg, '>')
	return i > 0 && i <= 4 && msg[0] == '<' && i+2 < len(msg) && msg[i+1] >= '1' && msg[i+1] <= '9' && msg[i+2] == ' '
}

// Parse fills r (reset by the caller) from msg. A message that does not
// parse is kept whole as the body, marked flowlens.parse_error=syslog;
// Parse then returns false.
func (p *Parser) Parse(msg []byte, r *logrec.Record) bool {
	m := p.rfc3164
	if p.format == FormatRFC5424 || (p.format == FormatAuto && isRFC5424(msg)) {
		m = p.rfc5424
	}
	parsed, err := m.Parse(msg)
	// the strings are copied into Scratch, which must not grow while
	// earlier ones point into it: reserve for all of them at once (3x:
	// each invalid byte may become a 3-byte U+FFFD)
	r.Reserve(3 * (len(msg) + sdKeysSize(parsed)))
	if parsed == nil {
		r.Body = p.str(r, msg)
		r.AddString(keyParseError, valSyslog)
		return false
	}
	var base *syslog.Base
	var sd *map[string]map[string]string
	rfc3164Stamp := false
	switch v := parsed.(type) {
	case *rfc5424.SyslogMessage:
		base, sd = &v.Base, v.StructuredData
		if v.Version != 0 {
			r.AddInt(keyVersion, int64(v.Version))
		}
	case *rfc3164.SyslogMessage:
		base = &v.Base
		rfc3164Stamp = true
	default:
		r.Body = p.str(r, msg)
		r.AddString(keyParseError, valSyslog)
		return false
	}
	if base.Timestamp != nil {
		ts := *base.Timestamp
		if rfc3164Stamp && ts.Sub(p.now()) > 24*time.Hour {
			ts = ts.AddDate(-1, 0, 0)
		}
		r.TimeUnixNano = uint64(ts.UnixNano())
	}
	if base.Severity != nil {
		if n, _, ok := severity.FromSyslog(int(*base.Severity)); ok {
			r.SeverityNumber, r.SeverityText = n, syslogNames[*base.Severity]
		}
	}
	if base.Facility != nil {
		r.AddInt(keyFacility, int64(*base.Facility))
	}
	if base.Message != nil {
		r.Body = p.strS(r, *base.Message)
	}
	if base.Hostname != nil {
		r.AddString(keyHostname, p.strS(r, *base.Hostname))
	}
	if base.Appname != nil {
		app := p.strS(r, *base.Appname)
		r.AddString(keyAppname, app)
		r.Service = app
	}
	if base.ProcID != nil {
		r.AddString(keyProcID, p.strS(r, *base.ProcID))
	}
	if base.MsgID != nil {
		r.AddString(keyMsgID, p.strS(r, *base.MsgID))
	}
	if sd != nil {
		// syslog.sd.<id>.<param>, in a stable order
		p.keys = p.keys[:0]
		for id := range *sd {
			p.keys = append(p.keys, id)
		}
		sort.Strings(p.keys)
		for _, id := range p.keys {
			params := (*sd)[id]
			names := make([]string, 0, len(params))
			for n := range params {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				k := p.strS(r, "syslog.sd."+id+"."+n)
				r.AddString(k, p.strS(r, params[n]))
			}
		}
	}
	if err != nil && len(r.Body) == 0 {
		// best effort stopped early: keep the message itself
		r.Body = p.str(r, msg)
		r.AddString(keyParseError, valSyslog)
		return false
	}
	return true
}

var syslogNames = func() (n [8][]byte) {
	for i := range n {
		n[i] = []byte(severity.SyslogNames[i])
	}
	return n
}()

// str copies b into r's scratch as valid UTF-8.
func (p *Parser) str(r *logrec.Record, b []byte) []byte {
	start := len(r.Scratch)
	if utf8.Valid(b) {
		r.Scratch = append(r.Scratch, b...)
	} else {
		r.Scratch = append(r.Scratch, bytes.ToValidUTF8(b, []byte("\uFFFD"))...)
		r.AddBool(keyInvalidUTF8, true)
	}
	return r.Scratch[start:len(r.Scratch):len(r.Scratch)]
}

func (p *Parser) strS(r *logrec.Record, s string) []byte {
	start := len(r.Scratch)
	if utf8.ValidString(s) {
		r.Scratch = append(r.Scratch, s...)
	} else {
		r.Scratch = append(r.Scratch, bytes.ToValidUTF8([]byte(s), []byte("\uFFFD"))...)
		r.AddBool(keyInvalidUTF8, true)
	}
	return r.Scratch[start:len(r.Scratch):len(r.Scratch)]
}

// sdKeysSize is the size of the syslog.sd.<id>.<param> keys of m.
func sdKeysSize(m syslog.Message) int {
	v, ok := m.(*rfc5424.SyslogMessage)
	if !ok || v.StructuredData == nil {
		return 0
	}
	n := 0
	for id, params := range *v.StructuredData {
		for name := range params {
			n += len("syslog.sd..") + len(id) + len(name)
		}
	}
	return n
}
