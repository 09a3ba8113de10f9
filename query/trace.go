package query

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flowlens/flowlens/storage"
)

// Trace is one stored trace with what a waterfall needs besides: each
// span's depth in the parent tree and each span's entries (its events and
// the log records written in it, by time).
type Trace struct {
	storage.Trace
	// Depth of each span by span ID (spans whose parent is missing are
	// roots, depth 0).
	Depth map[string]int `json:"depth"`
	// Entries of each span by span ID.
	Entries map[string][]Entry `json:"entries,omitempty"`
}

// Entry kinds.
const (
	EntryEvent = "event"
	EntryLog   = "log"
)

// Entry is a span event or a log record of a span.
type Entry struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // event or log
	// Name is the event's name; a log's severity.
	Name string `json:"name"`
	// Body is a log's body.
	Body       string     `json:"body,omitempty"`
	Attributes []KeyValue `json:"attributes,omitempty"`
}

// KeyValue is an attribute; lists of them are sorted by key.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Pairs turns attributes into key/value pairs sorted by key.
func Pairs(m map[string]string) []KeyValue {
	out := make([]KeyValue, 0, len(m))
	for k, v := range m {
		out = append(out, KeyValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Trace answers one trace by ID (storage.GetTrace): storage.ErrInvalidTraceID
// for a malformed ID, storage.ErrTraceNotFound for an unknown one.
func (r Reader) Trace(ctx context.Context, id string) (Trace, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return Trace{}, fmt.Errorf("%w: no trace ID", ErrBadRequest)
	}
	tr, err := r.Store.GetTrace(ctx, id)
	if err != nil {
		return Trace{}, err
	}
	return Trace{Trace: tr, Depth: SpanDepths(tr.Spans), Entries: SpanEntries(tr)}, nil
}

// SpanEntries are each span's events and the log records stored with its
// span ID, in time order (events first at the same instant).
func SpanEntries(tr storage.Trace) map[string][]Entry {
	out := map[string][]Entry{}
	for _, sp := range tr.Spans {
		for _, ev := range sp.Events {
			out[sp.SpanID] = append(out[sp.SpanID], Entry{Time: ev.Timestamp, Kind: EntryEvent, Name: ev.Name, Attributes: Pairs(ev.Attributes)})
		}
	}
	for _, l := range tr.Logs {
		if l.SpanID == "" {
			continue
		}
		out[l.SpanID] = append(out[l.SpanID], Entry{Time: l.Timestamp, Kind: EntryLog, Name: l.SeverityText, Body: l.Body,
			Attributes: Pairs(l.Attributes)})
	}
	for _, es := range out {
		sort.SliceStable(es, func(a, b int) bool { return es[a].Time.Before(es[b].Time) })
	}
	return out
}

// SpanDepths is each span's depth in the parent tree; spans whose parent is
// missing from the trace count as roots.
func SpanDepths(spans []storage.Span) map[string]int {
	parent := make(map[string]string, len(spans))
	for _, sp := range spans {
		parent[sp.SpanID] = sp.ParentSpanID
	}
	depth := make(map[string]int, len(spans))
	var walk func(id string, seen int) int
	walk = func(id string, seen int) int {
		if d, ok := depth[id]; ok {
			return d
		}
		p, ok := parent[id]
		if !ok || p == "" || seen > len(spans) { // root, or a cycle in broken data
			depth[id] = 0
			return 0
		}
		if _, known := parent[p]; !known {
			depth[id] = 0
			return 0
		}
		d := walk(p, seen+1) + 1
		depth[id] = d
		return d
	}
	for _, sp := range spans {
		walk(sp.SpanID, 0)
	}
	return depth
}
