package chserver_test

import (
	"bufio"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

// Reads with the same database and settings share engine sessions (opening
// one and setting it up was most of a small query's cost), and what a
// request changes in its session never reaches the next: SET, USE, a
// temporary table, settings of the URL or of a SETTINGS clause.
func TestReadsReuseSessionsWithoutLeakingState(t *testing.T) {
	base := "http://" + chtest.Addr(t) + "/"
	db := chtest.Database(t)
	query := func(role chserver.Role, args url.Values, sql string) (int, string) {
		t.Helper()
		args.Set("query", sql)
		status, body, _ := do(t, role, "POST", base+"?"+args.Encode(), nil, "")
		return status, body
	}
	read := func(args url.Values, sql, want string) {
		t.Helper()
		if status, body := query(chserver.RoleReader, args, sql+" FORMAT RawBLOB"); status != http.StatusOK || body != want {
			t.Fatalf("%s with %v: %d %q, want %q", sql, args, status, body, want)
		}
	}
	inDB := func(kv ...string) url.Values {
		v := url.Values{"database": {db}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	for _, args := range []url.Values{inDB(), inDB("max_threads", "1", "log_comment", "x", "max_block_size", "1000")} {
		opened := sessionsOpened(t, base)
		for i := 0; i < 20; i++ {
			read(args, "SELECT currentDatabase()", db)
		}
		if n := sessionsOpened(t, base) - opened; n > 1 {
			t.Fatalf("20 reads with %v opened %v engine sessions, want 1", args, n)
		}
	}

	read(inDB("log_comment", "a"), "SELECT getSetting('log_comment')", "a")
	read(inDB(), "SELECT getSetting('log_comment')", "")
	read(inDB(), "SELECT getSetting('log_comment') SETTINGS log_comment = 'b'", "b")
	read(inDB(), "SELECT getSetting('log_comment')", "")

	// Statements that change the session: it is not kept.
	if status, body := query(chserver.RoleReader, inDB(), "SET log_comment = 'c'"); status != http.StatusOK {
		t.Fatalf("SET: %d %s", status, body)
	}
	if status, body := query(chserver.RoleReader, inDB(), "USE system"); status != http.StatusOK {
		t.Fatalf("USE: %d %s", status, body)
	}
	if status, body := query(chserver.RoleAdmin, inDB(), "CREATE TEMPORARY TABLE tmp_session (x UInt8) ENGINE = Memory"); status != http.StatusOK {
		t.Fatalf("CREATE TEMPORARY TABLE: %d %s", status, body)
	}
	for i := 0; i < 3; i++ {
		read(inDB(), "SELECT getSetting('log_comment')", "")
		read(inDB(), "SELECT currentDatabase()", db)
		if status, body := query(chserver.RoleAdmin, inDB(), "SELECT * FROM tmp_session"); status == http.StatusOK {
			t.Fatalf("a temporary table of another request is visible: %s", body)
		}
	}
	// A reader's session never serves a writer: readonly stays with it.
	if status, body := query(chserver.RoleWriter, inDB(), "SELECT toString(getSetting('readonly')) FORMAT RawBLOB"); status != http.StatusOK || body != "0" {
		t.Fatalf("writer's readonly: %d %q", status, body)
	}
}

// sessionsOpened reads the endpoint's count of engine sessions opened.
func sessionsOpened(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "flowlens_clickhouse_engine_sessions_opened_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no flowlens_clickhouse_engine_sessions_opened_total on /metrics")
	return 0
}
