package extract_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/flowgraph/pairing"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type storeHandler struct {
	st  *pairing.Store
	now int64
}

func (h *storeHandler) HandleSpan(s *extract.Span) { h.st.Add(s, h.now) }

func seed() []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "a")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for i, k := range []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindProducer, ptrace.SpanKindConsumer} {
		s := ss.AppendEmpty()
		s.SetKind(k)
		s.SetTraceID(pcommon.TraceID{1, 2, 3})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if i > 0 {
			s.SetParentSpanID(pcommon.SpanID{byte(i)})
		}
		s.SetStartTimestamp(pcommon.Timestamp(1e18))
		s.SetEndTimestamp(pcommon.Timestamp(1e18 + 5e6))
		s.Attributes().PutStr("peer.service", "b")
		s.Attributes().PutStr("messaging.destination.name", "q")
		s.Attributes().PutStr("breaker.state", "open")
		s.Attributes().PutInt("http.request.resend_count", 1)
		s.Links().AppendEmpty().SetSpanID(pcommon.SpanID{3})
		ev := s.Events().AppendEmpty()
		ev.SetName("breaker.state_change")
		ev.Attributes().PutStr("breaker.state", "half_open")
	}
	var m ptrace.ProtoMarshaler
	b, _ := m.MarshalTraces(td)
	return b
}

// FuzzTraces feeds arbitrary OTLP protobuf through extraction and pairing:
// nothing may panic or hang, and the store never exceeds its size.
func FuzzTraces(f *testing.F) {
	f.Add(seed())
	f.Add([]byte{})
	names := intern.NewTable(1000)
	agg := edges.NewAggregator(edges.Config{MaxLatenessNs: int64(time.Hour), MaxFutureNs: int64(time.Hour)}, names)
	h := &storeHandler{st: pairing.New(pairing.Config{Wait: time.Second, MaxItems: 64}, names, agg)}
	ex := extract.New(extract.DefaultNames, names)
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := u.UnmarshalTraces(b)
		if err != nil {
			return
		}
		h.now += int64(100 * time.Millisecond)
		agg.SetNow(h.now)
		ex.Traces(td, h)
		h.st.Expire(h.now)
		if h.st.Len() > 64 {
			t.Fatalf("store holds %d", h.st.Len())
		}
		_ = agg.Drain(nil, 1<<62)
	})
}

type record struct {
	spans  []extract.Span
	links  [][]extract.Link
	brk    [][]extract.BreakerObs
	intern *intern.Table
}

func (r *record) HandleSpan(s *extract.Span) {
	c := *s
	c.Links, c.Breakers = nil, nil
	r.spans = append(r.spans, c)
	r.links = append(r.links, append([]extract.Link{}, s.Links...))
	r.brk = append(r.brk, append([]extract.BreakerObs{}, s.Breakers...))
}

// FuzzProtobufMatchesPdata: for every request pdata accepts, reading the
// protobuf in place yields exactly the spans extracted from pdata.
func FuzzProtobufMatchesPdata(f *testing.F) {
	f.Add(seed())
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, b []byte) {
		names := intern.NewTable(0)
		ex := extract.New(extract.DefaultNames, names)
		var viaWire record
		_, werr := ex.Protobuf(b, &viaWire)
		td, err := u.UnmarshalTraces(b)
		if err != nil {
			return
		}
		if werr != nil {
			t.Fatalf("pdata accepts what the protobuf path refuses: %v", werr)
		}
		var viaPdata record
		ex.Traces(td, &viaPdata)
		if len(viaWire.spans) != len(viaPdata.spans) {
			t.Fatalf("%d spans via protobuf, %d via pdata", len(viaWire.spans), len(viaPdata.spans))
		}
		for i := range viaPdata.spans {
			if fmt.Sprintf("%+v", viaWire.spans[i]) != fmt.Sprintf("%+v", viaPdata.spans[i]) {
				t.Fatalf("span %d:\nprotobuf %+v\npdata    %+v", i, viaWire.spans[i], viaPdata.spans[i])
			}
			if fmt.Sprint(viaWire.links[i], viaWire.brk[i]) != fmt.Sprint(viaPdata.links[i], viaPdata.brk[i]) {
				t.Fatalf("span %d links/breakers:\nprotobuf %v %v\npdata    %v %v", i, viaWire.links[i], viaWire.brk[i], viaPdata.links[i], viaPdata.brk[i])
			}
		}
	})
}

// TestProtobufMatchesPdataOnMutations runs the differential check of
// FuzzProtobufMatchesPdata over deterministic random mutations of the seed
// (byte flips, truncations, duplicated ranges), so it runs in every test.
func TestProtobufMatchesPdataOnMutations(t *testing.T) {
	base := seed()
	r := rand.New(rand.NewPCG(7, 7))
	var u ptrace.ProtoUnmarshaler
	accepted := 0
	for i := 0; i < 20000; i++ {
		b := mutate(r, base)
		names := intern.NewTable(0)
		ex := extract.New(extract.DefaultNames, names)
		var viaWire, viaPdata record
		_, werr := ex.Protobuf(b, &viaWire)
		td, err := u.UnmarshalTraces(b)
		if err != nil {
			continue
		}
		accepted++
		if werr != nil {
			t.Fatalf("mutation %d: pdata accepts what the protobuf path refuses: %v", i, werr)
		}
		ex.Traces(td, &viaPdata)
		if fmt.Sprintf("%+v %v %v", viaWire.spans, viaWire.links, viaWire.brk) != fmt.Sprintf("%+v %v %v", viaPdata.spans, viaPdata.links, viaPdata.brk) {
			t.Fatalf("mutation %d differs:\nprotobuf %+v %v %v\npdata    %+v %v %v", i, viaWire.spans, viaWire.links, viaWire.brk, viaPdata.spans, viaPdata.links, viaPdata.brk)
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d mutations were valid requests", accepted)
	}
	t.Logf("%d valid mutations compared", accepted)
}

// breakers records the breaker observations a Logs call hands over.
type breakers struct{ obs []string }

func (b *breakers) HandleBreaker(svc intern.ID, o extract.BreakerObs) {
	b.obs = append(b.obs, fmt.Sprintf("%d %+v", svc, o))
}

// policies records breaker observations and each resource's counts of
// the logging policy's fields.
type policies struct {
	breakers
	counts []string
}

func (p *policies) HandleLogPolicy(svc intern.ID, c extract.LogPolicyCounts) {
	p.counts = append(p.counts, fmt.Sprintf("%d %+v", svc, c))
}

func logsSeed() []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "fulfilment")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, s := range []string{"closed", "open", "half_open", ""} {
		r := recs.AppendEmpty()
		if i != 2 {
			r.SetTimestamp(pcommon.Timestamp(1e18 + int64(i)))
		}
		r.SetObservedTimestamp(pcommon.Timestamp(2e18))
		r.Body().SetStr("breaker changed")
		r.Attributes().PutStr("http.route", "/orders")
		if s != "" {
			r.Attributes().PutStr("breaker.state", s)
		}
		r.Attributes().PutStr("breaker.name", "orders_db")
		if i%2 == 0 {
			r.SetTraceID(pcommon.TraceID{byte(i + 1)})
			r.SetSeverityNumber(plog.SeverityNumberWarn)
		} else {
			r.SetSeverityText("warn")
		}
	}
	rl.Resource().Attributes().PutStr("host.name", "node-1")
	other := ld.ResourceLogs().AppendEmpty() // no service.name
	r := other.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.Attributes().PutStr("breaker.state", "open")
	r.Attributes().PutInt("breaker.name", 7)
	var m plog.ProtoMarshaler
	b, _ := m.MarshalLogs(ld)
	return b
}

// logsAgree checks that the protobuf path finds what the pdata path finds
// in b, whenever pdata accepts b; it reports whether pdata did.
func logsAgree(t *testing.T, b []byte) bool {
	t.Helper()
	names := intern.NewTable(0)
	ex := extract.New(extract.DefaultNames, names)
	var viaWire, viaPdata policies
	_, werr := ex.LogsProtobuf(b, &viaWire)
	var u plog.ProtoUnmarshaler
	ld, err := u.UnmarshalLogs(b)
	if err != nil {
		return false
	}
	if werr != nil {
		t.Fatalf("pdata accepts what the protobuf path refuses: %v", werr)
	}
	ex.Logs(ld, &viaPdata)
	if fmt.Sprint(viaWire.obs) != fmt.Sprint(viaPdata.obs) {
		t.Fatalf("breaker observations differ:\nprotobuf %v\npdata    %v", viaWire.obs, viaPdata.obs)
	}
	if fmt.Sprint(viaWire.counts) != fmt.Sprint(viaPdata.counts) {
		t.Fatalf("logging policy counts differ:\nprotobuf %v\npdata    %v", viaWire.counts, viaPdata.counts)
	}
	return true
}

func TestLogsProtobufFindsBreakers(t *testing.T) {
	names := intern.NewTable(0)
	ex := extract.New(extract.DefaultNames, names)
	var got breakers
	n, err := ex.LogsProtobuf(logsSeed(), &got)
	if err != nil || n != 4 {
		t.Fatalf("found %d observations, err %v; want 4 (three states and one without a service)", n, err)
	}
	if !logsAgree(t, logsSeed()) {
		t.Fatal("pdata refused the seed")
	}
}

// Each resource's records are counted with the fields of the logging
// policy they carry: the fulfilment records have a service name and an
// instance; three of four a timestamp, all a severity, two a trace ID;
// the record of the resource without a name has none of them.
func TestLogsCountThePolicysFields(t *testing.T) {
	names := intern.NewTable(0)
	ex := extract.New(extract.DefaultNames, names)
	var got policies
	if _, err := ex.LogsProtobuf(logsSeed(), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("%d %+v", names.ID("fulfilment"), extract.LogPolicyCounts{Records: 4, ServiceName: 4, Instance: 4, Timestamp: 3, Severity: 4, TraceID: 2}),
		fmt.Sprintf("%d %+v", names.ID(extract.UnknownService), extract.LogPolicyCounts{Records: 1}),
	}
	if fmt.Sprint(got.counts) != fmt.Sprint(want) {
		t.Errorf("counts\n%v\nwant\n%v", got.counts, want)
	}
}

func FuzzLogsProtobufMatchesPdata(f *testing.F) {
	f.Add(logsSeed())
	f.Fuzz(func(t *testing.T, b []byte) { logsAgree(t, b) })
}

// TestLogsProtobufMatchesPdataOnMutations is FuzzLogsProtobufMatchesPdata
// over deterministic mutations of the seed, so that it runs in every test.
func TestLogsProtobufMatchesPdataOnMutations(t *testing.T) {
	base := logsSeed()
	r := rand.New(rand.NewPCG(11, 11))
	accepted := 0
	for i := 0; i < 20000; i++ {
		b := mutate(r, base)
		if logsAgree(t, b) {
			accepted++
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d mutations were valid requests", accepted)
	}
	t.Logf("%d valid mutations compared", accepted)
}

// BenchmarkLogs reads breaker observations from 1000 log records, one in a
// hundred with a breaker state, as the flow analyzer does for the log
// stream: through pdata, and in place.
func BenchmarkLogs(b *testing.B) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "node-7")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < 1000; i++ {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.Timestamp(1e18 + int64(i)))
		r.SetSeverityText("INFO")
		r.SetTraceID(pcommon.TraceID{byte(i), 1})
		r.SetSpanID(pcommon.SpanID{byte(i), 2})
		r.Body().SetStr("order placed for customer in region eu-west")
		for _, k := range []string{"http.route", "user.id", "order.id", "flowlens.seq", "flowlens.run", "log.file.name"} {
			r.Attributes().PutStr(k, "value-"+k)
		}
		if i%100 == 0 {
			r.Attributes().PutStr("breaker.state", "open")
			r.Attributes().PutStr("breaker.name", "payments")
		}
	}
	var m plog.ProtoMarshaler
	buf, _ := m.MarshalLogs(ld)
	ex := extract.New(extract.DefaultNames, intern.NewTable(0))
	b.Run("pdata", func(b *testing.B) {
		var u plog.ProtoUnmarshaler
		for i := 0; i < b.N; i++ {
			ld, err := u.UnmarshalLogs(buf)
			if err != nil {
				b.Fatal(err)
			}
			if n := ex.Logs(ld, &breakers{}); n != 10 {
				b.Fatalf("%d observations", n)
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if n, err := ex.LogsProtobuf(buf, &breakers{}); err != nil || n != 10 {
				b.Fatalf("%d observations, %v", n, err)
			}
		}
	})
	// what counting the logging policy's fields adds (the analyzer does)
	b.Run("protobuf+policy", func(b *testing.B) {
		var p policies
		for i := 0; i < b.N; i++ {
			p.obs, p.counts = p.obs[:0], p.counts[:0]
			if n, err := ex.LogsProtobuf(buf, &p); err != nil || n != 10 {
				b.Fatalf("%d observations, %v", n, err)
			}
		}
	})
}

// spanCounter counts the spans handed to it.
type spanCounter int

func (c *spanCounter) HandleSpan(*extract.Span) { *c++ }

// BenchmarkProtobuf reads the spans of a 512-span request (wiretest's: 19
// attributes each, 5 per trace) in place, as the flow analyzer's Kafka
// consumer does.
func BenchmarkProtobuf(b *testing.B) {
	buf, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(wiretest.Traces(0, 512, 5))
	if err != nil {
		b.Fatal(err)
	}
	ex := extract.New(extract.DefaultNames, intern.NewTable(0))
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		var c spanCounter
		if n, err := ex.Protobuf(buf, &c); err != nil || n != 512 || c != 512 {
			b.Fatalf("%d spans (%d handled), %v", n, c, err)
		}
	}
}

// mutate is a copy of base with a few bytes flipped, cut short, or a range
// repeated.
func mutate(r *rand.Rand, base []byte) []byte {
	b := append([]byte(nil), base...)
	switch r.IntN(3) {
	case 0:
		for k := 0; k < 1+r.IntN(3); k++ {
			b[r.IntN(len(b))] = byte(r.Uint32())
		}
	case 1:
		b = b[:r.IntN(len(b))]
	case 2:
		x, y := r.IntN(len(b)), r.IntN(len(b))
		if x > y {
			x, y = y, x
		}
		b = append(b[:y:y], b[x:]...)
	}
	return b
}

// TestProtobufMatchesPdataOnEveryAttribute: every key applySpanAttr
// reads, with every kind of value, on a span and on its breaker event,
// gives the same spans through the protobuf path as through pdata (the
// mutations above only vary the seed's four keys).
func TestProtobufMatchesPdataOnEveryAttribute(t *testing.T) {
	keys := []string{"peer.service", "server.address", "net.peer.name", "url.full", "http.url", "rpc.service",
		"db.system", "db.system.name", "db.name", "db.namespace", "messaging.system",
		"messaging.destination.name", "messaging.destination", "http.request.resend_count",
		extract.DefaultNames.Retry, extract.DefaultNames.BreakerState, extract.DefaultNames.BreakerName,
		"http.route", "user_agent.original"} // two the analyzer does not read
	// strings differ between a span and its event (at), so that an
	// event's value is not mistaken for the span's
	values := []func(m pcommon.Map, k, at string){
		func(m pcommon.Map, k, at string) { m.PutStr(k, "open") },
		func(m pcommon.Map, k, at string) { m.PutStr(k, "http://"+at+".example:8080/cart?id=7") },
		func(m pcommon.Map, k, at string) { m.PutStr(k, "") },
		func(m pcommon.Map, k, at string) { m.PutInt(k, 3) },
		func(m pcommon.Map, k, at string) { m.PutBool(k, true) },
		func(m pcommon.Map, k, at string) { m.PutDouble(k, 1.5) },
		func(m pcommon.Map, k, at string) { m.PutEmptySlice(k).AppendEmpty().SetStr(at) },
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "a")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for i, k := range keys {
		for j, put := range values {
			for _, kind := range []ptrace.SpanKind{ptrace.SpanKindClient, ptrace.SpanKindServer, ptrace.SpanKindConsumer} {
				s := ss.AppendEmpty()
				s.SetKind(kind)
				s.SetTraceID(pcommon.TraceID{byte(i + 1), byte(j + 1)})
				s.SetSpanID(pcommon.SpanID{byte(i + 1), byte(j + 1), byte(kind)})
				// a breaker's name counts with its state: both are there
				// (the state replaced when it is the key tested)
				s.Attributes().PutStr("http.method", "GET")
				s.Attributes().PutStr(extract.DefaultNames.BreakerState, "half_open")
				put(s.Attributes(), k, "span")
				ev := s.Events().AppendEmpty()
				ev.SetName(extract.DefaultNames.BreakerEvent)
				ev.Attributes().PutStr(extract.DefaultNames.BreakerState, "open")
				put(ev.Attributes(), k, "event")
			}
		}
	}
	var m ptrace.ProtoMarshaler
	b, err := m.MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	ex := extract.New(extract.DefaultNames, intern.NewTable(0))
	var viaWire, viaPdata record
	if _, err := ex.Protobuf(b, &viaWire); err != nil {
		t.Fatal(err)
	}
	ex.Traces(td, &viaPdata)
	if len(viaWire.spans) != len(viaPdata.spans) {
		t.Fatalf("%d spans via protobuf, %d via pdata", len(viaWire.spans), len(viaPdata.spans))
	}
	for i := range viaPdata.spans {
		got := fmt.Sprintf("%+v %v %v", viaWire.spans[i], viaWire.links[i], viaWire.brk[i])
		want := fmt.Sprintf("%+v %v %v", viaPdata.spans[i], viaPdata.links[i], viaPdata.brk[i])
		if got != want {
			k := keys[i/(3*len(values))]
			t.Errorf("attribute %q, value %d:\nprotobuf %s\npdata    %s", k, i/3%len(values), got, want)
		}
	}
}
