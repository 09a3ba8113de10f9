package otlpin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/component"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func startWith(t *testing.T, sink Sink, edit func(*Config)) *Receiver {
	t.Helper()
	var cfg Config
	cfg.GRPC.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	edit(&cfg)
	r, err := New(cfg, Settings{Settings: component.Settings{Logger: zaptest.NewLogger(t)}, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return r
}

// slowHTTPClient sends a request's headers and one byte of its body, then
// nothing: a slowloris client that would send the rest at 1 byte a second.
func slowHTTPClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /v1/traces HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\nx", addr, ctProto)
	return c
}

// exportGRPC sends one span over a new connection and returns the error.
func exportGRPC(t *testing.T, addr string, timeout time.Duration) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, traces(1))
	return err
}

// exportHTTP posts one span and returns the status code (0 for an error).
func exportHTTP(t *testing.T, addr string, timeout time.Duration) (int, error) {
	t.Helper()
	pb, _ := traces(1).MarshalProto()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/traces", bytes.NewReader(pb))
	req.Header.Set("Content-Type", ctProto)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// Twice as many slowloris clients as there are slots: valid requests over
// HTTP and gRPC are still answered, while the slow clients wait for their
// bodies, and the slow clients are cut off at the request timeout.
func TestSlowHTTPClientsDoNotStarveOthers(t *testing.T) {
	sink := &fakeSink{}
	r := startWith(t, sink, func(c *Config) {
		c.MaxConcurrentRequests = 4
		c.HTTP.RequestTimeout = 3 * time.Second
	})
	var slow []net.Conn
	for range 8 {
		slow = append(slow, slowHTTPClient(t, r.HTTPAddr()))
	}
	// Give the slow clients a round trip to reach the handler first.
	for _, c := range slow {
		if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("slow client answered early: %v", err)
		}
	}

	// Valid clients are answered long before the slow ones are cut off.
	if code, err := exportHTTP(t, r.HTTPAddr(), 2*time.Second); err != nil || code != http.StatusOK {
		t.Errorf("valid HTTP request while slow clients hold connections: %d %v", code, err)
	}
	if err := exportGRPC(t, r.GRPCAddr(), 2*time.Second); err != nil {
		t.Errorf("valid gRPC request while slow HTTP clients hold connections: %v", err)
	}
	if sink.spans.Load() != 2 {
		t.Errorf("sink got %d spans, want 2", sink.spans.Load())
	}

	// The slow clients are answered (408) or dropped, not held.
	for i, c := range slow {
		if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("slow client %d still connected long after the request timeout", i)
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			t.Errorf("slow client %d: 200 for a body it never sent", i)
		}
	}
}

// gRPC streams whose request never arrives end at the request timeout
// instead of holding the connection's streams and their goroutines
// forever; a valid client on its own connection is answered meanwhile.
func TestSlowGRPCStreamsAreCutOff(t *testing.T) {
	sink := &fakeSink{}
	r := startWith(t, sink, func(c *Config) {
		c.GRPC.RequestTimeout = 2 * time.Second
		c.GRPC.MaxConcurrentStreams = 4
	})
	conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Streams opened and never sent on: the server waits for their message.
	ended := make(chan error, 4)
	for range 4 {
		st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true},
			"/opentelemetry.proto.collector.trace.v1.TraceService/Export")
		if err != nil {
			t.Fatal(err)
		}
		go func() { ended <- st.RecvMsg(new(ptraceotlp.ExportResponse)) }()
	}

	if err := exportGRPC(t, r.GRPCAddr(), 2*time.Second); err != nil {
		t.Errorf("valid gRPC request beside slow streams: %v", err)
	}
	for range 4 {
		select {
		case err := <-ended:
			if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.Canceled {
				t.Errorf("slow stream ended with %v, want the server's deadline", err)
			}
		case <-ctx.Done():
			t.Fatal("slow streams still open long after the request timeout")
		}
	}
	// The connection that carried them serves again.
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, traces(1)); err != nil {
		t.Errorf("export on the connection of the slow streams: %v", err)
	}
}

// panicSink panics on a span named "boom".
type panicSink struct{ fakeSink }

func (s *panicSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name() == "boom" {
		panic("sink bug")
	}
	return s.fakeSink.ConsumeTraces(ctx, td)
}

func (s *panicSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return s.fakeSink.ConsumeLogs(ctx, ld)
}

// A request whose handling panics fails alone: gRPC answers INTERNAL, HTTP
// 500, the process lives and the next requests are taken.
func TestPanicFailsOnlyItsRequest(t *testing.T) {
	sink := &panicSink{}
	r := startWith(t, sink, func(*Config) {})
	boom := traces(1)
	boom.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("boom")

	conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := ptraceotlp.NewGRPCClient(conn)
	if _, err := c.Export(context.Background(), boom); status.Code(err) != codes.Internal {
		t.Errorf("gRPC request that panics: %v, want INTERNAL", err)
	}
	if _, err := c.Export(context.Background(), traces(1)); err != nil {
		t.Errorf("gRPC after a panic: %v", err)
	}

	pb, _ := boom.MarshalProto()
	if resp := post(t, r, "/v1/traces", ctProto, "", pb); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("HTTP request that panics: %d, want 500", resp.StatusCode)
	}
	if code, err := exportHTTP(t, r.HTTPAddr(), 10*time.Second); err != nil || code != http.StatusOK {
		t.Errorf("HTTP after a panic: %d %v", code, err)
	}
	if sink.spans.Load() != 2 || r.Stats().Failed != 2 {
		t.Errorf("spans %d, failed %d; want 2 and 2", sink.spans.Load(), r.Stats().Failed)
	}
	// All slots came back.
	if len(r.grpcSlots)+len(r.httpSlots) != 0 {
		t.Errorf("slots held after the panics: grpc %d, http %d", len(r.grpcSlots), len(r.httpSlots))
	}
}
