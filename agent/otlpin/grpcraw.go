package otlpin

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/flowlens/flowlens/internal/otlpwire"
)

// ProtoSink takes requests as their otlp_proto bytes, already checked to be
// what pdata would accept, with their record counts. When the Sink is also
// a ProtoSink, gRPC requests reach it this way: the agent forwards OTLP
// without building pdata, which cost it about 4 us per span to unmarshal
// and marshal again. b is the receiver's copy; the sink may keep it.
type ProtoSink interface {
	ConsumeTracesProto(ctx context.Context, b []byte, spans int) error
	ConsumeLogsProto(ctx context.Context, b []byte, records int) error
}

// rawMessage is a gRPC request or response as its protobuf bytes.
type rawMessage struct{ data []byte }

// rawCodec moves request and response bodies as bytes. It names itself
// "proto", the content subtype OTLP clients send.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("otlp grpc: cannot marshal %T", v)
	}
	if len(m.data) == 0 {
		return nil, nil // an empty Export*ServiceResponse
	}
	return mem.BufferSlice{mem.SliceBuffer(m.data)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("otlp grpc: cannot unmarshal into %T", v)
	}
	m.data = data.Materialize() // gRPC frees data when this returns
	return nil
}

// rawExportService describes an OTLP Export service whose requests are
// handled as bytes by export.
func rawExportService(name, file string, export func(r *Receiver, ctx context.Context, b []byte) error) *grpc.ServiceDesc {
	handler := func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		var req rawMessage
		if err := dec(&req); err != nil {
			return nil, err
		}
		r := srv.(*Receiver)
		if interceptor == nil {
			return &rawMessage{}, export(r, ctx, req.data)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + name + "/Export"}
		return interceptor(ctx, &req, info, func(ctx context.Context, req any) (any, error) {
			return &rawMessage{}, export(r, ctx, req.(*rawMessage).data)
		})
	}
	return &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: handler}},
		Metadata:    file,
	}
}

var (
	rawTraceService = rawExportService("opentelemetry.proto.collector.trace.v1.TraceService",
		"opentelemetry/proto/collector/trace/v1/trace_service.proto", (*Receiver).exportTracesProto)
	rawLogsService = rawExportService("opentelemetry.proto.collector.logs.v1.LogsService",
		"opentelemetry/proto/collector/logs/v1/logs_service.proto", (*Receiver).exportLogsProto)
)

func (r *Receiver) exportTracesProto(ctx context.Context, b []byte) error {
	return r.exportProto(ctx, b, "traces", otlpwire.ValidateTraces, r.consumeTracesProto, &r.spans)
}

func (r *Receiver) exportLogsProto(ctx context.Context, b []byte) error {
	return r.exportProto(ctx, b, "logs", otlpwire.ValidateLogs, r.consumeLogsProto, &r.logRecs)
}

// exportProto answers one gRPC export of a signal: validate (exactly what
// pdata's unmarshaller accepts, counting the records), consume, and count
// the records taken in accepted.
func (r *Receiver) exportProto(ctx context.Context, b []byte, signal string, validate func([]byte) (int, error),
	consume func(context.Context, []byte, int) (int, error), accepted *atomic.Int64) error {
	if err := acquire(ctx, r.grpcSlots); err != nil {
		return grpcError(err)
	}
	defer func() { <-r.grpcSlots }()
	n, err := validate(b)
	if err != nil {
		r.malformed.Add(1)
		return status.Error(codes.InvalidArgument, "decode "+signal+": "+err.Error())
	}
	n, err = consume(ctx, b, n)
	r.count(err)
	if err == nil {
		accepted.Add(int64(n))
	}
	return grpcError(err)
}

// consumeTracesProto hands a validated request of n spans to the sink as
// bytes, or through pdata when its records are in the pre-0.15 field that
// only pdata's request type migrates. It returns the spans taken.
func (r *Receiver) consumeTracesProto(ctx context.Context, b []byte, n int) (int, error) {
	if otlpwire.UsesDeprecatedLibraryField(b) {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		td := req.Traces()
		return td.SpanCount(), r.sink.ConsumeTraces(ctx, td)
	}
	return n, r.sink.(ProtoSink).ConsumeTracesProto(ctx, b, n)
}

// consumeLogsProto is consumeTracesProto for logs.
func (r *Receiver) consumeLogsProto(ctx context.Context, b []byte, n int) (int, error) {
	if otlpwire.UsesDeprecatedLibraryField(b) {
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		ld := req.Logs()
		return ld.LogRecordCount(), r.sink.ConsumeLogs(ctx, ld)
	}
	return n, r.sink.(ProtoSink).ConsumeLogsProto(ctx, b, n)
}
