package chserver

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func testGuard() *guard {
	limits := RoleLimits{
		Reader: Limits{MaxExecutionTime: time.Minute, MaxMemoryUsage: 2 << 30, MaxResultBytes: 256 << 20},
		Writer: Limits{MaxExecutionTime: 10 * time.Minute, MaxMemoryUsage: 8 << 30, MaxResultBytes: 1 << 30},
	}
	limits.Admin = limits.Writer
	return newGuard([]string{"file", "url", "numbers", "s3", "remote", "merge"}, limits)
}

// judge is what the endpoint decides for a query text without data: the
// client's text, then (here the same text standing in for) the engine's
// rendering of it. It returns the ClickHouse error code, 0 when allowed.
func judge(g *guard, role Role, q string) int {
	if err := g.checkRaw("u", q); err != nil {
		return toHTTPError(err).code
	}
	if err := g.checkCanonical("u", role, q); err != nil {
		return toHTTPError(err).code
	}
	return 0
}

func TestGuardStatements(t *testing.T) {
	g := testGuard()
	tests := []struct {
		role Role
		q    string
		code int
	}{
		// What each role is for.
		{RoleReader, "SELECT ServiceName, SpanAttributes['http.method'] FROM otel_traces WHERE TraceId = {id:String}", 0},
		{RoleReader, "WITH 1 AS x SELECT x FORMAT JSON", 0},
		{RoleReader, "(SELECT 1) UNION ALL (SELECT 2)", 0},
		{RoleReader, "SHOW TABLES FROM flowlens", 0},
		{RoleReader, "DESCRIBE TABLE otel_traces", 0},
		{RoleReader, "EXPLAIN SYNTAX SELECT 1", 0},
		{RoleReader, "EXPLAIN PLAN header = 1 SELECT * FROM numbers(3)", 0},
		{RoleReader, "SET max_threads = 1", 0},
		{RoleReader, "SELECT count() FROM numbers(10) SETTINGS max_execution_time = 5", 0},
		{RoleReader, "SELECT * FROM t SETTINGS additional_table_filters = {'t': 'ServiceName = \\'checkout\\''}", 0},
		{RoleReader, "INSERT INTO t SELECT 1", 164},
		{RoleReader, "EXPLAIN AST INSERT INTO t SELECT 1", 164},
		{RoleWriter, "INSERT INTO t (a) SELECT number FROM numbers(3)", 0},
		{RoleWriter, "CREATE TABLE t (a Int8) ENGINE = MergeTree ORDER BY a", 497},
		{RoleWriter, "OPTIMIZE TABLE t FINAL", 497},
		{RoleAdmin, "CREATE TABLE IF NOT EXISTS t (a Int8) ENGINE = MergeTree ORDER BY a SETTINGS index_granularity = 1024", 0},
		{RoleAdmin, "CREATE MATERIALIZED VIEW IF NOT EXISTS mv TO t AS SELECT 1 AS a", 0},
		{RoleAdmin, "CREATE DATABASE IF NOT EXISTS flowlens", 0},
		{RoleAdmin, "ALTER TABLE t ADD COLUMN b String", 0},
		{RoleAdmin, "DROP TABLE IF EXISTS t", 0},

		// Never, whoever asks.
		{RoleAdmin, "SYSTEM SHUTDOWN", 497},
		{RoleAdmin, "system  kill", 497},
		{RoleAdmin, "KILL QUERY WHERE 1", 497},
		{RoleAdmin, "ATTACH TABLE x FROM '/etc' (l String) ENGINE = MergeTree ORDER BY l", 497},
		{RoleAdmin, "DETACH TABLE t", 497},
		{RoleAdmin, "BACKUP TABLE t TO Disk('default', 'x')", 497},
		{RoleAdmin, "CREATE USER x IDENTIFIED BY 'y'", 497},
		{RoleAdmin, "GRANT ALL ON *.* TO default", 497},
		{RoleAdmin, "CREATE FUNCTION f AS x -> x", 497},
		{RoleAdmin, "CREATE DICTIONARY d (a UInt8) PRIMARY KEY a SOURCE(NULL()) LAYOUT(FLAT()) LIFETIME(0)", 497},
		{RoleAdmin, "EXECUTE AS default SELECT 1", 497},
		{RoleAdmin, "SET ROLE admin", 497},
		{RoleAdmin, "CREATE DATABASE fs ENGINE = Filesystem('/')", 497},
		{RoleAdmin, "CREATE TABLE w (a Int8) ENGINE = MergeTree ORDER BY a SETTINGS disk = disk(type = web, endpoint = 'http://x/')", 497},
		{RoleAdmin, "INSERT INTO FUNCTION file('/tmp/x', 'TSV') SELECT 1", 497},
		{RoleReader, "SELECT * FROM file('/etc/passwd', 'LineAsString')", 497},
		{RoleReader, "SELECT * FROM FiLe ('/etc/passwd', 'LineAsString')", 497},
		{RoleReader, "SELECT * FROM /* hide */ file/**/('/etc/passwd', 'LineAsString')", 497},
		{RoleReader, "SELECT * FROM `file`('/etc/passwd', 'LineAsString')", 497},
		{RoleReader, "SELECT * FROM \"file\"('/etc/passwd', 'LineAsString')", 497},
		{RoleReader, "SELECT file('/etc/passwd')", 497},
		{RoleReader, "SELECT * FROM url('http://169.254.169.254/', 'LineAsString')", 497},
		{RoleReader, "SELECT * FROM remote('10.0.0.1:9000', system.one)", 497},
		{RoleReader, "SELECT 1 INTO OUTFILE '/tmp/x'", 358},
		{RoleReader, "SELECT 1 INTO -- c\n OUTFILE '/tmp/x'", 358},
		{RoleWriter, "INSERT INTO t FROM INFILE '/etc/passwd' FORMAT LineAsString", 497},
		{RoleReader, "SELECT 1; SELECT 2", 62},
		{RoleReader, "SELECT 1; KILL QUERY WHERE 1", 62},
		{RoleReader, "SELECT 1 PARALLEL WITH SELECT 2", 62},

		// Settings that would undo the role or reach files.
		{RoleReader, "SET readonly = 0", 164},
		{RoleReader, "SELECT 1 SETTINGS readonly = 0", 164},
		{RoleWriter, "SET allow_ddl = 1", 452},
		{RoleReader, "SET profile = 'default'", 452},
		{RoleReader, "SELECT 1 SETTINGS dialect = 'kusto'", 452},
		{RoleReader, "SELECT 1 FORMAT Protobuf SETTINGS output_format_schema = '/tmp/x.proto'", 452},
		{RoleReader, "SELECT 1 SETTINGS max_memory_usage = 0", 452},
		{RoleReader, "SELECT 1 SETTINGS max_memory_usage = 1000000000000", 452},
		{RoleReader, "SELECT 1 SETTINGS max_execution_time = 3600", 452},
		{RoleWriter, "SELECT 1 SETTINGS max_execution_time = 3600", 452},
		{RoleReader, "SELECT * FROM (SELECT 1 SETTINGS max_memory_usage = 0)", 452},
		{RoleReader, "SELECT * FROM t SETTINGS additional_table_filters = {'t': 'length(file(\\'/etc/passwd\\')) > 0'}", 497},
	}
	for _, tt := range tests {
		if got := judge(g, tt.role, tt.q); got != tt.code {
			t.Errorf("%s %q: code %d, want %d", tt.role, tt.q, got, tt.code)
		}
	}
}

// Table functions the engine knows but the guard was not told are safe
// are refused: a newer engine's new table function is refused until
// someone looks at it.
func TestGuardRefusesUnknownTableFunctions(t *testing.T) {
	g := newGuard([]string{"numbers", "brandNewLake"}, RoleLimits{})
	if code := judge(g, RoleAdmin, "SELECT * FROM brandnewlake('x')"); code != 497 {
		t.Fatalf("unknown table function: code %d, want 497", code)
	}
	if code := judge(g, RoleReader, "SELECT * FROM numbers(3)"); code != 0 {
		t.Fatalf("numbers: code %d", code)
	}
}

func TestGuardURLSettings(t *testing.T) {
	g := testGuard()
	tests := []struct {
		role        Role
		name, value string
		code        int
		applied     string
	}{
		{RoleReader, "max_threads", "2", 0, "2"},
		{RoleReader, "max_execution_time", "30", 0, "30"},
		{RoleReader, "max_execution_time", "125", 0, "60"}, // clickhouse-go: the context's deadline + 5s
		{RoleWriter, "max_execution_time", "125", 0, "125"},
		{RoleReader, "max_memory_usage", "0", 0, "2147483648"},
		{RoleReader, "max_memory_usage", "10G", 452, ""},
		{RoleReader, "readonly", "0", 164, ""},
		{RoleWriter, "readonly", "0", 452, ""},
		{RoleAdmin, "allow_ddl", "1", 452, ""},
		{RoleAdmin, "format_template_resultset", "/etc/passwd", 452, ""},
		{RoleAdmin, "input_format_record_errors_file_path", "/tmp/x", 452, ""},
		{RoleAdmin, "format_avro_schema_registry_url", "http://x", 452, ""},
		{RoleReader, "additional_table_filters", "{'t': 'a = 1'}", 0, "{'t': 'a = 1'}"},
		{RoleReader, "additional_table_filters", "{'t': 'file(''/etc/passwd'') != '''''}", 497, ""},
	}
	for _, tt := range tests {
		applied, err := g.urlSetting("u", tt.role, tt.name, tt.value)
		code := 0
		if err != nil {
			code = toHTTPError(err).code
		}
		if code != tt.code || (err == nil && applied != tt.applied) {
			t.Errorf("%s %s=%s: code %d applied %q, want %d %q (%v)", tt.role, tt.name, tt.value, code, applied, tt.code, tt.applied, err)
		}
	}
}

func TestSplitInsert(t *testing.T) {
	tests := []struct {
		q                  string
		head, tail, format string
		data               string
		simple             bool
	}{
		{q: "INSERT INTO db.t (a, b) FORMAT Native", head: "INSERT INTO db.t (a, b)", format: "Native", simple: true},
		{q: "insert into t format JSONEachRow\n{\"a\":1}\n\n{\"a\":2}", head: "insert into t", format: "JSONEachRow", data: "{\"a\":1}\n\n{\"a\":2}", simple: true},
		{q: "INSERT INTO t (a) SETTINGS async_insert = 1, x = 'y' FORMAT RowBinary", head: "INSERT INTO t (a)", tail: "SETTINGS async_insert = 1, x = 'y'", format: "RowBinary", simple: true},
		{q: "INSERT INTO t VALUES (1), ('a;b')", head: "INSERT INTO t", format: "Values", data: " (1), ('a;b')", simple: true},
		{q: "INSERT INTO `my t` (`SETTINGS`) FORMAT CSV 1,2", head: "INSERT INTO `my t` (`SETTINGS`)", format: "CSV", data: "1,2", simple: true},
		{q: "INSERT INTO t FORMAT CSV\n1\nSELECT 1 INTO OUTFILE '/tmp/x'", head: "INSERT INTO t", format: "CSV", data: "1\nSELECT 1 INTO OUTFILE '/tmp/x'", simple: true},
		{q: "INSERT /* c */ INTO t -- c\n FORMAT TSV\n", head: "INSERT /* c */ INTO t", format: "TSV", simple: true},
		{q: "INSERT INTO FUNCTION file('x', 'TSV') FORMAT TSV", head: "INSERT INTO FUNCTION file('x', 'TSV')", format: "TSV"},
		{q: "INSERT INTO t (a) SETTINGS s = (1) FORMAT TSV", head: "INSERT INTO t (a)", tail: "SETTINGS s = (1)", format: "TSV"},
	}
	for _, tt := range tests {
		ins := splitInsert(tt.q)
		if ins == nil {
			t.Errorf("%q: not recognised", tt.q)
			continue
		}
		if ins.head != tt.head || ins.tail != tt.tail || ins.format != tt.format || ins.data != tt.data || ins.simple != tt.simple {
			t.Errorf("%q:\n got  %q | %q | %q | %q | %v\n want %q | %q | %q | %q | %v", tt.q, ins.head, ins.tail, ins.format, ins.data, ins.simple,
				tt.head, tt.tail, tt.format, tt.data, tt.simple)
		}
	}
	for _, q := range []string{"INSERT INTO t SELECT * FROM u FORMAT Native", "INSERT INTO t (a) WITH 1 AS x SELECT x", "SELECT 1 FORMAT Native", "INSERT INTO t"} {
		if ins := splitInsert(q); ins != nil {
			t.Errorf("%q: recognised as an insert with data: %+v", q, ins)
		}
	}
}

// The lexer reads what the engine's lexer reads: a call hidden in a
// comment or a string is not a call, one split by comments is.
func TestLexerCalls(t *testing.T) {
	calls := func(q string) []string {
		toks, err := lex(q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		var out []string
		for i, tok := range toks {
			if (tok.kind == tokWord || tok.kind == tokQuotedIdent) && i+1 < len(toks) && toks[i+1].kind == tokOpenParen {
				out = append(out, tok.name())
			}
		}
		return out
	}
	tests := []struct {
		q    string
		want string
	}{
		{"SELECT 'file(x)', \"a\" -- file(y)\n", ""},
		{"SELECT /* /* nested file(x) */ still */ 1", ""},
		{"SELECT $tag$ file(x) $tag$, $$ url(y) $$", ""},
		{"SELECT # file(x)\n 1", ""},
		{"SELECT 1 // file(x)", ""},
		{"SELECT 'it''s', 'a\\'b' , f(1)", "f"},
		{"SELECT file/**/(1), `url`(2), \"s3\" (3), x.y(4)", "file url s3 y"},
		{"SELECT {p:Array(String)}", "Array"},
	}
	for _, tt := range tests {
		if got := strings.Join(calls(tt.q), " "); got != tt.want {
			t.Errorf("%q: calls %q, want %q", tt.q, got, tt.want)
		}
	}
	for _, bad := range []string{"SELECT 'open", "SELECT /* open", "SELECT #x", "SELECT `x", "SELECT !x"} {
		if _, err := lex(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{
		`'a''b'`: "a'b", `'a\'b'`: "a'b", "`x``y`": "x`y", `"q"`: "q", `'\n\t\\'`: "\n\t\\", "$t$ x $t$": " x ",
	} {
		if got := unquote(in); got != want {
			t.Errorf("unquote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLimitSettingErrors(t *testing.T) {
	g := testGuard()
	err := g.checkSetting("u", RoleReader, "max_memory_usage", "3000000000")
	var he *httpError
	if !errors.As(err, &he) || he.code != 452 || !strings.Contains(he.msg, "shouldn't be greater than 2147483648") {
		t.Fatalf("got %v", err)
	}
}
