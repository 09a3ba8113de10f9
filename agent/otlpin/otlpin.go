// Package otlpin receives OTLP traces and logs over gRPC (4317) and HTTP
// (4318, protobuf and JSON), bound to localhost by default, and hands them
// to a Sink. A request is answered OK only after the Sink returned nil (the
// data is safe); back-pressure becomes RESOURCE_EXHAUSTED / HTTP 429 with
// Retry-After, so OTLP exporters retry later instead of losing data.
package otlpin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed requests
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Errors a Sink returns to shape the answer.
var (
	// ErrRetryLater: the data was not taken because the agent is full; the
	// client should retry (gRPC RESOURCE_EXHAUSTED, HTTP 429 + Retry-After).
	ErrRetryLater = errors.New("agent buffer full, retry later")
	// ErrInvalid: the data can never be taken (e.g. too large); HTTP 400 / gRPC INVALID_ARGUMENT.
	ErrInvalid = errors.New("invalid request")
)

// Sink takes received data. It returns nil only once the data is safe.
// Implementations must be safe for concurrent use.
type Sink interface {
	ConsumeTraces(ctx context.Context, td ptrace.Traces) error
	ConsumeLogs(ctx context.Context, ld plog.Logs) error
}

// Config of the receivers.
type Config struct {
	GRPC Endpoint `yaml:"grpc"`
	HTTP Endpoint `yaml:"http"`
	// MaxRequestBytes bounds one request body (default 4MiB, as the
	// OpenTelemetry Collector's receiver).
	MaxRequestBytes bytesize.Size `yaml:"max_request_bytes"`
	// MaxConcurrentRequests is each endpoint's max_concurrent_requests
	// when it sets none (default 8).
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// RetryAfter is the delay suggested to clients when the agent is full (default 5s).
	RetryAfter time.Duration `yaml:"retry_after"`
}

// Endpoint is one listener: listen (default 127.0.0.1:4317 for gRPC,
// 127.0.0.1:4318 for HTTP; listening on other interfaces is an explicit
// choice; off turns it off), tls and auth (see internal/listener). gRPC
// clients send the token as the authorization metadata, HTTP ones as the
// Authorization header, both "Bearer <token>".
type Endpoint struct {
	listener.Config `yaml:",inline"`
	// MaxConcurrentRequests bounds this listener's requests being decoded
	// and buffered at once (and so their memory); others wait. A request
	// takes its slot once it has arrived in full, so slow clients hold
	// none, and each listener has its own: a flood on one protocol leaves
	// the other's slots free. Default: otlp.max_concurrent_requests.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// RequestTimeout is how long a request may take to arrive (HTTP:
	// headers and body) and be answered (default 30s). A client sending
	// slower is cut off: it cannot hold a connection, a stream or a slot
	// for longer.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxConcurrentStreams bounds the requests in flight on one gRPC
	// connection (gRPC only; default 16).
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams"`
}

// RenamedKeys names what replaced the keys of earlier versions.
func (Endpoint) RenamedKeys() map[string]string {
	return map[string]string{"endpoint": "listen", "enabled": "listen: off"}
}

// Default addresses of the receivers.
const (
	DefaultGRPCListen = "127.0.0.1:4317"
	DefaultHTTPListen = "127.0.0.1:4318"
)

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	c.GRPC.SetDefaults(DefaultGRPCListen)
	c.HTTP.SetDefaults(DefaultHTTPListen)
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.MaxConcurrentRequests == 0 {
		c.MaxConcurrentRequests = 8
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = 5 * time.Second
	}
	for _, e := range []*Endpoint{&c.GRPC, &c.HTTP} {
		if e.MaxConcurrentRequests == 0 {
			e.MaxConcurrentRequests = c.MaxConcurrentRequests
		}
		if e.RequestTimeout == 0 {
			e.RequestTimeout = 30 * time.Second
		}
	}
	if c.GRPC.MaxConcurrentStreams == 0 {
		c.GRPC.MaxConcurrentStreams = 16
	}
}

// Validate reports every bad field.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, config.Nest("grpc", c.GRPC.Validate()), config.Nest("http", c.HTTP.Validate()))
	for _, e := range []struct {
		name string
		ep   Endpoint
	}{{"grpc", c.GRPC}, {"http", c.HTTP}} {
		if e.ep.MaxConcurrentRequests < 1 {
			errs = append(errs, config.Errorf(e.name+".max_concurrent_requests", "must be at least 1"))
		}
		if e.ep.RequestTimeout < time.Second {
			errs = append(errs, config.Errorf(e.name+".request_timeout", "must be at least 1s"))
		}
	}
	if c.HTTP.MaxConcurrentStreams != 0 {
		errs = append(errs, config.Errorf("http.max_concurrent_streams", "is a gRPC setting"))
	}
	if c.MaxRequestBytes < 1024 {
		errs = append(errs, config.Errorf("max_request_bytes", "must be at least 1KiB"))
	}
	if c.MaxConcurrentRequests < 1 {
		errs = append(errs, config.Errorf("max_concurrent_requests", "must be at least 1"))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, config.Errorf("retry_after", "must be at least 1s"))
	}
	return errors.Join(errs...)
}

// Stats count requests by outcome.
type Stats struct {
	Accepted  int64 // requests answered OK
	Refused   int64 // requests refused for back-pressure
	Malformed int64 // requests that could not be decoded
	Failed    int64 // other errors
	Spans     int64
	LogRecs   int64
}

// Settings are the receiver's dependencies.
type Settings struct {
	component.Settings
	// Sink takes what is received; required.
	Sink Sink
}

// Receiver serves both protocols.
type Receiver struct {
	cfg  Config
	sink Sink
	log  *zap.Logger

	grpcEndpoint, httpEndpoint *listener.Endpoint

	grpcSlots chan struct{}
	httpSlots chan struct{}
	grpcSrv   *grpc.Server
	httpSrv   *listener.Server
	grpcLn    net.Listener
	wg        sync.WaitGroup
	stopOnce  sync.Once
	stopErr   error

	accepted, refused, malformed, failed, spans, logRecs atomic.Int64
}

// New applies the config's defaults, checks it and builds the receiver
// (its certificates and tokens read); Start listens. It has no metrics of
// its own: the agent reports its Stats.
func New(cfg Config, set Settings) (*Receiver, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("otlp config: %w", err)
	}
	if set.Sink == nil {
		return nil, errors.New("otlp receiver: no sink")
	}
	set.Settings = set.Settings.WithDefaults()
	r := &Receiver{cfg: cfg, sink: set.Sink, log: set.Logger,
		grpcSlots: make(chan struct{}, cfg.GRPC.MaxConcurrentRequests),
		httpSlots: make(chan struct{}, cfg.HTTP.MaxConcurrentRequests)}
	var err error
	if r.grpcEndpoint, err = listener.Load(cfg.GRPC.Config); err != nil {
		return nil, fmt.Errorf("otlp config: %w", config.Nest("grpc", err))
	}
	if r.httpEndpoint, err = listener.Load(cfg.HTTP.Config); err != nil {
		return nil, fmt.Errorf("otlp config: %w", config.Nest("http", err))
	}
	return r, nil
}

// acquire takes one of slots (waiting until ctx is done).
func acquire(ctx context.Context, slots chan struct{}) error {
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start binds the listeners and serves in the background.
func (r *Receiver) Start(ctx context.Context) error {
	if r.grpcEndpoint.On() {
		ln, err := r.grpcEndpoint.Listen(ctx)
		if err != nil {
			return fmt.Errorf("otlp grpc listen %s: %w", r.cfg.GRPC.Listen, err)
		}
		r.grpcLn = ln
		opts := r.grpcServerOptions()
		if tc := r.grpcEndpoint.TLSConfig(); tc != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
		}
		if r.cfg.GRPC.Auth.On() { // no cost per call without tokens
			opts = append(opts, grpc.ChainUnaryInterceptor(r.authorizeUnary), grpc.ChainStreamInterceptor(r.authorizeStream))
		}
		if _, raw := r.sink.(ProtoSink); raw {
			r.grpcSrv = grpc.NewServer(append(opts, grpc.ForceServerCodecV2(rawCodec{}))...)
			r.grpcSrv.RegisterService(rawTraceService, r)
			r.grpcSrv.RegisterService(rawLogsService, r)
		} else {
			r.grpcSrv = grpc.NewServer(opts...)
			ptraceotlp.RegisterGRPCServer(r.grpcSrv, &traceServer{r: r})
			plogotlp.RegisterGRPCServer(r.grpcSrv, &logServer{r: r})
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := r.grpcSrv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				r.log.Error("otlp grpc server stopped", zap.Error(err))
			}
		}()
	}
	if r.httpEndpoint.On() {
		srv, err := r.httpEndpoint.Serve(ctx, "otlp http receiver", r.newHTTPServer(), r.log)
		if err != nil {
			return fmt.Errorf("otlp http: %w", err)
		}
		r.httpSrv = srv
	}
	return nil
}

// authorized checks the bearer token of a gRPC call (always true without
// auth).
func (r *Receiver) authorized(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	var auth string
	if v := md.Get("authorization"); len(v) > 0 {
		auth = v[0]
	}
	if !r.grpcEndpoint.Authorized(auth) {
		return status.Error(codes.Unauthenticated, "missing or wrong bearer token")
	}
	return nil
}

func (r *Receiver) authorizeUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := r.authorized(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (r *Receiver) authorizeStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := r.authorized(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// GRPCAddr is the bound gRPC address ("" when off).
func (r *Receiver) GRPCAddr() string {
	if r.grpcLn == nil {
		return ""
	}
	return r.grpcLn.Addr().String()
}

// HTTPAddr is the bound HTTP address ("" when off).
func (r *Receiver) HTTPAddr() string {
	if r.httpSrv == nil {
		return ""
	}
	return r.httpSrv.Addr()
}

// Shutdown stops accepting and waits for requests in progress (until ctx
// is done). Safe without Start and twice.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.stopErr = r.httpSrv.Shutdown(ctx)
		if r.grpcSrv != nil {
			done := make(chan struct{})
			go func() { r.grpcSrv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				r.grpcSrv.Stop()
			}
		}
		r.wg.Wait()
	})
	return r.stopErr
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	return Stats{Accepted: r.accepted.Load(), Refused: r.refused.Load(), Malformed: r.malformed.Load(),
		Failed: r.failed.Load(), Spans: r.spans.Load(), LogRecs: r.logRecs.Load()}
}

func (r *Receiver) count(err error) {
	switch {
	case err == nil:
		r.accepted.Add(1)
	case errors.Is(err, ErrRetryLater):
		r.refused.Add(1)
	case errors.Is(err, ErrInvalid):
		r.malformed.Add(1)
	default:
		r.failed.Add(1)
	}
}

func grpcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrRetryLater):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *traceServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if err := acquire(ctx, s.r.grpcSlots); err != nil {
		return ptraceotlp.NewExportResponse(), grpcError(err)
	}
	defer func() { <-s.r.grpcSlots }()
	td := req.Traces()
	n := td.SpanCount()
	err := s.r.sink.ConsumeTraces(ctx, td)
	s.r.count(err)
	if err == nil {
		s.r.spans.Add(int64(n))
	}
	return ptraceotlp.NewExportResponse(), grpcError(err)
}

type logServer struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *logServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	if err := acquire(ctx, s.r.grpcSlots); err != nil {
		return plogotlp.NewExportResponse(), grpcError(err)
	}
	defer func() { <-s.r.grpcSlots }()
	ld := req.Logs()
	n := ld.LogRecordCount()
	err := s.r.sink.ConsumeLogs(ctx, ld)
	s.r.count(err)
	if err == nil {
		s.r.logRecs.Add(int64(n))
	}
	return plogotlp.NewExportResponse(), grpcError(err)
}
