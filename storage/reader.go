package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flowlens/flowlens/internal/severity"
)

// Span is one stored span.
type Span struct {
	Timestamp          time.Time         `json:"timestamp"`
	TraceID            string            `json:"trace_id"`
	SpanID             string            `json:"span_id"`
	ParentSpanID       string            `json:"parent_span_id,omitempty"`
	TraceState         string            `json:"trace_state,omitempty"`
	Name               string            `json:"name"`
	Kind               string            `json:"kind"`
	ServiceName        string            `json:"service_name"`
	ResourceAttributes map[string]string `json:"resource_attributes,omitempty"`
	ScopeName          string            `json:"scope_name,omitempty"`
	ScopeVersion       string            `json:"scope_version,omitempty"`
	Attributes         map[string]string `json:"attributes,omitempty"`
	Duration           time.Duration     `json:"duration_ns"`
	StatusCode         string            `json:"status_code"`
	StatusMessage      string            `json:"status_message,omitempty"`
	Events             []SpanEvent       `json:"events,omitempty"`
	Links              []SpanLink        `json:"links,omitempty"`
}

// SpanEvent is an event inside a span.
type SpanEvent struct {
	Timestamp  time.Time         `json:"timestamp"`
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// SpanLink is a link from a span to another span.
type SpanLink struct {
	TraceID    string            `json:"trace_id"`
	SpanID     string            `json:"span_id"`
	TraceState string            `json:"trace_state,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// LogRecord is one stored log record.
type LogRecord struct {
	Timestamp          time.Time         `json:"timestamp"`
	TraceID            string            `json:"trace_id,omitempty"`
	SpanID             string            `json:"span_id,omitempty"`
	TraceFlags         uint8             `json:"trace_flags,omitempty"`
	SeverityText       string            `json:"severity_text,omitempty"`
	SeverityNumber     uint8             `json:"severity_number,omitempty"`
	ServiceName        string            `json:"service_name"`
	Body               string            `json:"body"`
	ResourceSchemaURL  string            `json:"resource_schema_url,omitempty"`
	ResourceAttributes map[string]string `json:"resource_attributes,omitempty"`
	ScopeSchemaURL     string            `json:"scope_schema_url,omitempty"`
	ScopeName          string            `json:"scope_name,omitempty"`
	ScopeVersion       string            `json:"scope_version,omitempty"`
	ScopeAttributes    map[string]string `json:"scope_attributes,omitempty"`
	Attributes         map[string]string `json:"attributes,omitempty"`
	EventName          string            `json:"event_name,omitempty"`
}

// Trace is every span of a trace and every log record that carries its ID,
// each ordered by time, and the spans of other traces that link to it.
type Trace struct {
	TraceID string      `json:"trace_id"`
	Spans   []Span      `json:"spans"`
	Logs    []LogRecord `json:"logs"`
	// LinkedFrom are spans of other traces with a link to one of this
	// trace's spans: the consumers of the messages a producer here sent.
	LinkedFrom []LinkingSpan `json:"linked_from,omitempty"`
}

// MaxLinkingSpans bounds Trace.LinkedFrom: a message read by many
// consumers (a topic with many subscribers, a broadcast) links them all.
const MaxLinkingSpans = 1000

// LinkingSpan is a span of another trace that links to a span of this one.
type LinkingSpan struct {
	// LinkedSpanID is the span of this trace the link points to.
	LinkedSpanID string    `json:"linked_span_id"`
	Timestamp    time.Time `json:"timestamp"`
	TraceID      string    `json:"trace_id"`
	SpanID       string    `json:"span_id"`
	ServiceName  string    `json:"service_name"`
	Name         string    `json:"name"`
}

const spanSelect = `SELECT Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
    Events.Timestamp, Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes`

const logSelect = `SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body,
    ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes, EventName`

// logMargin widens a trace's time range when looking for its logs. The
// index holds the logs' own times (migration 11), so it is there only for
// logs stored before: those written after the last span started (up to its
// end) or by a skewed clock are found within it. It is small because every
// second of it costs each lookup the bloom filter of a second's logs (50k
// logs/s: 6 granules); the hour each side it was cost 44k granules.
const logMargin = 5 * time.Second

// GetTrace returns the trace with the given ID (see ParseTraceID). It
// first reads the trace's time range from the trace-ID index, then only
// that range of otel_traces and otel_logs, in parallel; if the index does
// not know the trace (not yet merged in, or expired) it falls back to the
// bloom filters over all of both tables. The spans linking here are read
// beside all that. ErrTraceNotFound when there is neither a span nor a log.
func (s *Store) GetTrace(ctx context.Context, traceID string) (tr Trace, err error) {
	defer func(start time.Time) { s.m.queryDone("trace", start, err) }(time.Now())
	id, err := ParseTraceID(traceID)
	if err != nil {
		return Trace{}, err
	}
	hexID := id.String()
	tr = Trace{TraceID: hexID}
	var (
		wg               sync.WaitGroup
		spanErr, linkErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tr.LinkedFrom, linkErr = s.linkingSpans(ctx, hexID)
	}()
	r, err := s.traceRange(ctx, hexID)
	if err == nil && r.known {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.Spans, spanErr = s.traceSpansIn(ctx, hexID, r)
		}()
		tr.Logs, err = s.traceLogsIn(ctx, hexID, r)
	}
	wg.Wait()
	if err = errors.Join(spanErr, linkErr, err); err != nil {
		return Trace{}, fmt.Errorf("get trace %s: %w", hexID, err)
	}
	if len(tr.Spans) == 0 {
		// Not in the index (not merged in yet, or expired), or only its
		// logs are: bloom filters only.
		if tr.Spans, err = s.traceSpansBloomOnly(ctx, hexID); err != nil {
			return Trace{}, fmt.Errorf("get trace %s: %w", hexID, err)
		}
		if tr.Logs, err = s.queryLogs(ctx, logSelect+"\nFROM "+s.l.Name(LogsTable)+
			"\nWHERE TraceId = {id:String}\nORDER BY Timestamp", namedParams("id", hexID)); err != nil {
			return Trace{}, fmt.Errorf("get trace %s: %w", hexID, err)
		}
	}
	if len(tr.Spans) == 0 && len(tr.Logs) == 0 {
		return Trace{}, fmt.Errorf("%w: %s", ErrTraceNotFound, hexID)
	}
	return tr, nil
}

// lookupSettings run a lookup's queries each on one thread. They read a
// few granules, which threads do not make faster; but each hand-off to
// another thread waits for a core, and on a machine busy storing the load
// that wait was the lookup's time: GetTrace took p50 52 ms / p99 398 ms so
// against 77 / 595 ms with the default threads, alternating in one run of
// BenchmarkLookupUnderIngest.
const lookupSettings = "SETTINGS max_threads = 1"

// traceTimeRange is a trace's time range in the trace-ID index, whole
// seconds [from, to), over its spans and logs; known is false when the
// index has no row of the trace.
type traceTimeRange struct {
	from, to int64
	known    bool
}

// traceRange reads the trace's time range from the trace-ID index, once
// for the spans' and the logs' queries: each of them evaluated it as a
// scalar subquery of its own before (BenchmarkLookupUnderIngest with
// FLOWLENS_BENCH_PLANS=1 times both orders under the same load).
func (s *Store) traceRange(ctx context.Context, hexID string) (traceTimeRange, error) {
	var (
		r          traceTimeRange
		start, end time.Time
		rows       uint64
	)
	err := s.conn.QueryRow(ctx, `SELECT min(Start), max(End), count() FROM `+s.l.Name(TraceIndexTable)+`
WHERE TraceId = {id:String}
`+lookupSettings, namedParams("id", hexID)...).Scan(&start, &end, &rows)
	if err != nil {
		return r, fmt.Errorf("trace time range: %w", err)
	}
	// Start and End are whole seconds, hence the +1.
	return traceTimeRange{from: start.Unix(), to: end.Unix() + 1, known: rows > 0}, nil
}

// traceSpansIn reads the trace's spans within r: only the partitions and
// primary-key ranges of otel_traces that hold them. The bounds are
// converted to the column's DateTime64(9): compared as DateTime, the
// engine (26.5) pruned parts whose time range lay within one second,
// wrongly, and the trace was not found.
func (s *Store) traceSpansIn(ctx context.Context, hexID string, r traceTimeRange) ([]Span, error) {
	return s.querySpans(ctx, s.traceSpansQuery(), namedParams("id", hexID, "from", r.from, "to", r.to))
}

// traceSpansQuery is traceSpansIn's query.
func (s *Store) traceSpansQuery() string {
	return spanSelect + `
FROM ` + s.l.Name(TracesTable) + `
WHERE TraceId = {id:String} AND Timestamp >= toDateTime64({from:Int64}, 9) AND Timestamp < toDateTime64({to:Int64}, 9)
ORDER BY Timestamp
` + lookupSettings
}

// traceLogsIn reads the logs carrying the trace ID within r (which spans
// the trace's spans and logs), widened by logMargin.
func (s *Store) traceLogsIn(ctx context.Context, hexID string, r traceTimeRange) ([]LogRecord, error) {
	return s.queryLogs(ctx, s.traceLogsQuery(), s.traceLogsParams(hexID, r))
}

// traceLogsQuery is traceLogsIn's query. otel_logs is partitioned and
// sorted by TimestampTime, not Timestamp: the range on Timestamp alone
// pruned nothing, and every lookup ran the bloom filter over every granule
// of the table (a day at 50k logs/s is 500k granules). TimestampTime is
// Timestamp's second, so the same range on it (whole seconds already)
// keeps the same rows and prunes partitions and primary-key ranges.
func (s *Store) traceLogsQuery() string {
	return logSelect + `
FROM ` + s.l.Name(LogsTable) + `
WHERE TraceId = {id:String} AND TimestampTime >= toDateTime({from:Int64}) AND TimestampTime < toDateTime({to:Int64})
  AND Timestamp >= toDateTime64({from:Int64}, 9) AND Timestamp < toDateTime64({to:Int64}, 9)
ORDER BY Timestamp
` + lookupSettings
}

// traceLogsParams are traceLogsQuery's parameters: r widened by logMargin.
func (s *Store) traceLogsParams(hexID string, r traceTimeRange) []any {
	margin := int64(logMargin / time.Second)
	return namedParams("id", hexID, "from", r.from-margin, "to", r.to+margin)
}

// linkingSpans reads the spans of other traces that link to the trace, from
// the link index (ordered by the linked trace's ID: a point lookup).
func (s *Store) linkingSpans(ctx context.Context, hexID string) ([]LinkingSpan, error) {
	rows, err := s.conn.Query(ctx, `SELECT LinkedSpanId, Timestamp, TraceId, SpanId, ServiceName, SpanName
FROM `+s.l.Name(TraceLinksTable)+`
WHERE LinkedTraceId = {id:String}
ORDER BY Timestamp, TraceId, SpanId
LIMIT `+strconv.Itoa(MaxLinkingSpans)+"\n"+lookupSettings, namedParams("id", hexID)...)
	if err != nil {
		return nil, fmt.Errorf("spans linking to the trace: %w", err)
	}
	defer rows.Close()
	var out []LinkingSpan
	for rows.Next() {
		var l LinkingSpan
		if err := rows.Scan(&l.LinkedSpanID, &l.Timestamp, &l.TraceID, &l.SpanID, &l.ServiceName, &l.Name); err != nil {
			return nil, fmt.Errorf("spans linking to the trace: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// traceSpansBloomOnly reads a trace's spans the OTel exporter's way: the
// bloom filter on TraceId alone, over every partition.
func (s *Store) traceSpansBloomOnly(ctx context.Context, hexID string) ([]Span, error) {
	return s.querySpans(ctx, spanSelect+"\nFROM "+s.l.Name(TracesTable)+
		"\nWHERE TraceId = {id:String}\nORDER BY Timestamp", namedParams("id", hexID))
}

// SpanQuery filters spans. Zero fields do not filter.
type SpanQuery struct {
	Service     string
	Operation   string        // span name, exact
	MinDuration time.Duration // spans at least this long
	MaxDuration time.Duration // spans at most this long (0: no bound)
	Status      string        // Ok, Error or Unset (any case)
	// Attributes must all be present with exactly these values (span attributes).
	Attributes map[string]string
	From, To   time.Time // [From, To); default the last hour before now
	Limit      int       // default 100, at most MaxSearchLimit
	// Slowest orders the result by duration, longest first, instead of
	// newest first.
	Slowest bool
}

// LogQuery filters log records. Zero fields do not filter.
type LogQuery struct {
	Service  string
	Severity string // minimum severity: trace, debug, info, warn, error, fatal (any case)
	Contains string // substring of the body, case-insensitive
	TraceID  string // see ParseTraceID
	From, To time.Time
	Limit    int
}

// Limits of a search.
const (
	DefaultSearchLimit = 100
	MaxSearchLimit     = 10000
	MaxFilterBytes     = 4096
	MaxFilterAttrs     = 32
	defaultSearchSpan  = time.Hour
)

// where accumulates SQL conditions whose text is ours and whose values are
// bound parameters.
type where struct {
	conds []string
	args  []any
	n     int
}

func (w *where) add(cond string, kv ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, namedParams(kv...)...)
}

// param returns a fresh parameter name.
func (w *where) param() string {
	w.n++
	return "p" + strconv.Itoa(w.n)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return "\nWHERE " + strings.Join(w.conds, "\n  AND ")
}

func checkFilter(name, v string) error {
	if len(v) > MaxFilterBytes {
		return fmt.Errorf("%w: %s is %d bytes (limit %d)", ErrInvalidQuery, name, len(v), MaxFilterBytes)
	}
	return nil
}

func timeRange(from, to time.Time, now time.Time) (time.Time, time.Time, error) {
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-defaultSearchSpan)
	}
	if !to.After(from) {
		return from, to, fmt.Errorf("%w: time range is empty (from %s, to %s)", ErrInvalidQuery,
			from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

func searchLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultSearchLimit, nil
	case n < 0 || n > MaxSearchLimit:
		return 0, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalidQuery, n, MaxSearchLimit)
	}
	return n, nil
}

// NormalizeStatus maps a user's status to the stored form: Ok, Error or Unset.
func NormalizeStatus(s string) (string, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "ok":
		return "Ok", nil
	case "error", "err":
		return "Error", nil
	case "unset":
		return "Unset", nil
	}
	return "", fmt.Errorf("%w: status %s: want ok, error or unset", ErrInvalidQuery, quoteForError(s))
}

// SearchSpans returns the newest spans matching q, newest first (or the
// longest first, with q.Slowest).
func (s *Store) SearchSpans(ctx context.Context, q SpanQuery) (_ []Span, err error) {
	defer func(start time.Time) { s.m.queryDone("spans", start, err) }(time.Now())
	from, to, err := timeRange(q.From, q.To, time.Now())
	if err != nil {
		return nil, err
	}
	limit, err := searchLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	status, err := NormalizeStatus(q.Status)
	if err != nil {
		return nil, err
	}
	if len(q.Attributes) > MaxFilterAttrs {
		return nil, fmt.Errorf("%w: %d attribute filters (limit %d)", ErrInvalidQuery, len(q.Attributes), MaxFilterAttrs)
	}
	for name, v := range map[string]string{"service": q.Service, "operation": q.Operation} {
		if err := checkFilter(name, v); err != nil {
			return nil, err
		}
	}
	if q.MinDuration < 0 || q.MaxDuration < 0 {
		return nil, fmt.Errorf("%w: negative duration bound (min %s, max %s)", ErrInvalidQuery, q.MinDuration, q.MaxDuration)
	}
	if q.MaxDuration > 0 && q.MaxDuration < q.MinDuration {
		return nil, fmt.Errorf("%w: maximum duration %s is below the minimum %s", ErrInvalidQuery, q.MaxDuration, q.MinDuration)
	}
	var w where
	w.add("Timestamp >= fromUnixTimestamp64Nano({from:Int64})", "from", from.UnixNano())
	w.add("Timestamp < fromUnixTimestamp64Nano({to:Int64})", "to", to.UnixNano())
	if q.Service != "" {
		w.add("ServiceName = {service:String}", "service", q.Service)
	}
	if q.Operation != "" {
		w.add("SpanName = {operation:String}", "operation", q.Operation)
	}
	if q.MinDuration > 0 {
		w.add("Duration >= {mindur:UInt64}", "mindur", uint64(q.MinDuration))
	}
	if q.MaxDuration > 0 {
		w.add("Duration <= {maxdur:UInt64}", "maxdur", uint64(q.MaxDuration))
	}
	if status != "" {
		w.add("StatusCode = {status:String}", "status", status)
	}
	keys := make([]string, 0, len(q.Attributes))
	for k := range q.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := q.Attributes[k]
		if err := checkFilter("attribute", k+v); err != nil {
			return nil, err
		}
		kp, vp := w.param(), w.param()
		// mapContains keeps key=""-valued attributes distinct from absent ones.
		w.add(fmt.Sprintf("mapContains(SpanAttributes, {%s:String}) AND SpanAttributes[{%s:String}] = {%s:String}", kp, kp, vp),
			kp, k, vp, v)
	}
	order := "Timestamp DESC"
	if q.Slowest {
		order = "Duration DESC, Timestamp DESC"
	}
	query := spanSelect + "\nFROM " + s.l.Name(TracesTable) + w.sql() +
		"\nORDER BY " + order + "\nLIMIT " + strconv.Itoa(limit)
	spans, err := s.querySpans(ctx, query, w.args)
	if err != nil {
		return nil, fmt.Errorf("search spans: %w", err)
	}
	return spans, nil
}

// SearchLogs returns the newest log records matching q, newest first.
// Severity keeps records at that level or above, by SeverityNumber, or by
// SeverityText when the number is unset.
func (s *Store) SearchLogs(ctx context.Context, q LogQuery) (_ []LogRecord, err error) {
	defer func(start time.Time) { s.m.queryDone("logs", start, err) }(time.Now())
	from, to, err := timeRange(q.From, q.To, time.Now())
	if err != nil {
		return nil, err
	}
	limit, err := searchLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]string{"service": q.Service, "contains": q.Contains} {
		if err := checkFilter(name, v); err != nil {
			return nil, err
		}
	}
	var w where
	w.add("Timestamp >= fromUnixTimestamp64Nano({from:Int64})", "from", from.UnixNano())
	w.add("Timestamp < fromUnixTimestamp64Nano({to:Int64})", "to", to.UnixNano())
	if q.Service != "" {
		w.add("ServiceName = {service:String}", "service", q.Service)
	}
	if q.Severity != "" {
		lvl, ok := severity.Parse(q.Severity)
		if !ok {
			return nil, fmt.Errorf("%w: severity %s: want trace, debug, info, warn, error or fatal",
				ErrInvalidQuery, quoteForError(q.Severity))
		}
		// records with a number by it; those with only a text by every
		// word of this level and the ones above (the agent's reading)
		cond := "(SeverityNumber >= {sevmin:UInt8} OR (SeverityNumber = 0 AND lower(SeverityText) IN ("
		kv := []any{"sevmin", uint8(lvl.Number)}
		n := 0
		for _, l := range severity.Levels {
			if l.Number < lvl.Number {
				continue
			}
			for _, word := range l.Words {
				p := w.param()
				if n > 0 {
					cond += ", "
				}
				cond += "{" + p + ":String}"
				kv = append(kv, p, word)
				n++
			}
		}
		w.add(cond+")))", kv...)
	}
	if q.Contains != "" {
		w.add("positionCaseInsensitiveUTF8(Body, {contains:String}) > 0", "contains", q.Contains)
	}
	if q.TraceID != "" {
		id, err := ParseTraceID(q.TraceID)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
		}
		w.add("TraceId = {traceid:String}", "traceid", id.String())
	}
	query := logSelect + "\nFROM " + s.l.Name(LogsTable) + w.sql() +
		"\nORDER BY Timestamp DESC\nLIMIT " + strconv.Itoa(limit)
	logs, err := s.queryLogs(ctx, query, w.args)
	if err != nil {
		return nil, fmt.Errorf("search logs: %w", err)
	}
	return logs, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Store) querySpans(ctx context.Context, query string, args []any) ([]Span, error) {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Span
	for rows.Next() {
		sp, err := scanSpan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

func scanSpan(rows driver.Rows) (Span, error) {
	var (
		sp      Span
		dur     uint64
		evTimes []time.Time
		evNames []string
		evAttrs []map[string]string
		lTraces []string
		lSpans  []string
		lStates []string
		lAttrs  []map[string]string
	)
	if err := rows.Scan(&sp.Timestamp, &sp.TraceID, &sp.SpanID, &sp.ParentSpanID, &sp.TraceState, &sp.Name, &sp.Kind,
		&sp.ServiceName, &sp.ResourceAttributes, &sp.ScopeName, &sp.ScopeVersion, &sp.Attributes, &dur,
		&sp.StatusCode, &sp.StatusMessage, &evTimes, &evNames, &evAttrs, &lTraces, &lSpans, &lStates, &lAttrs); err != nil {
		return sp, fmt.Errorf("scan span: %w", err)
	}
	sp.Timestamp = sp.Timestamp.UTC()
	sp.Duration = time.Duration(dur)
	for i := range evTimes {
		ev := SpanEvent{Timestamp: evTimes[i].UTC()}
		if i < len(evNames) {
			ev.Name = evNames[i]
		}
		if i < len(evAttrs) {
			ev.Attributes = evAttrs[i]
		}
		sp.Events = append(sp.Events, ev)
	}
	for i := range lTraces {
		l := SpanLink{TraceID: lTraces[i]}
		if i < len(lSpans) {
			l.SpanID = lSpans[i]
		}
		if i < len(lStates) {
			l.TraceState = lStates[i]
		}
		if i < len(lAttrs) {
			l.Attributes = lAttrs[i]
		}
		sp.Links = append(sp.Links, l)
	}
	return sp, nil
}

func (s *Store) queryLogs(ctx context.Context, query string, args []any) ([]LogRecord, error) {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LogRecord
	for rows.Next() {
		var r LogRecord
		if err := rows.Scan(&r.Timestamp, &r.TraceID, &r.SpanID, &r.TraceFlags, &r.SeverityText, &r.SeverityNumber,
			&r.ServiceName, &r.Body, &r.ResourceSchemaURL, &r.ResourceAttributes, &r.ScopeSchemaURL, &r.ScopeName,
			&r.ScopeVersion, &r.ScopeAttributes, &r.Attributes, &r.EventName); err != nil {
			return nil, fmt.Errorf("scan log: %w", err)
		}
		r.Timestamp = r.Timestamp.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
