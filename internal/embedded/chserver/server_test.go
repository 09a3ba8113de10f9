package chserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runChild(cfg))
	}
	os.Exit(chtest.Main(m))
}

func openWith(t *testing.T, db string, comp *clickhouse.Compression) driver.Conn {
	t.Helper()
	user, password := chtest.Admin(t)
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:    clickhouse.HTTP,
		Addr:        []string{chtest.Addr(t)},
		Auth:        clickhouse.Auth{Database: db, Username: user, Password: password},
		Compression: comp,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestPingAndHello(t *testing.T) {
	conn := chtest.Open(t, "default")
	ctx := context.Background()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	v, err := conn.ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if v.Version.Major < 23 {
		t.Fatalf("unexpected version %v", v)
	}
	resp, err := http.Get("http://" + chtest.Addr(t) + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "Ok.\n" {
		t.Fatalf("/ping = %q", body)
	}
}

const ddl = `CREATE TABLE IF NOT EXISTS rt (
	ts DateTime64(9) CODEC(Delta, ZSTD(1)),
	name LowCardinality(String),
	body String,
	n UInt64,
	f Float64,
	attrs Map(LowCardinality(String), String),
	tags Array(String),
	ev Nested(ts DateTime64(9), name LowCardinality(String), attrs Map(LowCardinality(String), String)),
	maybe Nullable(Int32),
	d Date
) ENGINE = MergeTree ORDER BY (name, ts)`

func TestBatchRoundTripCompressions(t *testing.T) {
	comps := []struct {
		name string
		c    *clickhouse.Compression
	}{
		{"none", nil},
		{"lz4", &clickhouse.Compression{Method: clickhouse.CompressionLZ4}},
		{"zstd", &clickhouse.Compression{Method: clickhouse.CompressionZSTD}},
		{"gzip", &clickhouse.Compression{Method: clickhouse.CompressionGZIP}},
		{"deflate", &clickhouse.Compression{Method: clickhouse.CompressionDeflate}},
		{"brotli", &clickhouse.Compression{Method: clickhouse.CompressionBrotli}},
	}
	for _, tc := range comps {
		t.Run(tc.name, func(t *testing.T) {
			db := chtest.Database(t)
			conn := openWith(t, db, tc.c)
			ctx := context.Background()
			if err := conn.Exec(ctx, ddl); err != nil {
				t.Fatalf("ddl: %v", err)
			}
			base := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
			const rows = 3000
			batch, err := conn.PrepareBatch(ctx, "INSERT INTO rt")
			if err != nil {
				t.Fatalf("prepare: %v", err)
			}
			for i := 0; i < rows; i++ {
				var maybe *int32
				if i%2 == 0 {
					v := int32(i)
					maybe = &v
				}
				// An empty line inside the data must survive (the engine cuts inline data there).
				body := fmt.Sprintf("line %d\n\nsecond paragraph with 'quotes' and \\ backslash", i)
				err := batch.Append(
					base.Add(time.Duration(i)*time.Nanosecond), fmt.Sprintf("svc-%d", i%7), body,
					uint64(i), float64(i)/3,
					map[string]string{"k": fmt.Sprint(i), "empty": ""},
					[]string{"a", fmt.Sprint(i)},
					[]time.Time{base, base.Add(time.Second)}, []string{"e1", "e2"}, []map[string]string{{"x": "1"}, {}},
					maybe, base,
				)
				if err != nil {
					t.Fatalf("append: %v", err)
				}
			}
			if err := batch.Send(); err != nil {
				t.Fatalf("send: %v", err)
			}
			var count uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM rt").Scan(&count); err != nil {
				t.Fatalf("count: %v", err)
			}
			if count != rows {
				t.Fatalf("count = %d, want %d", count, rows)
			}
			var (
				ts    time.Time
				name  string
				body  string
				attrs map[string]string
				tags  []string
				evN   []string
				evA   []map[string]string
				maybe *int32
			)
			err = conn.QueryRow(ctx, "SELECT ts, name, body, attrs, tags, `ev.name`, `ev.attrs`, maybe FROM rt WHERE n = ?", uint64(42)).
				Scan(&ts, &name, &body, &attrs, &tags, &evN, &evA, &maybe)
			if err != nil {
				t.Fatalf("select: %v", err)
			}
			if !ts.Equal(base.Add(42)) || name != "svc-0" || !strings.Contains(body, "\n\nsecond") ||
				attrs["k"] != "42" || len(tags) != 2 || evN[1] != "e2" || evA[0]["x"] != "1" || maybe == nil || *maybe != 42 {
				t.Fatalf("round trip mismatch: %v %q %q %v %v %v %v %v", ts, name, body, attrs, tags, evN, evA, maybe)
			}
			// Many rows back, several blocks.
			rowsIt, err := conn.Query(ctx, "SELECT n, name FROM rt ORDER BY n")
			if err != nil {
				t.Fatal(err)
			}
			var got int
			for rowsIt.Next() {
				var n uint64
				var s string
				if err := rowsIt.Scan(&n, &s); err != nil {
					t.Fatal(err)
				}
				if n != uint64(got) {
					t.Fatalf("row %d has n=%d", got, n)
				}
				got++
			}
			if err := rowsIt.Err(); err != nil {
				t.Fatal(err)
			}
			rowsIt.Close()
			if got != rows {
				t.Fatalf("read %d rows, want %d", got, rows)
			}
		})
	}
}

func TestBoundParameters(t *testing.T) {
	db := chtest.Database(t)
	conn := chtest.Open(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE p (s String, n UInt32) ENGINE = MergeTree ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO p VALUES ('alice', 1), ('bob', 2), ('it''s', 3)"); err != nil {
		t.Fatal(err)
	}
	// Server-side {name:Type} values are escaped text, as in ClickHouse: a raw
	// tab or newline is a BAD_QUERY_PARAMETER error, never a different query.
	hostile := []string{"' OR 1=1 --", `\' OR 1=1 --`, "{s:String}", "bob\x00", "ünïcødé", `\\`}
	for _, h := range hostile {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM p WHERE s = ?", h).Scan(&n); err != nil || n != 0 {
			t.Fatalf("positional %q: n=%d err=%v", h, n, err)
		}
		if err := conn.QueryRow(ctx, "SELECT count() FROM p WHERE s = @s", clickhouse.Named("s", h)).Scan(&n); err != nil || n != 0 {
			t.Fatalf("named %q: n=%d err=%v", h, n, err)
		}
		pctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"s": h}))
		if err := conn.QueryRow(pctx, "SELECT count() FROM p WHERE s = {s:String}").Scan(&n); err != nil || n != 0 {
			t.Fatalf("server-side %q: n=%d err=%v", h, n, err)
		}
	}
	var n uint32
	pctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"s": "it's"}))
	if err := conn.QueryRow(pctx, "SELECT n FROM p WHERE s = {s:String}").Scan(&n); err != nil || n != 3 {
		t.Fatalf("quoted value: n=%d err=%v", n, err)
	}
}

func TestExceptions(t *testing.T) {
	conn := chtest.Open(t, chtest.Database(t))
	ctx := context.Background()
	tests := []struct {
		query string
		code  int32
	}{
		{"SELEC 1", 62},
		{"SELECT * FROM no_such_table", 60},
		{"SELECT no_such_function(1)", 46},
	}
	for _, tt := range tests {
		rows, err := conn.Query(ctx, tt.query)
		if err == nil {
			rows.Close()
			t.Fatalf("%s: no error", tt.query)
		}
		var ex *clickhouse.Exception
		if !errors.As(err, &ex) {
			t.Fatalf("%s: want *clickhouse.Exception, got %T: %v", tt.query, err, err)
		}
		if ex.Code != tt.code {
			t.Fatalf("%s: code %d, want %d (%v)", tt.query, ex.Code, tt.code, ex)
		}
	}
	err := conn.Exec(ctx, "CREATE TABLE x (a NoSuchType) ENGINE = Memory")
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 50 {
		t.Fatalf("unknown type: %v", err)
	}
}

func TestSettingsDoNotLeak(t *testing.T) {
	conn := chtest.Open(t, chtest.Database(t))
	ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{"max_threads": 1}))
	var v string
	if err := conn.QueryRow(ctx, "SELECT toString(getSetting('max_threads'))").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "1" {
		t.Fatalf("setting not applied: %q", v)
	}
	if err := conn.QueryRow(context.Background(), "SELECT toString(getSetting('max_threads'))").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v == "1" {
		t.Fatalf("setting leaked to the next request")
	}
}

func TestConcurrentRequests(t *testing.T) {
	db := chtest.Database(t)
	conn := chtest.Open(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE c (g UInt32, n UInt64) ENGINE = MergeTree ORDER BY g"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8) // at most one per goroutine
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				b, err := conn.PrepareBatch(ctx, "INSERT INTO c")
				if err != nil {
					errs <- err
					return
				}
				for j := 0; j < 100; j++ {
					_ = b.Append(uint32(g), uint64(j))
				}
				if err := b.Send(); err != nil {
					errs <- err
					return
				}
				// each goroutine writes only its own g: its inserts so far, all visible
				var n uint64
				if err := conn.QueryRow(ctx, "SELECT count() FROM c WHERE g = ?", uint32(g)).Scan(&n); err != nil {
					errs <- err
					return
				}
				if want := uint64(100 * (i + 1)); n != want {
					errs <- fmt.Errorf("goroutine %d after insert %d: %d rows, want %d", g, i+1, n, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM c").Scan(&n); err != nil || n != 4000 {
		t.Fatalf("count %d err %v", n, err)
	}
}

// A person with curl: query in the URL or the body, TabSeparated by default,
// errors as text with the exception code header.
func TestPlainHTTP(t *testing.T) {
	base := "http://" + chtest.Addr(t) + "/"
	get := func(u string) (int, string, http.Header) {
		return do(t, chserver.RoleReader, "GET", u, nil, "")
	}
	if code, body, _ := get(base + "?query=" + url.QueryEscape("SELECT 1 + 1")); code != 200 || body != "2\n" {
		t.Fatalf("GET: %d %q", code, body)
	}
	code, body, h := get(base + "?query=" + url.QueryEscape("SELECT * FROM nope"))
	if code != 404 || !strings.HasPrefix(body, "Code: 60.") || h.Get("X-ClickHouse-Exception-Code") != "60" {
		t.Fatalf("error: %d %q %v", code, body, h)
	}
	if _, b, _ := do(t, chserver.RoleReader, "POST", base, nil, "SELECT 'a' AS x FORMAT JSONEachRow"); b != "{\"x\":\"a\"}\n" {
		t.Fatalf("POST body query: %q", b)
	}
	db := chtest.Database(t)
	post := func(q, data string) (int, string) {
		code, body, _ := do(t, chserver.RoleAdmin, "POST", base+"?database="+db+"&query="+url.QueryEscape(q), nil, data)
		return code, body
	}
	if code, body := post("CREATE TABLE j (a String, b UInt8) ENGINE = Memory", ""); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := post("INSERT INTO j FORMAT JSONEachRow", "{\"a\":\"x\",\"b\":1}\n\n{\"a\":\"y\",\"b\":2}\n"); code != 200 {
		t.Fatalf("insert: %d %s", code, body)
	}
	if code, body := post("SELECT a, b FROM j ORDER BY b", ""); code != 200 || body != "x\t1\ny\t2\n" {
		t.Fatalf("select: %d %q", code, body)
	}
	if code, body := post("SELECT 1", ""); code != 200 || body != "1\n" {
		t.Fatalf("select: %d %q", code, body)
	}
	if code, _, _ := get(base + "?query=SELECT+1&bad-setting=1"); code != 404 {
		t.Fatalf("bad setting name: %d", code)
	}
}

// curl --data-binary sends the query as a form content type; it is still the query.
func TestFormContentTypeBodyIsQuery(t *testing.T) {
	code, b, _ := do(t, chserver.RoleReader, "POST", "http://"+chtest.Addr(t)+"/", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "SELECT 7")
	if code != 200 || b != "7\n" {
		t.Fatalf("%d %q", code, b)
	}
}
