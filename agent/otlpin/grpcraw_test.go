package otlpin

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// protoSink is a fakeSink that also takes requests as bytes.
type protoSink struct {
	fakeSink
	mu      sync.Mutex
	got     [][]byte
	records int
}

func (s *protoSink) ConsumeTracesProto(_ context.Context, b []byte, spans int) error {
	return s.take(b, spans)
}

func (s *protoSink) ConsumeLogsProto(_ context.Context, b []byte, records int) error {
	return s.take(b, records)
}

func (s *protoSink) take(b []byte, n int) error {
	if s.err != nil {
		return s.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, bytes.Clone(b))
	s.records += n
	return nil
}

// TestProtoSinkGetsRequestsAsSent: with a ProtoSink, gRPC and protobuf
// HTTP requests arrive as the client's bytes with their record counts (no
// pdata in between), malformed ones are refused as before, and JSON still
// goes through pdata.
func TestProtoSinkGetsRequestsAsSent(t *testing.T) {
	sink := &protoSink{}
	r := start(t, sink)
	conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()

	req := traces(3)
	want, _ := req.MarshalProto()
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, req); err != nil {
		t.Fatalf("grpc traces: %v", err)
	}
	logs := plogotlp.NewExportRequest()
	rl := logs.Logs().ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	rl.AppendEmpty().Body().SetStr("a")
	rl.AppendEmpty().Body().SetStr("b")
	if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, logs); err != nil {
		t.Fatalf("grpc logs: %v", err)
	}
	if resp := post(t, r, "/v1/traces", ctProto, "", want); resp.StatusCode != http.StatusOK {
		t.Fatalf("http protobuf: %d", resp.StatusCode)
	}
	js, _ := req.MarshalJSON()
	if resp := post(t, r, "/v1/traces", ctJSON, "", js); resp.StatusCode != http.StatusOK {
		t.Fatalf("http json: %d", resp.StatusCode)
	}
	if len(sink.got) != 3 || !bytes.Equal(sink.got[0], want) || !bytes.Equal(sink.got[2], want) || sink.records != 3+2+3 {
		t.Errorf("proto sink got %d requests, %d records; want the 3 protobuf ones as sent, 8 records", len(sink.got), sink.records)
	}
	if sink.spans.Load() != 3 {
		t.Errorf("pdata sink got %d spans from the JSON request, want 3", sink.spans.Load())
	}

	// refused as malformed, with the reason; the receiver goes on
	var out rawMessage
	err = conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &rawMessage{data: []byte{0x0a, 0x05, 0x12}}, &out,
		grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed grpc request: %v, want InvalidArgument", err)
	}
	if resp := post(t, r, "/v1/traces", ctProto, "", []byte{0x0a, 0x05, 0x12}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed http request: %d, want 400", resp.StatusCode)
	}
	if st := r.Stats(); st.Malformed != 2 {
		t.Errorf("malformed requests counted: %d, want 2", st.Malformed)
	}

	// records in the pre-0.15 field reach the sink through pdata, which
	// migrates them (the bytes would carry them where nobody reads)
	span := protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), []byte("op"))
	lib := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), span)
	rs := protowire.AppendBytes(protowire.AppendTag(nil, 1000, protowire.BytesType), lib)
	old := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), rs)
	before := sink.spans.Load()
	if err := conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &rawMessage{data: old}, &out,
		grpc.ForceCodecV2(rawCodec{})); err != nil {
		t.Fatalf("deprecated-field request: %v", err)
	}
	if got := sink.spans.Load() - before; got != 1 {
		t.Errorf("deprecated-field request: the pdata sink got %d spans, want 1", got)
	}

	// sink errors shape the answer as on the pdata path
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{{ErrRetryLater, codes.ResourceExhausted}, {ErrInvalid, codes.InvalidArgument}, {errors.New("x"), codes.Unavailable}} {
		sink.err = tc.err
		if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, traces(1)); status.Code(err) != tc.code {
			t.Errorf("sink error %v: got %v, want %v", tc.err, err, tc.code)
		}
	}
}
