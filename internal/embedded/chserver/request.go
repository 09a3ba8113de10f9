package chserver

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// request is one HTTP query, parsed from the URL, headers and body in the
// way ClickHouse's HTTP interface reads them.
type request struct {
	query          string            // the statement; the body is appended unless it is insert data
	defaultFormat  string            // output format when the statement names none
	database       string            // USE this database first
	params         map[string]string // param_<name>: values for {name:Type}
	settings       []setting         // every other URL argument, applied with SET
	queryID        string
	compressOut    bool   // compress=1: answer in ClickHouse compressed blocks
	decompressIn   bool   // decompress=1: the body is in ClickHouse compressed blocks
	compressMethod string // network_compression_method (LZ4 default)
	protocolRev    uint64 // client_protocol_version: Native output layout
}

type setting struct{ name, value string }

// URL arguments the HTTP interface itself consumes; everything else is a setting.
var nonSettings = map[string]bool{
	"query": true, "database": true, "default_format": true, "query_id": true,
	"quota_key": true, "compress": true, "decompress": true, "session_id": true,
	"session_timeout": true, "session_check": true, "wait_end_of_query": true,
	"buffer_size": true, "client_protocol_version": true, "user": true,
	"password": true, "add_http_cors_header": true, "stacktrace": true,
	"http_response_buffer_size": true, "enable_http_compression": true,
	"http_zlib_compression_level": true, "http_native_compression_disable_checksumming_on_decompress": true,
	"network_compression_method": true, "network_zstd_compression_level": true,
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseURL reads the URL arguments of a request.
func parseURL(v url.Values) (*request, error) {
	r := &request{
		query:          v.Get("query"),
		defaultFormat:  v.Get("default_format"),
		database:       v.Get("database"),
		queryID:        v.Get("query_id"),
		compressOut:    v.Get("compress") == "1",
		decompressIn:   v.Get("decompress") == "1",
		compressMethod: strings.ToUpper(v.Get("network_compression_method")),
		params:         map[string]string{},
	}
	if r.defaultFormat == "" {
		r.defaultFormat = "TabSeparated"
	}
	if s := v.Get("client_protocol_version"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("client_protocol_version %q is not a number", s))
		}
		r.protocolRev = n
	}
	if r.database != "" && !identRe.MatchString(r.database) {
		return nil, badRequest(fmt.Sprintf("database %q is not a valid identifier", r.database))
	}
	if !identRe.MatchString(r.defaultFormat) {
		return nil, badRequest(fmt.Sprintf("default_format %q is not a valid format name", r.defaultFormat))
	}
	for k, vals := range v {
		if len(vals) == 0 {
			continue
		}
		val := vals[len(vals)-1]
		switch {
		case strings.HasPrefix(k, "param_"):
			r.params[strings.TrimPrefix(k, "param_")] = val
		case nonSettings[k]:
		default:
			if !identRe.MatchString(k) {
				return nil, &httpError{status: 404, code: 115, msg: fmt.Sprintf("Code: 115. DB::Exception: Unknown setting '%s'. (UNKNOWN_SETTING)", k)}
			}
			r.settings = append(r.settings, setting{name: k, value: val})
		}
	}
	// In the URL's order the SET would differ from request to request
	// (map order), and a session set up by one could not serve the next.
	slices.SortFunc(r.settings, func(a, b setting) int { return strings.Compare(a.name, b.name) })
	return r, nil
}

// assignment renders name = 'value'. The value is always a quoted string,
// as ClickHouse's HTTP interface passes URL settings as text: the engine
// converts it to the setting's type, and a string setting keeps "007" or
// "1e3" as sent. Quoting also means no value can end the statement.
func (s setting) assignment() string {
	return s.name + " = " + quoteString(s.value)
}

// quoteString renders a ClickHouse string literal.
func quoteString(v string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
