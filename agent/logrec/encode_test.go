package logrec

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/flowlens/flowlens/internal/severity"
)

func TestBatchDecodesWithPdata(t *testing.T) {
	b := NewBatch([]Attr{{"host.name", "h1"}, {"deployment.environment", "prod"}}, "checkout", []Attr{{"log.file.name", "app.log"}}, "v1")
	var r Record
	r.TimeUnixNano = 1700000000123456789
	r.ObservedUnixNano = 1700000000200000000
	r.SeverityNumber = severity.Error
	r.SeverityText = []byte("ERROR")
	r.Body = []byte("payment failed")
	r.HasTraceID = true
	r.TraceID = [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	r.HasSpanID = true
	r.SpanID = [8]byte{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	r.Flags = 1
	r.AddString([]byte("user"), []byte("ann"))
	r.AddInt([]byte("n"), -42)
	r.AddDouble([]byte("ratio"), 0.5)
	r.AddBool([]byte("ok"), true)
	b.Add(&r)
	r.Reset()
	r.Body = []byte("other service")
	r.Service = []byte("billing")
	b.Add(&r)
	r.Reset()
	r.Body = []byte("")
	b.Add(&r)
	if b.Len() != 3 {
		t.Fatalf("len %d", b.Len())
	}
	data := b.AppendRequest(nil)
	if b.Len() != 0 || b.Size() != 0 {
		t.Fatal("batch not reset")
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(data); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	logs := req.Logs()
	if logs.ResourceLogs().Len() != 2 {
		t.Fatalf("resource logs %d", logs.ResourceLogs().Len())
	}
	rl := logs.ResourceLogs().At(0)
	attrs := rl.Resource().Attributes()
	if v, _ := attrs.Get("service.name"); v.Str() != "checkout" {
		t.Errorf("service.name %q", v.Str())
	}
	if v, _ := attrs.Get("host.name"); v.Str() != "h1" {
		t.Errorf("host.name %q", v.Str())
	}
	sl := rl.ScopeLogs().At(0)
	if sl.Scope().Name() != ScopeName || sl.Scope().Version() != "v1" {
		t.Errorf("scope %q %q", sl.Scope().Name(), sl.Scope().Version())
	}
	if sl.LogRecords().Len() != 2 {
		t.Fatalf("records %d", sl.LogRecords().Len())
	}
	lr := sl.LogRecords().At(0)
	if lr.Timestamp() != 1700000000123456789 || lr.ObservedTimestamp() != 1700000000200000000 {
		t.Errorf("times %d %d", lr.Timestamp(), lr.ObservedTimestamp())
	}
	if lr.SeverityNumber() != plog.SeverityNumberError || lr.SeverityText() != "ERROR" {
		t.Errorf("severity %v %q", lr.SeverityNumber(), lr.SeverityText())
	}
	if lr.Body().Str() != "payment failed" {
		t.Errorf("body %q", lr.Body().Str())
	}
	if lr.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || lr.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("ids %s %s", lr.TraceID(), lr.SpanID())
	}
	if lr.Flags() != 1 {
		t.Errorf("flags %d", lr.Flags())
	}
	la := lr.Attributes()
	if v, _ := la.Get("user"); v.Str() != "ann" {
		t.Errorf("user %v", v.AsRaw())
	}
	if v, _ := la.Get("n"); v.Int() != -42 {
		t.Errorf("n %v", v.AsRaw())
	}
	if v, _ := la.Get("ratio"); v.Double() != 0.5 {
		t.Errorf("ratio %v", v.AsRaw())
	}
	if v, _ := la.Get("ok"); !v.Bool() {
		t.Errorf("ok %v", v.AsRaw())
	}
	if v, _ := la.Get("log.file.name"); v.Str() != "app.log" {
		t.Errorf("log.file.name %v", v.AsRaw())
	}
	rl2 := logs.ResourceLogs().At(1)
	if v, _ := rl2.Resource().Attributes().Get("service.name"); v.Str() != "billing" {
		t.Errorf("second service %q", v.Str())
	}
	if v, _ := rl2.Resource().Attributes().Get("host.name"); v.Str() != "h1" {
		t.Errorf("second host %q", v.Str())
	}
	// the batch is reusable after AppendRequest
	r.Reset()
	r.Body = []byte("again")
	b.Add(&r)
	req2 := plogotlp.NewExportRequest()
	if err := req2.UnmarshalProto(b.AppendRequest(nil)); err != nil {
		t.Fatal(err)
	}
	if req2.Logs().LogRecordCount() != 1 {
		t.Fatalf("count %d", req2.Logs().LogRecordCount())
	}
}

func BenchmarkBatchAdd(b *testing.B) {
	bt := NewBatch([]Attr{{"host.name", "h1"}}, "svc", []Attr{{"log.file.name", "app.log"}}, "")
	var r Record
	r.TimeUnixNano = 1700000000123456789
	r.SeverityNumber = severity.Info
	r.SeverityText = []byte("info")
	r.Body = []byte("GET /api/v1/orders/12345 completed in 23ms with status 200 for user 4711 from 10.0.0.1")
	r.AddString([]byte("method"), []byte("GET"))
	r.AddInt([]byte("status"), 200)
	r.AddString([]byte("path"), []byte("/api/v1/orders/12345"))
	var out []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bt.Add(&r)
		if bt.Len() == 1000 {
			out = bt.AppendRequest(out[:0])
		}
	}
	_ = out
}
