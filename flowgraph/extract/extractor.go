package extract

import (
	"bytes"
	"unsafe"

	"github.com/flowlens/flowlens/conformance/policy"
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Names are the configurable attribute and event names the Extractor reads.
// The well-known semantic-convention names (peer.service, server.address,
// net.peer.name, url.full, http.url, rpc.service, db.*, messaging.*,
// http.request.resend_count) are fixed.
type Names struct {
	Retry        string `yaml:"retry"`         // extra retry-count attribute (int, or bool true = 1)
	BreakerState string `yaml:"breaker_state"` // breaker state attribute: closed | open | half_open
	BreakerName  string `yaml:"breaker_name"`  // breaker target attribute
	BreakerEvent string `yaml:"breaker_event"` // span event carrying a breaker state change
}

// DefaultNames is the documented default convention.
var DefaultNames = Names{
	Retry:        "retry.attempt",
	BreakerState: "breaker.state",
	BreakerName:  "breaker.name",
	BreakerEvent: "breaker.state_change",
}

// UnknownService names spans whose resource has no service.name.
const UnknownService = "unknown_service"

// Handler receives extracted spans. The *Span is reused: copy what you keep.
type Handler interface {
	HandleSpan(s *Span)
}

// BreakerHandler receives breaker observations from log records.
type BreakerHandler interface {
	HandleBreaker(service intern.ID, obs BreakerObs)
}

// LogPolicyHandler is a BreakerHandler that also counts, per resource,
// how many log records carry what the logging policy asks for
// (conformance/policy); Logs and LogsProtobuf call it once per resource.
type LogPolicyHandler interface {
	BreakerHandler
	HandleLogPolicy(service intern.ID, c LogPolicyCounts)
}

// LogPolicyCounts counts the log records of one resource, and those of
// them that carry each field of the logging policy.
type LogPolicyCounts struct {
	Records                                             uint64
	ServiceName, Instance, Timestamp, Severity, TraceID uint64
}

// Add adds o to c.
func (c *LogPolicyCounts) Add(o LogPolicyCounts) {
	c.Records += o.Records
	c.ServiceName += o.ServiceName
	c.Instance += o.Instance
	c.Timestamp += o.Timestamp
	c.Severity += o.Severity
	c.TraceID += o.TraceID
}

// resourceIdentity counts the resource-level fields: every record of the
// resource has them or none does.
func (c *LogPolicyCounts) resourceIdentity(hasName, hasInstance bool) {
	if hasName {
		c.ServiceName = c.Records
	}
	if hasInstance {
		c.Instance = c.Records
	}
}

// record counts one record's own fields.
func (c *LogPolicyCounts) record(ts uint64, sevNumber uint64, sevText bool, traceID []byte) {
	c.Records++
	if ts != 0 {
		c.Timestamp++
	}
	if sevNumber != 0 || sevText {
		c.Severity++
	}
	if len(traceID) == 16 && !allZero(traceID) {
		c.TraceID++
	}
}

// instanceSet says whether an instance attribute's value names one, as the
// protobuf path reads it: a non-empty string, a number, or true.
func instanceSet(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str() != ""
	case pcommon.ValueTypeInt:
		return true
	case pcommon.ValueTypeBool:
		return v.Bool()
	}
	return false
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Extractor walks pdata and fills one reused Span. Not safe for concurrent
// use: each pairing shard owns one, with the shard's intern.Table.
type Extractor struct {
	names   Names
	strings *intern.Cache
	span    Span
	links   []Link
	brk     []BreakerObs

	// per-attribute-walk scratch, kept in the struct so the Range callback
	// does not capture locals
	brkState  breaker.State
	brkTarget intern.ID

	events   [][]byte // protobuf path: the span's events, read after its attributes
	keyLimit int      // protobuf path: longest attribute key worth comparing
}

// New returns an Extractor interning into t (through its own cache). Empty
// names take DefaultNames.
func New(names Names, t *intern.Table) *Extractor {
	if names.Retry == "" {
		names.Retry = DefaultNames.Retry
	}
	if names.BreakerState == "" {
		names.BreakerState = DefaultNames.BreakerState
	}
	if names.BreakerName == "" {
		names.BreakerName = DefaultNames.BreakerName
	}
	if names.BreakerEvent == "" {
		names.BreakerEvent = DefaultNames.BreakerEvent
	}
	e := &Extractor{names: names, strings: intern.NewCache(t), links: make([]Link, 0, 8), brk: make([]BreakerObs, 0, 4)}
	e.keyLimit = e.maxKeyLen()
	return e
}

// Strings is the intern table the Extractor fills.
func (e *Extractor) Strings() *intern.Table { return e.strings.Table() }

// Traces hands every span of td to h and returns the number of spans.
func (e *Extractor) Traces(td ptrace.Traces, h Handler) int {
	n := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		svc := e.service(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				e.fill(spans.At(k), svc)
				h.HandleSpan(&e.span)
				n++
			}
		}
	}
	return n
}

// Logs hands every breaker observation found in the log records of ld to h
// (records carrying the breaker state attribute) and returns their number.
// A LogPolicyHandler also gets each resource's LogPolicyCounts.
func (e *Extractor) Logs(ld plog.Logs, h BreakerHandler) int {
	n := 0
	ph, _ := h.(LogPolicyHandler)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		var svc intern.ID
		svcDone := false
		var counts LogPolicyCounts
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				r := recs.At(k)
				if ph != nil {
					tid := r.TraceID()
					counts.record(uint64(r.Timestamp()), uint64(r.SeverityNumber()), r.SeverityText() != "", tid[:])
				}
				e.brkState, e.brkTarget = breaker.Unknown, intern.None
				r.Attributes().Range(e.breakerAttr)
				if e.brkState == breaker.Unknown {
					continue
				}
				if !svcDone {
					svc, svcDone = e.service(rl.Resource().Attributes()), true
				}
				ts := int64(r.Timestamp())
				if ts == 0 {
					ts = int64(r.ObservedTimestamp())
				}
				h.HandleBreaker(svc, BreakerObs{Target: e.brkTarget, State: e.brkState, TimeNs: ts})
				n++
			}
		}
		if ph != nil && counts.Records > 0 {
			if !svcDone {
				svc = e.service(rl.Resource().Attributes())
			}
			attrs := rl.Resource().Attributes()
			name, hasName := attrs.Get("service.name")
			hasInstance := false
			attrs.Range(func(k string, v pcommon.Value) bool {
				if policy.IsInstanceKey(k) && instanceSet(v) {
					hasInstance = true
					return false
				}
				return true
			})
			counts.resourceIdentity(hasName && name.Type() == pcommon.ValueTypeStr && name.Str() != "", hasInstance)
			ph.HandleLogPolicy(svc, counts)
		}
	}
	return n
}

func (e *Extractor) service(attrs pcommon.Map) intern.ID {
	if v, ok := attrs.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
		return e.strings.ID(v.Str())
	}
	return e.strings.ID(UnknownService)
}

func (e *Extractor) fill(sp ptrace.Span, svc intern.ID) {
	s := &e.span
	s.TraceID = TraceID(sp.TraceID())
	s.SpanID = SpanID(sp.SpanID())
	s.ParentID = SpanID(sp.ParentSpanID())
	s.Kind = Kind(sp.Kind())
	s.Error = sp.Status().Code() == ptrace.StatusCodeError
	s.Service = svc
	s.StartNs = int64(sp.StartTimestamp())
	s.EndNs = int64(sp.EndTimestamp())
	s.PeerService, s.ServerAddress, s.DBSystem, s.DBName, s.MsgSystem, s.Destination = 0, 0, 0, 0, 0, 0
	s.URLHost, s.RPCService = 0, 0
	s.Retries = 0
	e.brkState, e.brkTarget = breaker.Unknown, intern.None
	sp.Attributes().Range(e.spanAttr)

	e.spanBreaker(s)
	if evs := sp.Events(); evs.Len() > 0 {
		for i := 0; i < evs.Len(); i++ {
			ev := evs.At(i)
			if ev.Name() != e.names.BreakerEvent {
				continue
			}
			e.brkState, e.brkTarget = breaker.Unknown, intern.None
			ev.Attributes().Range(e.breakerAttr)
			if e.brkState == breaker.Unknown {
				continue
			}
			t := e.brkTarget
			if t == intern.None {
				t = s.Peer()
			}
			e.brk = append(e.brk, BreakerObs{Target: t, State: e.brkState, TimeNs: int64(ev.Timestamp())})
		}
	}
	s.Breakers = e.brk

	e.links = e.links[:0]
	if ls := sp.Links(); ls.Len() > 0 {
		for i := 0; i < ls.Len(); i++ {
			l := ls.At(i)
			e.links = append(e.links, Link{TraceID: TraceID(l.TraceID()), SpanID: SpanID(l.SpanID())})
		}
	}
	s.Links = e.links
}

// Attribute value kinds, shared by the pdata and the protobuf paths.
const (
	valOther uint8 = iota
	valStr
	valInt
	valBool
)

// spanAttr reads one span attribute (pdata path). A method value bound once
// per call is cheaper than a closure and does not escape.
// spanBreaker gives s the breaker state its attributes named (read into
// e.brkState and e.brkTarget) and starts the span's breaker observations
// with it: toward the named target, else the span's peer, at the span's end.
func (e *Extractor) spanBreaker(s *Span) {
	s.Breaker, s.BreakerName = e.brkState, e.brkTarget
	e.brk = e.brk[:0]
	if e.brkState != breaker.Unknown {
		t := e.brkTarget
		if t == intern.None {
			t = s.Peer()
		}
		e.brk = append(e.brk, BreakerObs{Target: t, State: e.brkState, TimeNs: s.EndNs})
	}
}

func (e *Extractor) spanAttr(k string, v pcommon.Value) bool {
	kind, str, n := pdataValue(v)
	e.applySpanAttr(k, kind, str, n)
	return true
}

func (e *Extractor) breakerAttr(k string, v pcommon.Value) bool {
	kind, str, _ := pdataValue(v)
	e.applyBreakerAttr(k, kind, str)
	return true
}

// pdataValue views a pdata value without copying: strings as read-only bytes.
func pdataValue(v pcommon.Value) (uint8, []byte, int64) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		return valStr, unsafe.Slice(unsafe.StringData(s), len(s)), 0
	case pcommon.ValueTypeInt:
		return valInt, nil, v.Int()
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return valBool, nil, 1
		}
		return valBool, nil, 0
	}
	return valOther, nil, 0
}

// applySpanAttr sets what one attribute says. str is only read.
func (e *Extractor) applySpanAttr(k string, kind uint8, str []byte, n int64) {
	s := &e.span
	switch k {
	case "peer.service":
		s.PeerService = e.str(kind, str)
	case "server.address":
		s.ServerAddress = e.str(kind, str)
	case "net.peer.name":
		if s.ServerAddress == intern.None {
			s.ServerAddress = e.str(kind, str)
		}
	case "url.full", "http.url":
		if kind == valStr && s.URLHost == intern.None {
			if h := urlHost(str); len(h) > 0 {
				s.URLHost = e.strings.IDBytes(h)
			}
		}
	case "rpc.service":
		s.RPCService = e.str(kind, str)
	case "db.system", "db.system.name":
		s.DBSystem = e.str(kind, str)
	case "db.name", "db.namespace":
		s.DBName = e.str(kind, str)
	case "messaging.system":
		s.MsgSystem = e.str(kind, str)
	case "messaging.destination.name", "messaging.destination":
		s.Destination = e.str(kind, str)
	case "http.request.resend_count":
		if c := count(kind, str, n); c > s.Retries {
			s.Retries = c
		}
	default:
		switch k {
		case e.names.Retry:
			if c := count(kind, str, n); c > s.Retries {
				s.Retries = c
			}
		case e.names.BreakerState, e.names.BreakerName:
			e.applyBreakerAttr(k, kind, str)
		}
	}
}

func (e *Extractor) applyBreakerAttr(k string, kind uint8, str []byte) {
	switch k {
	case e.names.BreakerState:
		if kind == valStr {
			e.brkState = breaker.ParseStateBytes(str)
		}
	case e.names.BreakerName:
		e.brkTarget = e.str(kind, str)
	}
}

func (e *Extractor) str(kind uint8, b []byte) intern.ID {
	if kind != valStr {
		return intern.None
	}
	return e.strings.IDBytes(b)
}

// urlHost is the host of an absolute URL (scheme://[userinfo@]host[:port]/...),
// without port or IPv6 brackets, as server.address would give it; nil when
// there is none. It slices b: the span path allocates nothing.
func urlHost(b []byte) []byte {
	i := bytes.Index(b, []byte("://"))
	if i < 0 {
		return nil
	}
	b = b[i+3:]
	if j := bytes.IndexAny(b, "/?#"); j >= 0 {
		b = b[:j]
	}
	if j := bytes.LastIndexByte(b, '@'); j >= 0 {
		b = b[j+1:]
	}
	if len(b) > 0 && b[0] == '[' {
		if j := bytes.IndexByte(b, ']'); j > 0 {
			return b[1:j]
		}
		return nil
	}
	if j := bytes.LastIndexByte(b, ':'); j >= 0 {
		b = b[:j]
	}
	return b
}

// count reads a retry count: an int, a numeric string, or a bool (true = 1).
func count(kind uint8, str []byte, n int64) uint32 {
	switch kind {
	case valInt:
		if n > 0 {
			if n > 1<<31 {
				return 1 << 31
			}
			return uint32(n)
		}
	case valBool:
		if n != 0 {
			return 1
		}
	case valStr:
		var c uint32
		for _, d := range str {
			if d < '0' || d > '9' || c > 1<<27 {
				return c
			}
			c = c*10 + uint32(d-'0')
		}
		return c
	}
	return 0
}
