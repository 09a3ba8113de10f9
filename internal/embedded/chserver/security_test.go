package chserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

// Every test here performs an attack found in a review of the endpoint
// (issue 17) against the real engine, and checks both the refusal and
// that nothing happened.

var allRoles = []chserver.Role{chserver.RoleReader, chserver.RoleWriter, chserver.RoleAdmin}

// post runs sql as the body of a POST by role in database db.
func post(t *testing.T, role chserver.Role, db, sql string) (int, string, http.Header) {
	t.Helper()
	return do(t, role, "POST", "http://"+chtest.Addr(t)+"/?database="+db, nil, sql)
}

// exceptionCode is the ClickHouse code of a refused answer, 0 for a 200.
func exceptionCode(status int, h http.Header) string {
	if status == http.StatusOK {
		return "0"
	}
	return h.Get("X-ClickHouse-Exception-Code")
}

// secretFile is a file of this machine no query may read.
func secretFile(t *testing.T) (path, secret string) {
	t.Helper()
	secret = fmt.Sprintf("flowlens-secret-%d", os.Getpid())
	path = filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, secret
}

func TestNoRoleReadsServerFiles(t *testing.T) {
	path, secret := secretFile(t)
	db := chtest.Database(t)
	if code, body, _ := post(t, chserver.RoleAdmin, db, "CREATE TABLE t (l String) ENGINE = MergeTree ORDER BY l"); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	attacks := []string{
		"SELECT * FROM file('%[1]s', 'LineAsString')",
		"SELECT * FROM FiLe ('%[1]s', 'LineAsString')",
		"SELECT * FROM /* hide */ file/**/('%[1]s', 'LineAsString')",
		"SELECT * FROM `file`('%[1]s', 'LineAsString')",
		"SELECT * FROM \"file\"('%[1]s', 'LineAsString')",
		"SELECT file('%[1]s')",
		"SELECT `file`('%[1]s')",
		"WITH (SELECT file('%[1]s')) AS x SELECT x",
		"SELECT * FROM default.`%[1]s`",                // the Filesystem overlay of the default database
		"SELECT * FROM `%[1]s`",                        // the same, from the default database
		"DESCRIBE TABLE file('%[1]s', 'CSVWithNames')", // schema inference shows the first line
		"SELECT * FROM filesystem('%[2]s')",
		"SELECT * FROM file('/proc/self/environ', 'LineAsString')",
		"SELECT * FROM sqlite('%[1]s', 't')",
		"SELECT * FROM icebergLocal('%[2]s')",
		"SELECT * FROM executable('id', 'LineAsString', 'l String')",
		"SELECT 1 AS x FORMAT Template SETTINGS format_template_resultset = '%[1]s'",
		"SELECT number FROM numbers(1) SETTINGS additional_table_filters = {'numbers': 'length(file(''%[1]s'')) > 0'}",
		"SELECT 1; SELECT file('%[1]s')",
		"EXPLAIN SYNTAX SELECT file('%[1]s')",
		"INSERT INTO t FROM INFILE '%[1]s' FORMAT LineAsString",
		"INSERT INTO t VALUES (file('%[1]s'))",
		"INSERT INTO t FORMAT Values\n(file('%[1]s'))",
		"INSERT INTO t SELECT file('%[1]s')",
		"CREATE TABLE f (l String) ENGINE = File(LineAsString, '%[1]s')",
		"CREATE DATABASE fsdb ENGINE = Filesystem('%[2]s')",
		"CREATE TABLE c ENGINE = MergeTree ORDER BY tuple() AS SELECT file('%[1]s') AS l",
		"CREATE VIEW v AS SELECT file('%[1]s') AS l",
		"CREATE DICTIONARY d (l String) PRIMARY KEY l SOURCE(FILE(path '%[1]s' format 'LineAsString')) LAYOUT(HASHED()) LIFETIME(0)",
	}
	for _, role := range allRoles {
		for _, a := range attacks {
			q := fmt.Sprintf(a, path, filepath.Dir(path))
			status, body, h := post(t, role, db, q)
			if status == http.StatusOK || strings.Contains(body, secret) {
				t.Errorf("%s %q: status %d (code %s): %.200s", role, q, status, exceptionCode(status, h), body)
			}
		}
	}
	// Values rows in the body of an insert are evaluated by the engine too.
	status, body, _ := do(t, chserver.RoleWriter, "POST", "http://"+chtest.Addr(t)+"/?database="+db+"&query="+url.QueryEscape("INSERT INTO t FORMAT Values"), nil,
		fmt.Sprintf("(file('%s'))", path))
	if status == http.StatusOK {
		t.Errorf("Values body with file(): %d %s", status, body)
	}
	if _, body, _ := post(t, chserver.RoleAdmin, db, "SELECT count() FROM t"); body != "0\n" {
		t.Errorf("rows got into t: %q", body)
	}
}

func TestNoRoleWritesServerFiles(t *testing.T) {
	dir := t.TempDir()
	db := chtest.Database(t)
	if code, body, _ := post(t, chserver.RoleAdmin, db, "CREATE TABLE t (l String) ENGINE = MergeTree ORDER BY l"); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	attached := filepath.Join(dir, "attach-me")
	if err := os.Mkdir(attached, 0o700); err != nil {
		t.Fatal(err)
	}
	attacks := []string{
		"INSERT INTO FUNCTION file('%[1]s/w1', 'LineAsString') SELECT 'x'",
		"SELECT 'x' INTO OUTFILE '%[1]s/w2'",
		"SELECT 'x' INTO/**/OUTFILE '%[1]s/w3'",
		"select 'x' into outfile '%[1]s/w4' format TSV",
		"SELECT 1 AS x FORMAT Protobuf SETTINGS output_format_schema = '%[1]s/w5.proto'",
		"INSERT INTO t SETTINGS input_format_record_errors_file_path = '%[1]s/w6', input_format_allow_errors_num = 10 FORMAT CSV\n\"a\n",
		"BACKUP TABLE t TO File('%[1]s/w7')",
		"CREATE TABLE d (l String) ENGINE = MergeTree ORDER BY l SETTINGS disk = disk(type = local, path = '%[1]s/w8/')",
		// Inline data ends at a newline for the engine's client, which then
		// runs the next line as a statement of its own.
		"INSERT INTO t FORMAT CSV\n1\nSELECT 'x' INTO OUTFILE '%[1]s/w9'",
		"INSERT INTO t VALUES ('a')\nSELECT 'x' INTO OUTFILE '%[1]s/w10'",
		"INSERT INTO t SELECT * FROM input('l String') FORMAT CSV\nx\nATTACH TABLE b FROM '%[1]s/attach-me' (l String) ENGINE = MergeTree ORDER BY l",
		// ATTACH ... FROM moves the folder into the engine's store (and a
		// DROP would delete it): it took /etc away during this review.
		"ATTACH TABLE a FROM '%[1]s/attach-me' (l String) ENGINE = MergeTree ORDER BY l",
	}
	for _, role := range allRoles {
		for _, a := range attacks {
			q := fmt.Sprintf(a, dir)
			if status, body, h := post(t, role, db, q); status == http.StatusOK && !strings.HasPrefix(q, "INSERT INTO t ") {
				t.Errorf("%s %q: status %d (code %s): %.200s", role, q, status, exceptionCode(status, h), body)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "attach-me" {
			t.Errorf("a query wrote %s", filepath.Join(dir, e.Name()))
		}
	}
	if _, err := os.Stat(attached); err != nil {
		t.Errorf("the folder named in ATTACH is gone: %v", err)
	}
}

// trap counts the connections made to it: any is a request the engine
// sent on a client's behalf (SSRF).
func trap(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), accepted
}

func TestNoRoleMakesTheEngineConnectOut(t *testing.T) {
	target, accepted := trap(t)
	db := chtest.Database(t)
	attacks := []string{
		"SELECT * FROM url('http://%[1]s/latest/meta-data/', 'LineAsString')",
		"SELECT * FROM URL('http://%[1]s/', 'LineAsString')",
		"SELECT * FROM s3('http://%[1]s/bucket/key', 'LineAsString')",
		"SELECT * FROM remote('%[1]s', system.one)",
		"SELECT * FROM remoteSecure('%[1]s', system.one)",
		"SELECT * FROM mysql('%[1]s', 'd', 't', 'u', 'p')",
		"SELECT * FROM postgresql('%[1]s', 'd', 't', 'u', 'p')",
		"SELECT * FROM urlCluster('default', 'http://%[1]s/')",
		"SELECT * FROM mongodb('%[1]s', 'd', 't', 'u', 'p', 'x String')",
		"SELECT * FROM redis('%[1]s', 'k', 'k String')",
		"SELECT * FROM hdfs('hdfs://%[1]s/x', 'LineAsString')",
		"SELECT * FROM jdbc('jdbc:mysql://%[1]s/d', 'd', 't')",
		"SELECT * FROM odbc('DSN=x;Server=%[1]s', 'd', 't')",
		"CREATE TABLE u (l String) ENGINE = URL('http://%[1]s/', LineAsString)",
		"CREATE TABLE w (l String) ENGINE = MergeTree ORDER BY l SETTINGS disk = disk(type = web, endpoint = 'http://%[1]s/')",
		"CREATE DATABASE m ENGINE = MySQL('%[1]s', 'd', 'u', 'p')",
		"INSERT INTO FUNCTION url('http://%[1]s/', 'CSV', 'x String') SELECT 'x'",
		"SELECT 1 SETTINGS format_avro_schema_registry_url = 'http://%[1]s/'",
	}
	for _, role := range allRoles {
		for _, a := range attacks {
			q := fmt.Sprintf(a, target)
			if status, body, h := post(t, role, db, q); status == http.StatusOK {
				t.Errorf("%s %q: status %d (code %s): %.200s", role, q, status, exceptionCode(status, h), body)
			}
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the engine connected to %s %d times", target, n)
	}
}

// KILL, SYSTEM, access management and the like belong to no role: all
// sessions are the engine's one user, so KILL would stop the collector's
// inserts. (SYSTEM SHUTDOWN itself is tried in a child process:
// TestSystemShutdownRefused.)
func TestNoRoleControlsTheEngine(t *testing.T) {
	db := chtest.Database(t)
	attacks := []string{
		"KILL QUERY WHERE 1",
		"KILL QUERY WHERE query LIKE '%INSERT%' SYNC",
		"SYSTEM DROP MARK CACHE",
		"SYSTEM FLUSH LOGS",
		"EXECUTE AS default SELECT 1",
		"SET ROLE ALL",
		"CREATE USER evil IDENTIFIED BY 'evil-evil-evil'",
		"GRANT ALL ON *.* TO default",
		"CREATE FUNCTION evil AS x -> x",
		"CREATE SETTINGS PROFILE evil SETTINGS readonly = 0",
		// CPU scheduling: a workload of higher priority (or one capping
		// the others' threads) would put its picker above the inserts.
		"CREATE RESOURCE cpu (MASTER THREAD, WORKER THREAD)",
		"CREATE WORKLOAD all SETTINGS max_concurrent_threads = 1",
		"CREATE OR REPLACE WORKLOAD lookups IN all SETTINGS priority = -1",
		"SELECT addressToSymbol(1)",
		"ALTER TABLE system.one FREEZE",
		"UNDROP TABLE t",
	}
	for _, role := range allRoles {
		for _, q := range attacks {
			if status, body, h := post(t, role, db, q); status == http.StatusOK {
				t.Errorf("%s %q: status %d (code %s): %.200s", role, q, status, exceptionCode(status, h), body)
			}
		}
	}
}

// A web page the user visits cannot drive the endpoint through the
// browser: GET is read-only whoever logs in, pages of other sites are
// refused, and so are names that are not this machine's (DNS rebinding).
func TestBrowserAttacksRefused(t *testing.T) {
	base := "http://" + chtest.Addr(t) + "/"
	db := chtest.Database(t)
	exists := func(name string) bool {
		_, body, _ := post(t, chserver.RoleAdmin, "default", "EXISTS DATABASE "+name)
		return body == "1\n"
	}
	if status, body, _ := do(t, chserver.RoleAdmin, "GET", base+"?query="+url.QueryEscape("DROP DATABASE "+db), nil, ""); status == http.StatusOK || !exists(db) {
		t.Fatalf("DROP over GET as admin: %d %s", status, body)
	}
	if status, _, h := do(t, chserver.RoleAdmin, "GET", base+"?query="+url.QueryEscape("CREATE DATABASE csrf_get"), nil, ""); status == http.StatusOK || h.Get("X-ClickHouse-Exception-Code") != "164" || exists("csrf_get") {
		t.Fatalf("CREATE over GET as admin: %d, code %s", status, h.Get("X-ClickHouse-Exception-Code"))
	}
	for name, hdr := range map[string]http.Header{
		"origin of another site":  {"Origin": {"http://evil.example"}},
		"origin null":             {"Origin": {"null"}},
		"cross-site fetch":        {"Sec-Fetch-Site": {"cross-site"}},
		"rebound name":            {"Host": {"attacker.example:8123"}},
		"rebound name, no port":   {"Host": {"attacker.example"}},
		"same-site other service": {"Sec-Fetch-Site": {"same-site"}},
	} {
		req, _ := http.NewRequest("POST", base, strings.NewReader("CREATE DATABASE csrf_post"))
		for k, v := range hdr {
			req.Header[k] = v
		}
		if h := hdr.Get("Host"); h != "" {
			req.Host = h
		}
		user, password := chtest.Admin(t)
		req.SetBasicAuth(user, password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || exists("csrf_post") {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
	}
	// The endpoint never lets a page of another site read its answers.
	_, _, h := do(t, chserver.RoleReader, "GET", base+"?add_http_cors_header=1&query=SELECT+1", nil, "")
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS header %q", h.Get("Access-Control-Allow-Origin"))
	}
	// What a person or a local tool sends still works.
	for _, host := range []string{"localhost", "127.0.0.1"} {
		_, port, _ := net.SplitHostPort(chtest.Addr(t))
		req, _ := http.NewRequest("GET", base+"?query=SELECT+1", nil)
		req.Host = net.JoinHostPort(host, port)
		req.Header.Set("Sec-Fetch-Site", "none") // typed into the address bar
		user, password := chtest.Login(t, chserver.RoleReader)
		req.SetBasicAuth(user, password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: status %d", req.Host, resp.StatusCode)
		}
	}
}

// Settings a request sends cannot lift what its role allows; the role's
// limits are what the engine runs the query with.
func TestSettingsCannotLiftTheRole(t *testing.T) {
	base := "http://" + chtest.Addr(t) + "/"
	q := url.QueryEscape("SELECT getSetting('readonly'), getSetting('max_execution_time'), getSetting('max_memory_usage'), getSetting('allow_ddl')")
	refused := []struct {
		role  chserver.Role
		args  string // URL arguments
		query string // or SQL
		code  string
	}{
		{chserver.RoleReader, "readonly=0", "", "164"},
		{chserver.RoleReader, "max_memory_usage=10G", "", "452"},
		{chserver.RoleWriter, "allow_ddl=1", "", "452"},
		{chserver.RoleReader, "profile=default", "", "452"},
		{chserver.RoleReader, "dialect=kusto", "", "452"},
		{chserver.RoleReader, "", "SET readonly = 0", "164"},
		{chserver.RoleReader, "", "SELECT 1 SETTINGS readonly = 0", "164"},
		{chserver.RoleReader, "", "SELECT 1 SETTINGS max_memory_usage = 0", "452"},
		{chserver.RoleReader, "", "SELECT 1 SETTINGS max_memory_usage = 100000000000", "452"},
		{chserver.RoleReader, "", "SET profile = 'default'", "452"},
		{chserver.RoleReader, "", "SELECT 1 SETTINGS compatibility = '22.1'", "452"},
		{chserver.RoleWriter, "", "SET allow_ddl = 1", "452"},
		{chserver.RoleReader, "os_thread_priority=-5", "", "452"},
		{chserver.RoleWriter, "", "SET os_thread_priority = -20", "452"},
		{chserver.RoleAdmin, "", "SELECT 1 SETTINGS os_thread_priority = -1", "452"},
		{chserver.RoleReader, "workload=lookups", "", "452"},
		{chserver.RoleWriter, "", "SET workload = 'ingest'", "452"},
		{chserver.RoleAdmin, "", "SELECT 1 SETTINGS workload = 'all'", "452"},
	}
	for _, tt := range refused {
		u := base + "?" + tt.args
		body := tt.query
		if body == "" {
			u += "&query=SELECT+1"
		}
		status, text, h := do(t, tt.role, "POST", u, nil, body)
		if status == http.StatusOK || h.Get("X-ClickHouse-Exception-Code") != tt.code {
			t.Errorf("%s %s %s: status %d code %s, want code %s: %s", tt.role, tt.args, tt.query, status, h.Get("X-ClickHouse-Exception-Code"), tt.code, text)
		}
	}
	for _, tt := range []struct {
		role chserver.Role
		args string
		want string
	}{
		{chserver.RoleReader, "", "2\t60\t2147483648\ttrue\n"},
		{chserver.RoleReader, "max_execution_time=5&", "2\t5\t2147483648\ttrue\n"},                          // less is allowed
		{chserver.RoleReader, "max_execution_time=100000&max_memory_usage=0&", "2\t60\t2147483648\ttrue\n"}, // more, or none, is the role's
		{chserver.RoleReader, "os_thread_priority=5&", "2\t60\t2147483648\ttrue\n"},                         // a lower priority is allowed
		{chserver.RoleWriter, "", "0\t600\t8589934592\tfalse\n"},
		{chserver.RoleAdmin, "", "0\t600\t8589934592\ttrue\n"},
	} {
		if status, body, _ := do(t, tt.role, "POST", base+"?"+tt.args+"query="+q, nil, ""); status != 200 || body != tt.want {
			t.Errorf("%s %s: %d %q, want %q", tt.role, tt.args, status, body, tt.want)
		}
	}
}

// The engine itself holds what it can, without the endpoint's checks:
// sessions of its one user get the grants and constraints written by the
// endpoint, and keep the readonly / allow_ddl a role's session starts with.
func TestEngineEnforcesWithoutTheEndpoint(t *testing.T) {
	path, _ := secretFile(t)
	eng := chtest.Server(t).Engine()
	session := func(t *testing.T, set string) func(q string) int {
		c, err := eng.Session()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		run := func(q string) int {
			r, err := c.Query(q, "TSV", nil)
			if err != nil {
				return chserverCode(err)
			}
			r.Free()
			return 0
		}
		if set != "" {
			if code := run(set); code != 0 {
				t.Fatalf("%s: code %d", set, code)
			}
		}
		return run
	}
	any := session(t, "")
	for q, want := range map[string]int{
		fmt.Sprintf("SELECT * FROM file('%s', 'LineAsString')", path):         497, // no READ ON FILE
		fmt.Sprintf("SELECT * FROM default.`%s`", path):                       497,
		"SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')":            497,
		"SELECT * FROM remote('127.0.0.1:1', system.one)":                     497,
		"CREATE TABLE default.f (l String) ENGINE = File(LineAsString, '/x')": 497, // no TABLE ENGINE ON File
		"CREATE DATABASE fsx ENGINE = Filesystem('/')":                        497,
		"SYSTEM DROP MARK CACHE":                                              497,
		"CREATE FUNCTION evil AS x -> x":                                      497,
		"SELECT addressToSymbol(1)":                                           497,
		"SET max_memory_usage = 0":                                            452,
		"SET max_execution_time = 100000":                                     452,
		"SET dialect = 'kusto'":                                               452,
		"SET output_format_schema = '/tmp/x.proto'":                           452,
		"SET format_template_resultset = '/etc/passwd'":                       452,
		"SET allow_introspection_functions = 1":                               452,
		"SET os_thread_priority = -5":                                         452,
		"SET workload = 'lookups'":                                            452,
		"CREATE RESOURCE cpu (MASTER THREAD, WORKER THREAD)":                  497, // no CREATE RESOURCE grant
		"CREATE WORKLOAD all":                                                 497,
	} {
		if got := any(q); got != want {
			t.Errorf("%q: code %d, want %d", q, got, want)
		}
	}
	reader := session(t, "SET readonly = 2")
	for q, want := range map[string]int{"SET readonly = 0": 164, "CREATE DATABASE r": 164, "SELECT 1 SETTINGS readonly = 1": 164} {
		if got := reader(q); got != want {
			t.Errorf("reader session %q: code %d, want %d", q, got, want)
		}
	}
	writer := session(t, "SET allow_ddl = 0")
	for q, want := range map[string]int{"SET allow_ddl = 1": 392, "CREATE DATABASE w": 392, "DROP DATABASE default": 392} {
		if got := writer(q); got != want {
			t.Errorf("writer session %q: code %d, want %d", q, got, want)
		}
	}
}

// chserverCode is the ClickHouse code in an engine error message.
func chserverCode(err error) int {
	var code int
	if i := strings.Index(err.Error(), "Code: "); i >= 0 {
		fmt.Sscanf(err.Error()[i:], "Code: %d.", &code)
	}
	return code
}

// Logging in works the ways ClickHouse offers, and fails the way it does,
// so clickhouse-go and curl show the usual error.
func TestAuthentication(t *testing.T) {
	base := "http://" + chtest.Addr(t) + "/?query=SELECT+currentUser()"
	user, password := chtest.Login(t, chserver.RoleReader)
	ok := []struct {
		name string
		req  func(r *http.Request)
		url  string
	}{
		{"X-ClickHouse-User/Key", func(r *http.Request) {
			r.Header.Set("X-ClickHouse-User", user)
			r.Header.Set("X-ClickHouse-Key", password)
		}, base},
		{"basic auth", func(r *http.Request) { r.SetBasicAuth(user, password) }, base},
		{"URL arguments", func(r *http.Request) {}, base + "&user=" + user + "&password=" + url.QueryEscape(password)},
	}
	for _, tt := range ok {
		req, _ := http.NewRequest("GET", tt.url, nil)
		tt.req(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", tt.name, resp.StatusCode)
		}
	}
	status, body, h := do(t, "", "GET", base, nil, "")
	if status != http.StatusUnauthorized || h.Get("X-ClickHouse-Exception-Code") != "194" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no credentials: %d %s %v", status, body, h)
	}
	for name, mod := range map[string]func(r *http.Request){
		"wrong password":   func(r *http.Request) { r.SetBasicAuth(user, password+"x") },
		"unknown user":     func(r *http.Request) { r.SetBasicAuth("default", "") },
		"empty password":   func(r *http.Request) { r.SetBasicAuth(user, "") },
		"two auth methods": func(r *http.Request) { r.SetBasicAuth(user, password); r.Header.Set("X-ClickHouse-User", "admin") },
	} {
		req, _ := http.NewRequest("GET", base, nil)
		mod(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-ClickHouse-Exception-Code") != "516" {
			t.Errorf("%s: status %d code %s", name, resp.StatusCode, resp.Header.Get("X-ClickHouse-Exception-Code"))
		}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Protocol: clickhouse.HTTP, Addr: []string{chtest.Addr(t)},
		Auth: clickhouse.Auth{Username: user, Password: "wrong-password"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Ping(context.Background())
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 516 {
		t.Errorf("clickhouse-go with a wrong password: %v", err)
	}
}

// Each role through clickhouse-go over HTTP: what it is for works, what it
// is not for is refused with ClickHouse's codes.
func TestRolesThroughClickHouseGo(t *testing.T) {
	db := chtest.Database(t)
	ctx := context.Background()
	admin := chtest.OpenAs(t, chserver.RoleAdmin, db)
	if err := admin.Exec(ctx, "CREATE TABLE r (n UInt64, s String, m Map(LowCardinality(String), String)) ENGINE = MergeTree ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	writer := chtest.OpenAs(t, chserver.RoleWriter, db)
	b, err := writer.PrepareBatch(ctx, "INSERT INTO r")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := b.Append(uint64(i), fmt.Sprint("s", i), map[string]string{"http.method": "GET"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("writer's Native insert: %v", err)
	}
	code := func(err error) int32 {
		var ex *clickhouse.Exception
		if errors.As(err, &ex) {
			return ex.Code
		}
		return -1
	}
	if err := writer.Exec(ctx, "CREATE TABLE w (n UInt8) ENGINE = Memory"); code(err) != 497 {
		t.Errorf("writer CREATE: %v", err)
	}
	reader := chtest.OpenAs(t, chserver.RoleReader, db)
	var n uint64
	var method string
	pctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"s": "s42"}))
	if err := reader.QueryRow(pctx, "SELECT n, m['http.method'] FROM r WHERE s = {s:String}").Scan(&n, &method); err != nil || n != 42 || method != "GET" {
		t.Errorf("reader select: %d %q %v", n, method, err)
	}
	if err := reader.Exec(ctx, "INSERT INTO r (n) VALUES (1)"); code(err) != 164 {
		t.Errorf("reader INSERT: %v", err)
	}
	if b, err := reader.PrepareBatch(ctx, "INSERT INTO r"); err == nil {
		_ = b.Append(uint64(1000), "x", map[string]string{})
		if err := b.Send(); code(err) != 164 {
			t.Errorf("reader batch insert: %v", err)
		}
	}
	if err := reader.Exec(ctx, "DROP TABLE r"); code(err) != 164 {
		t.Errorf("reader DROP: %v", err)
	}
	if err := admin.QueryRow(ctx, "SELECT count() FROM r").Scan(&n); err != nil || n != 100 {
		t.Errorf("rows: %d %v", n, err)
	}
}

// The endpoint's folders and files are its user's only.
func TestDataFolderPrivate(t *testing.T) {
	dir := filepath.Join(chtest.DataDir(t), "clickhouse")
	for path, want := range map[string]os.FileMode{
		dir: 0o700, filepath.Join(dir, chserver.CredentialsFileName): 0o600,
		filepath.Join(dir, "flowlens"): 0o700, filepath.Join(dir, "flowlens", "users.xml"): 0o600,
		filepath.Join(dir, "flowlens", "config.xml"): 0o600, filepath.Join(dir, "flowlens", "user_files"): 0o700,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Error(err)
			continue
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "flowlens", "user_files")); len(entries) != 0 {
		t.Errorf("user_files is not empty: %v", entries)
	}
}

// The engine's rendering of a query text is cached, its verdict is not:
// the same text is judged again for each request's role.
func TestRepeatedTextIsJudgedForEachRole(t *testing.T) {
	db := chtest.Database(t)
	ddl := "CREATE TABLE judged (l String) ENGINE = MergeTree ORDER BY l"
	if code, body, _ := post(t, chserver.RoleAdmin, db, ddl); code != 200 {
		t.Fatalf("admin: %d %s", code, body)
	}
	drop := "DROP TABLE judged"
	for _, role := range []chserver.Role{chserver.RoleReader, chserver.RoleWriter} {
		for i := 0; i < 2; i++ { // the second time, the rendering comes from the cache
			if code, body, _ := post(t, role, db, drop); code == 200 {
				t.Fatalf("%s, time %d: DROP TABLE ran (%s)", role, i+1, body)
			}
		}
	}
	if code, body, _ := post(t, chserver.RoleAdmin, db, drop); code != 200 {
		t.Fatalf("admin: %d %s", code, body)
	}
}
