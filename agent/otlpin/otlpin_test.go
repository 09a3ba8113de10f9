package otlpin

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/listener/listenertest"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type fakeSink struct {
	err   error
	spans atomic.Int64
}

func (s *fakeSink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	if s.err != nil {
		return s.err
	}
	s.spans.Add(int64(td.SpanCount()))
	return nil
}
func (s *fakeSink) ConsumeLogs(context.Context, plog.Logs) error { return s.err }

func start(t *testing.T, sink Sink) *Receiver {
	t.Helper()
	return startWith(t, sink, func(c *Config) { c.MaxRequestBytes = 64 << 10 })
}

func traces(n int) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < n; i++ {
		sp := ss.AppendEmpty()
		sp.SetName("op")
		sp.SetTraceID([16]byte{1, byte(i)})
		sp.SetSpanID([8]byte{1, byte(i)})
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

func post(t *testing.T, r *Receiver, path, ct, enc string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.HTTPAddr()+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestHTTPAnswers(t *testing.T) {
	sink := &fakeSink{}
	r := start(t, sink)
	pb, _ := traces(3).MarshalProto()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(pb)
	w.Close()
	for _, tc := range []struct {
		name, ct, enc string
		body          []byte
		sinkErr       error
		code          int
		retryAfter    bool
	}{
		{"protobuf", ctProto, "", pb, nil, 200, false},
		{"gzip", ctProto, "gzip", gz.Bytes(), nil, 200, false},
		{"full", ctProto, "", pb, ErrRetryLater, 429, true},
		{"invalid for the sink", ctProto, "", pb, ErrInvalid, 400, false},
		{"other sink error", ctProto, "", pb, errors.New("disk gone"), 503, true},
		{"garbage", ctProto, "", []byte{0xff, 0xff}, nil, 400, false},
		{"bad gzip", ctProto, "gzip", []byte("not gzip"), nil, 400, false},
		{"too large", ctProto, "", make([]byte, 65<<10), nil, 413, false},
		{"unknown type", "text/plain", "", pb, nil, 415, false},
		{"unknown encoding", ctProto, "br", pb, nil, 415, false},
	} {
		sink.err = tc.sinkErr
		resp := post(t, r, "/v1/traces", tc.ct, tc.enc, tc.body)
		if resp.StatusCode != tc.code || (resp.Header.Get("Retry-After") != "") != tc.retryAfter {
			t.Errorf("%s: %d Retry-After=%q, want %d retry=%v", tc.name, resp.StatusCode, resp.Header.Get("Retry-After"), tc.code, tc.retryAfter)
		}
	}
	if sink.spans.Load() != 6 {
		t.Errorf("sink got %d spans, want 6", sink.spans.Load())
	}
	resp, _ := http.Get("http://" + r.HTTPAddr() + "/v1/traces")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	st := r.Stats()
	if st.Accepted != 2 || st.Refused != 1 || st.Malformed < 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestGRPCAnswers(t *testing.T) {
	sink := &fakeSink{}
	r := start(t, sink)
	conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := ptraceotlp.NewGRPCClient(conn)
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{{nil, codes.OK}, {ErrRetryLater, codes.ResourceExhausted}, {ErrInvalid, codes.InvalidArgument}, {errors.New("x"), codes.Unavailable}} {
		sink.err = tc.err
		_, err := c.Export(context.Background(), traces(2))
		if status.Code(err) != tc.code {
			t.Errorf("sink error %v: got %v, want %v", tc.err, err, tc.code)
		}
	}
	// a request above the size limit
	sink.err = nil
	big := traces(1)
	big.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName(strings.Repeat("x", 70<<10))
	if _, err := c.Export(context.Background(), big); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized grpc request: %v", err)
	}
}

// Both receivers take TLS (mutual here) and a bearer token like every
// flowlens listener: a call without the token or with a wrong one is
// refused before it reaches the sink, one with it is taken; a client
// without a certificate of the CA gets no connection.
func TestTLSAndToken(t *testing.T) {
	pki := listenertest.NewPKI(t)
	tls, auth := pki.ServerTLS(true), listener.AuthConfig{TokenFile: listenertest.TokenFile(t, "s3cret")}
	sink := &fakeSink{}
	r := startWith(t, sink, func(c *Config) {
		c.GRPC.TLS, c.GRPC.Auth = tls, auth
		c.HTTP.TLS, c.HTTP.Auth = tls, auth
	})

	// HTTP
	listenertest.CheckBearer(t, pki.Client(listenertest.WithCert), "https://"+r.HTTPAddr()+"/v1/traces", "s3cret", http.StatusMethodNotAllowed)
	pki.CheckMutualTLS(t, "https://"+r.HTTPAddr()+"/v1/traces", "s3cret", http.StatusMethodNotAllowed)

	// gRPC
	export := func(kind int, token string) error {
		conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(pki.ClientTLS(kind))))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, traces(2))
		return err
	}
	for _, c := range []struct{ what, token string }{{"no token", ""}, {"a wrong token", "guess"}} {
		if err := export(listenertest.WithCert, c.token); status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC with %s: %v, want Unauthenticated", c.what, err)
		}
	}
	if sink.spans.Load() != 0 {
		t.Errorf("the sink took %d spans of unauthenticated calls", sink.spans.Load())
	}
	if err := export(listenertest.WithCert, "s3cret"); err != nil {
		t.Errorf("gRPC with the token: %v", err)
	}
	if sink.spans.Load() != 2 {
		t.Errorf("the sink took %d spans, want 2", sink.spans.Load())
	}
	for _, kind := range []int{listenertest.NoCert, listenertest.StrangerCert} {
		if err := export(kind, "s3cret"); status.Code(err) != codes.Unavailable {
			t.Errorf("gRPC client of kind %d without a certificate of the CA: %v, want no connection", kind, err)
		}
	}
}

// The component contract: Shutdown is safe without Start and twice.
func TestLifecycle(t *testing.T) {
	r, err := New(Config{}, Settings{Sink: &fakeSink{}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown without Start (%d): %v", i, err)
		}
	}
	r = start(t, &fakeSink{})
	for i := 0; i < 2; i++ {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown (%d): %v", i, err)
		}
	}
	if _, err := New(Config{}, Settings{}); err == nil {
		t.Error("New without a sink")
	}
}
