package loadtest

import (
	"context"
	"fmt"
	"net"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/flowlens/flowlens/loadtest/gen"
)

// Capture runs the topology like Run, its spans sent over OTLP/gRPC to a
// receiver in this process rather than to cfg.OTLP.Endpoint, and returns
// them request by request as they arrived, with the truth. It feeds the
// generator's spans to a component in-process (tests, benchmarks).
func Capture(ctx context.Context, cfg Config, opts Options) ([]ptrace.Traces, *gen.Truth, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("capture: %w", err)
	}
	k := &keeper{}
	s := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(s, k)
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	cfg.OTLP.Endpoint = ln.Addr().String()
	truth, err := Run(ctx, cfg, opts)
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.got, truth, err
}

// keeper is an OTLP trace receiver that keeps every request.
type keeper struct {
	ptraceotlp.UnimplementedGRPCServer
	mu  sync.Mutex
	got []ptrace.Traces
}

func (k *keeper) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	k.mu.Lock()
	k.got = append(k.got, td)
	k.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}
