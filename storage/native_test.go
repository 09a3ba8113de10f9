package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// richTraces is genTraces plus what it lacks: events, links, empty
// attribute maps and non-ASCII text.
func richTraces() ptrace.Traces {
	td := genTraces(1, 40, 5, time.Now().Add(-time.Hour).Truncate(time.Microsecond), time.Millisecond)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	sp := spans.At(0)
	sp.SetName("pay → ✓")
	for i := 0; i < 3; i++ {
		ev := sp.Events().AppendEmpty()
		ev.SetName("retry")
		ev.SetTimestamp(sp.StartTimestamp() + pcommon.Timestamp(i*1000))
		if i > 0 {
			ev.Attributes().PutInt("attempt", int64(i))
		}
	}
	l := sp.Links().AppendEmpty()
	l.SetTraceID(traceIDOf(99))
	l.SetSpanID(spanIDOf(99, 1))
	l.TraceState().FromRaw("k=v")
	l.Attributes().PutStr("link.kind", "follows")
	td.ResourceSpans().At(1).ScopeSpans().At(0).Spans().At(0).Attributes().Clear()
	return td
}

// TestNativeInsertMatchesClient stores the same rows through the Native
// encoder (uncompressed, the default to the engine on loopback, and lz4)
// and through clickhouse-go's batch: every column reads back equal.
func TestNativeInsertMatchesClient(t *testing.T) {
	ctx := testCtx(t)
	native, client := newStore(t), newStore(t)
	nativeLZ4 := newStoreCfg(t, func(c *Config) { c.Compression = "lz4" })
	client.cfg.InsertWithClient = true
	if native.native == nil || nativeLZ4.native == nil {
		t.Fatal("the HTTP store has no native inserter")
	}
	if native.native.compress || !nativeLZ4.native.compress {
		t.Fatalf("compressed inserts: %v by default to loopback, %v with lz4", native.native.compress, nativeLZ4.native.compress)
	}
	var spans SpanRows
	spans.AppendTraces(richTraces(), nil)
	var logs LogRows
	ld := genLogs(1, 50, time.Now().Add(-time.Hour), time.Millisecond)
	rec := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	rec.Body().SetEmptyMap().PutStr("msg", "structured ✓")
	rec.Attributes().PutDouble("ratio", 0.25)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).Scope().Attributes().PutStr("scope.attr", "x")
	logs.AppendLogs(ld, nil)
	for _, s := range []*Store{native, nativeLZ4, client} {
		if err := s.InsertSpans(ctx, &spans, ""); err != nil {
			t.Fatalf("insert spans: %v", err)
		}
		if err := s.InsertLogs(ctx, &logs, ""); err != nil {
			t.Fatalf("insert logs: %v", err)
		}
	}
	dump := func(s *Store, table, order string) []string {
		t.Helper()
		rows, err := s.conn.Query(ctx, "SELECT formatRow('TSV', *) FROM "+s.l.Name(table)+" ORDER BY "+order)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out = append(out, line)
		}
		return out
	}
	for _, tc := range []struct{ table, order string }{
		{TracesTable, "TraceId, SpanId"},
		{LogsTable, "Timestamp, TraceId"},
	} {
		c := dump(client, tc.table, tc.order)
		for _, s := range []*Store{native, nativeLZ4} {
			n := dump(s, tc.table, tc.order)
			if len(n) == 0 || !slices.Equal(n, c) {
				t.Errorf("%s: native insert (compression %s) stored %d rows, client %d; first difference:", tc.table, s.cfg.Compression, len(n), len(c))
				for i := range min(len(n), len(c)) {
					if n[i] != c[i] {
						t.Errorf("native: %s\nclient: %s", n[i], c[i])
						break
					}
				}
			}
		}
	}
}

// TestNativeColumnTypes: the columns the encoder sends have the types of
// the migrated tables, so the engine converts nothing.
func TestNativeColumnTypes(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t)
	var spans SpanRows
	var logs LogRows
	for _, tc := range []struct {
		table string
		names []string
		cols  []any
	}{
		{TracesTable, spanColumns, spans.columns()},
		{LogsTable, logColumns, logs.columns()},
	} {
		for i, name := range tc.names {
			c, err := newNativeColumn(tc.table, name, tc.cols[i])
			if err != nil {
				t.Fatal(err)
			}
			var want string
			if err := s.conn.QueryRow(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = ? AND name = ?",
				s.cfg.Database, tc.table, name).Scan(&want); err != nil {
				t.Fatalf("%s.%s: %v", tc.table, name, err)
			}
			if got := string(c.Type()); got != want {
				t.Errorf("%s.%s: encoder sends %s, the table has %s", tc.table, name, got, want)
			}
		}
	}
}

// TestNativeInsertErrors: answers of a failing server become the errors
// clickhouse-go returns, classified the same by IsRetryable.
func TestNativeInsertErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		code      string
		body      string
		wantCode  int32
		retryable bool
	}{
		{"unknown table", 404, "60", "Code: 60. DB::Exception: Table x.y does not exist. (UNKNOWN_TABLE)", 60, false},
		{"too many parts", 500, "252", "Code: 252. DB::Exception: Too many parts. (TOO_MANY_PARTS)", 252, true},
		{"exception after 200", 200, "", "Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)", 241, true},
		{"proxy error", 502, "", "Bad Gateway", 0, true},
		{"bad request without code", 400, "", "nope", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.code != "" {
					w.Header().Set("X-ClickHouse-Exception-Code", tc.code)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			cfg := Config{Addr: srv.Listener.Addr().String()}
			cfg.SetDefaults()
			opts, err := clientOptions(cfg)
			if err != nil {
				t.Fatal(err)
			}
			n := newNativeInserter(opts, cfg)
			var rows SpanRows
			rows.AppendTraces(genTraces(1, 1, 2, time.Now(), time.Millisecond), nil)
			err = n.insert(context.Background(), TracesTable, "db.otel_traces", spanColumns, rows.columns(), nil)
			if err == nil {
				t.Fatal("no error")
			}
			var ex *clickhouse.Exception
			if tc.wantCode != 0 && (!errors.As(err, &ex) || ex.Code != tc.wantCode) {
				t.Errorf("error %v, want an exception with code %d", err, tc.wantCode)
			}
			if got := IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tc.retryable)
			}
		})
	}
}

var _ = plog.NewLogs

// TestNativeBlockReleasesRows: a block kept for the next insert holds no
// string of the rows it encoded (one would keep its whole chunk, and so
// most of the last batch, alive).
func TestNativeBlockReleasesRows(t *testing.T) {
	var rows SpanRows
	if _, err := rows.AppendTracesProto(marshalTraces(t, richTraces()), nil); err != nil {
		t.Fatal(err)
	}
	var blk nativeBlock
	if err := blk.encode(TracesTable, spanColumns, rows.columns()); err != nil {
		t.Fatal(err)
	}
	blk.release()
	held := func(name string, ss []string) {
		for _, s := range ss[:cap(ss)] {
			if s != "" {
				t.Errorf("%s still holds %q", name, s)
				return
			}
		}
	}
	heldLowCard := func(name string, d *lowCardStrings) {
		held(name, d.dict)
		for _, k := range d.last[:cap(d.last)] {
			if k.key != "" {
				t.Errorf("%s still holds value %q", name, k.key)
			}
		}
		if len(d.index) != 0 {
			t.Errorf("%s still holds %d values in its index", name, len(d.index))
		}
		if d.byAddr != nil && *d.byAddr != [byAddrSlots]addrAt{} {
			t.Errorf("%s still holds values by their address", name)
		}
	}
	for _, c := range blk.cols {
		switch d := c.Data.(type) {
		case nil:
		case strColumn:
			t.Errorf("%s still holds the rows' strings", c.Name)
		case *lowCardColumn:
			heldLowCard(c.Name, &d.lowCardStrings)
		case *proto.ColArr[string]:
			if lc, ok := d.Data.(*proto.ColLowCardinality[string]); ok {
				held(c.Name, lc.Values)
			}
		case *attrMapColumn:
			if d.attrs != nil {
				t.Errorf("%s still holds the rows' attributes", c.Name)
			}
			heldLowCard(c.Name, &d.keys)
		}
	}
}

// TestAttrMapColumnMatchesChGo: the attribute map column encodes as ch-go's
// Map(LowCardinality(String), String) does, with 8- and 16-bit key
// indexes, empty and nil maps, and no keys at all.
func TestAttrMapColumnMatchesChGo(t *testing.T) {
	many := make([]*Attrs, 0, 400)
	for i := range 400 {
		a := &Attrs{}
		for j := range i % 5 {
			a.Put(fmt.Sprintf("key.%d", (i*7+j)%300), fmt.Sprintf("value %d/%d ✓", i, j))
		}
		many = append(many, a)
	}
	many[3] = nil
	for name, attrs := range map[string][]*Attrs{
		"few keys": many[:40],
		"300 keys": many,
		"no keys":  {emptyAttrs, emptyAttrs, nil},
		"one map":  {NewAttrs(map[string]string{"k": "v"})},
		"repeated": {many[7], many[7], many[8], many[7]},
	} {
		t.Run(name, func(t *testing.T) {
			want := newAttrMap()
			for _, a := range attrs {
				if err := appendAttrs(want, a); err != nil {
					t.Fatal(err)
				}
			}
			got := newAttrMapColumn()
			got.set(attrs)
			encode := func(c proto.ColInput) []byte {
				var buf proto.Buffer
				if err := (proto.Block{Columns: 1, Rows: len(attrs)}).EncodeRawBlock(&buf, 0, []proto.InputColumn{{Name: "m", Data: c}}); err != nil {
					t.Fatal(err)
				}
				return buf.Buf
			}
			if g, w := encode(got), encode(want); !bytes.Equal(g, w) {
				t.Errorf("encoded %d bytes, ch-go %d, not the same", len(g), len(w))
			}
		})
	}
}

// TestLowCardColumnMatchesChGo: LowCardinality(String) columns encode as
// ch-go's ColLowCardinality does, with 8-, 16- and 32-bit indexes, values
// repeated next to each other and apart, and no rows.
func TestLowCardColumnMatchesChGo(t *testing.T) {
	distinct := func(n, rows int) []string {
		vs := make([]string, rows)
		for i := range vs {
			vs[i] = fmt.Sprintf("v%d ✓", (i*7)%n)
		}
		return vs
	}
	prefixes := strings.Repeat("ab", 8)
	for name, values := range map[string][]string{
		"no rows":        {},
		"one value":      {"SPAN_KIND_SERVER", "SPAN_KIND_SERVER", "SPAN_KIND_SERVER"},
		"alternating":    {"a", "b", "a", "", "b", "b", "a", ""},
		"256 values":     distinct(256, 1000),
		"257 values":     distinct(257, 1000),
		"65537 values":   distinct(65537, 70000),
		"each different": distinct(1000, 1000),
		// one address, several lengths
		"prefixes": {prefixes[:1], prefixes[:2], prefixes[:1], prefixes, prefixes[:2], prefixes[:3]},
	} {
		t.Run(name, func(t *testing.T) {
			want := proto.NewLowCardinality[string](new(proto.ColStr))
			want.AppendArr(values)
			got := &lowCardColumn{}
			got.set(values)
			encode := func(c proto.ColInput) []byte {
				var buf proto.Buffer
				if err := (proto.Block{Columns: 1, Rows: len(values)}).EncodeRawBlock(&buf, 0, []proto.InputColumn{{Name: "c", Data: c}}); err != nil {
					t.Fatal(err)
				}
				return buf.Buf
			}
			if g, w := encode(got), encode(want); !bytes.Equal(g, w) {
				t.Errorf("encoded %d bytes, ch-go %d, not the same", len(g), len(w))
			}
		})
	}
}
