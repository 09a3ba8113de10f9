package chserver_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

// A URL argument the endpoint does not consume is a setting, applied with
// SET before the query: its value reaches the engine byte for byte, and no
// value can end the SET statement and smuggle in another.
func TestSettingValuesReachTheEngineUnchanged(t *testing.T) {
	base := "http://" + chtest.Addr(t) + "/"
	for _, v := range []string{
		"plain", "", "it's", `back\slash`, `\'`, `\\'`, `'; SELECT 42; --`, `' OR 1=1 --`,
		"x', max_threads = '1", "a\x00b", "\x00", `\0`, "tab\there", "line\nbreak", "cr\r\n", "ünïcødé", "\xff\xfe",
		"{p:String}", "/* comment", "-- comment", "`backtick`", `"double"`, "$$dollar$$", "\\x41", "'", "''", `\`,
		// numbers stay text for a string setting, as in ClickHouse
		"1e3", "0x10", "+1", "1_000", "Inf", "nan", "007", " 1", "1 ", "9999999999999999999999",
	} {
		q := url.Values{"log_comment": {v}, "query": {"SELECT getSetting('log_comment') FORMAT RawBLOB"}}
		status, body, _ := do(t, chserver.RoleReader, "GET", base+"?"+q.Encode(), nil, "")
		if status != http.StatusOK || body != v {
			t.Errorf("log_comment=%q: %d %q", v, status, body)
		}
	}
}

// Quoted as text, a value still sets a number, a bool or a duration: the
// engine converts it to the setting's type.
func TestTypedSettingsApply(t *testing.T) {
	base := "http://" + chtest.Addr(t) + "/"
	for _, tc := range []struct{ name, value, want string }{
		{"max_threads", "3", "3"},
		{"max_block_size", "4096", "4096"},
		{"max_execution_time", "1.5", "1.5"},
		{"use_uncompressed_cache", "1", "true"},
		{"use_uncompressed_cache", "true", "true"},
		{"insert_deduplication_token", "12345", "12345"},
	} {
		q := url.Values{tc.name: {tc.value}, "query": {"SELECT toString(getSetting('" + tc.name + "')) FORMAT RawBLOB"}}
		status, body, _ := do(t, chserver.RoleReader, "GET", base+"?"+q.Encode(), nil, "")
		if status != http.StatusOK || body != tc.want {
			t.Errorf("%s=%q: %d %q, want %q", tc.name, tc.value, status, body, tc.want)
		}
	}
}
