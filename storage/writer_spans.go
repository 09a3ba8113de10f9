package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// SpanRows is a columnar buffer of otel_traces rows. Fill it with
// AppendTraces or AppendTracesProto, store it with Store.InsertSpans, then
// Reset and reuse it. Not safe for concurrent use.
//
// Memory: the strings, attribute maps and event/link slices that
// AppendTracesProto appends live in chunks owned by the rows, not in the
// caller's buffer. Reset drops those chunks without overwriting them, so
// values taken from the rows stay valid (and immutable) after Reset, for as
// long as they are referenced.
type SpanRows struct {
	// Limits apply to records appended afterwards; zero fields take defaults.
	Limits RowLimits
	keys   keyCache
	wire   wireArena // AppendTracesProto's memory (wire_rows.go)

	Timestamp          []time.Time
	TraceID            []string
	SpanID             []string
	ParentSpanID       []string
	TraceState         []string
	SpanName           []string
	SpanKind           []string
	ServiceName        []string
	ResourceAttributes []*Attrs
	ScopeName          []string
	ScopeVersion       []string
	SpanAttributes     []*Attrs
	Duration           []uint64
	StatusCode         []string
	StatusMessage      []string
	EventsTimestamp    [][]time.Time
	EventsName         [][]string
	EventsAttributes   [][]*Attrs
	LinksTraceID       [][]string
	LinksSpanID        [][]string
	LinksTraceState    [][]string
	LinksAttributes    [][]*Attrs
}

// spanColumns is the INSERT column list, in the order of columns().
var spanColumns = []string{
	"Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind",
	"ServiceName", "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes",
	"Duration", "StatusCode", "StatusMessage",
	"Events.Timestamp", "Events.Name", "Events.Attributes",
	"Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Attributes",
}

func (r *SpanRows) columns() []any {
	return []any{
		r.Timestamp, r.TraceID, r.SpanID, r.ParentSpanID, r.TraceState, r.SpanName, r.SpanKind,
		r.ServiceName, r.ResourceAttributes, r.ScopeName, r.ScopeVersion, r.SpanAttributes,
		r.Duration, r.StatusCode, r.StatusMessage,
		r.EventsTimestamp, r.EventsName, r.EventsAttributes,
		r.LinksTraceID, r.LinksSpanID, r.LinksTraceState, r.LinksAttributes,
	}
}

// Len is the number of rows buffered.
func (r *SpanRows) Len() int { return len(r.Timestamp) }

// Reset empties the buffer, keeping its capacity.
func (r *SpanRows) Reset() {
	r.wire.reset()
	r.truncate(0)
}

// AppendTraces converts every span of td into a row, as the OpenTelemetry
// ClickHouse exporter does: ServiceName from the resource's service.name,
// SpanKind "Server", "Client", "Producer", "Consumer", "Internal" or
// "Unspecified", StatusCode "Ok", "Error" or "Unset", Duration in ns, IDs in
// lowercase hex. A span that cannot be stored (start time unset or absurd, an
// attribute over the limit) is passed to onReject (may be nil) and skipped.
// It returns the number of rows appended.
func (r *SpanRows) AppendTraces(td ptrace.Traces, onReject RejectFunc) int {
	lim := r.Limits.withDefaults()
	n := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource()
		service := ""
		if v, ok := res.Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		resAttrs, resErr := attrsOf(res.Attributes(), lim.MaxAttributeBytes, &r.keys)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := ss.Scope()
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				if err := r.appendSpan(span, service, resAttrs, resErr, scope.Name(), scope.Version(), lim); err != nil {
					if onReject != nil {
						onReject(fmt.Errorf("span %s/%s of %s: %w", hexTraceID(span.TraceID()), hexSpanID(span.SpanID()),
							quoteForError(service), err))
					}
					continue
				}
				n++
			}
		}
	}
	return n
}

func (r *SpanRows) appendSpan(span ptrace.Span, service string, resAttrs *Attrs, resErr error,
	scopeName, scopeVersion string, lim RowLimits) error {
	if resErr != nil {
		return fmt.Errorf("resource: %w", resErr)
	}
	if err := checkTimestamp(span.StartTimestamp(), "start time"); err != nil {
		return err
	}
	if len(span.Name()) > lim.MaxAttributeBytes {
		return fmt.Errorf("%w: span name is %d bytes (limit %d)", ErrAttributeTooLarge, len(span.Name()), lim.MaxAttributeBytes)
	}
	if len(span.Status().Message()) > lim.MaxAttributeBytes {
		return fmt.Errorf("%w: status message is %d bytes (limit %d)", ErrAttributeTooLarge,
			len(span.Status().Message()), lim.MaxAttributeBytes)
	}
	spanAttrs, err := attrsOf(span.Attributes(), lim.MaxAttributeBytes, &r.keys)
	if err != nil {
		return err
	}
	var (
		evTimes []time.Time
		evNames []string
		evAttrs []*Attrs
	)
	if evs := span.Events(); evs.Len() > 0 {
		evTimes = make([]time.Time, evs.Len())
		evNames = make([]string, evs.Len())
		evAttrs = make([]*Attrs, evs.Len())
		for i := 0; i < evs.Len(); i++ {
			ev := evs.At(i)
			evTimes[i] = ev.Timestamp().AsTime()
			evNames[i] = ev.Name()
			if evAttrs[i], err = attrsOf(ev.Attributes(), lim.MaxAttributeBytes, &r.keys); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
		}
	} else {
		evTimes, evNames, evAttrs = []time.Time{}, []string{}, []*Attrs{}
	}
	var (
		lTrace, lSpan, lState []string
		lAttrs                []*Attrs
	)
	if links := span.Links(); links.Len() > 0 {
		lTrace = make([]string, links.Len())
		lSpan = make([]string, links.Len())
		lState = make([]string, links.Len())
		lAttrs = make([]*Attrs, links.Len())
		for i := 0; i < links.Len(); i++ {
			l := links.At(i)
			lTrace[i] = hexTraceID(l.TraceID())
			lSpan[i] = hexSpanID(l.SpanID())
			lState[i] = l.TraceState().AsRaw()
			if lAttrs[i], err = attrsOf(l.Attributes(), lim.MaxAttributeBytes, &r.keys); err != nil {
				return fmt.Errorf("link %d: %w", i, err)
			}
		}
	} else {
		lTrace, lSpan, lState, lAttrs = []string{}, []string{}, []string{}, []*Attrs{}
	}
	var dur uint64
	if end, start := span.EndTimestamp(), span.StartTimestamp(); end > start {
		dur = uint64(end - start)
	}
	r.Timestamp = append(r.Timestamp, span.StartTimestamp().AsTime())
	r.TraceID = append(r.TraceID, hexTraceID(span.TraceID()))
	r.SpanID = append(r.SpanID, hexSpanID(span.SpanID()))
	r.ParentSpanID = append(r.ParentSpanID, hexSpanID(span.ParentSpanID()))
	r.TraceState = append(r.TraceState, span.TraceState().AsRaw())
	r.SpanName = append(r.SpanName, span.Name())
	r.SpanKind = append(r.SpanKind, span.Kind().String())
	r.ServiceName = append(r.ServiceName, service)
	r.ResourceAttributes = append(r.ResourceAttributes, resAttrs)
	r.ScopeName = append(r.ScopeName, scopeName)
	r.ScopeVersion = append(r.ScopeVersion, scopeVersion)
	r.SpanAttributes = append(r.SpanAttributes, spanAttrs)
	r.Duration = append(r.Duration, dur)
	r.StatusCode = append(r.StatusCode, span.Status().Code().String())
	r.StatusMessage = append(r.StatusMessage, span.Status().Message())
	r.EventsTimestamp = append(r.EventsTimestamp, evTimes)
	r.EventsName = append(r.EventsName, evNames)
	r.EventsAttributes = append(r.EventsAttributes, evAttrs)
	r.LinksTraceID = append(r.LinksTraceID, lTrace)
	r.LinksSpanID = append(r.LinksSpanID, lSpan)
	r.LinksTraceState = append(r.LinksTraceState, lState)
	r.LinksAttributes = append(r.LinksAttributes, lAttrs)
	return nil
}

// InsertSpans stores rows in one INSERT. A non-empty dedupToken makes a
// re-sent batch (same token, same rows) be stored once: use a token derived
// from the batch's source position (e.g. Kafka topic/partition/offsets).
// Errors can be classified with IsRetryable.
func (s *Store) InsertSpans(ctx context.Context, rows *SpanRows, dedupToken string) error {
	if rows.Len() == 0 {
		return nil
	}
	if err := s.insertColumns(ctx, TracesTable, spanColumns, rows.columns(), dedupToken, true); err != nil {
		return fmt.Errorf("insert %d spans: %w", rows.Len(), err)
	}
	return nil
}

// insertColumns sends one columnar batch. Without a token the engine
// deduplicates by the block's hash (an identical re-sent batch is dropped);
// with dedup false and no token the insert gets a unique token instead, so
// identical rows that legitimately repeat are kept. (insert_deduplicate=0
// would do that too, but ClickHouse 26 replaced it by deduplicate_insert,
// which 23.8 does not know: a fresh token works on both.)
func (s *Store) insertColumns(ctx context.Context, table string, names []string, cols []any, dedupToken string, dedup bool) (err error) {
	start := time.Now()
	defer func() { s.m.insertDone(table, lenOfColumn(cols[0]), start, err) }()
	if dedupToken == "" && !dedup {
		dedupToken = uniqueToken()
	}
	settings := clickhouse.Settings{}
	if dedupToken != "" {
		settings["insert_deduplication_token"] = dedupToken
	}
	if s.cfg.InsertNice > 0 {
		settings["os_thread_priority"] = s.cfg.InsertNice
	}
	if s.cfg.Cluster != "" {
		// Through a Distributed table, only a synchronous insert reaches the
		// shards with its deduplication token, and fails when they fail
		// instead of queueing on the initiator's disk.
		settings["insert_distributed_sync"] = 1
	}
	if _, ok := lowCardinality[table]; ok && s.native != nil && !s.cfg.InsertWithClient {
		str := make(map[string]string, len(settings))
		for k, v := range settings {
			str[k] = fmt.Sprint(v)
		}
		if err := s.native.insert(ctx, table, s.l.Name(table), names, cols, str); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	}
	if len(settings) > 0 {
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(settings))
	}
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.l.Name(table)+" ("+strings.Join(names, ", ")+")")
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer func() { _ = batch.Abort() }()
	if err := appendColumns(batch, names, cols); err != nil {
		return err
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// uniqueToken is a random 128-bit dedup token.
func uniqueToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "flowlens-unique-" + hex.EncodeToString(b[:])
}

func lenOfColumn(c any) int {
	switch v := c.(type) {
	case []time.Time:
		return len(v)
	default:
		return 0
	}
}

// parallelAppendRows is the batch size from which map columns are appended
// on their own goroutines: appending attribute maps is most of the client's
// work (about 3 µs per span with 13 attributes), and columns are independent.
const parallelAppendRows = 2000

// appendColumns appends every column's values to the batch; map columns
// concurrently when the batch is large.
func appendColumns(batch driver.Batch, names []string, cols []any) error {
	columns := make([]driver.BatchColumn, len(cols))
	for i := range cols {
		columns[i] = batch.Column(i)
	}
	errs := make([]error, len(cols))
	var wg sync.WaitGroup
	for i, c := range cols {
		heavy := false
		switch c.(type) {
		case []*Attrs, [][]*Attrs:
			heavy = lenOfColumn(cols[0]) >= parallelAppendRows
		}
		if !heavy {
			errs[i] = columns[i].Append(c)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = columns[i].Append(c)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("column %s: %w", names[i], err)
		}
	}
	return nil
}
