package otlpin

import (
	"context"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// What keeps one client from holding the receiver: every request must
// arrive and be answered within its endpoint's request_timeout, slots are
// per endpoint and taken only once a request has arrived, gRPC connections
// carry a bounded number of streams, and a panic while handling a request
// fails that request only.

// keepaliveMinTime is the shortest ping interval a gRPC client may use;
// clients pinging faster are disconnected (GOAWAY "too_many_pings"). Ten
// seconds is the shortest grpc-go's own clients allow themselves.
const keepaliveMinTime = 10 * time.Second

func (r *Receiver) grpcServerOptions() []grpc.ServerOption {
	timeout := r.cfg.GRPC.RequestTimeout
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(r.cfg.MaxRequestBytes)),
		grpc.MaxConcurrentStreams(r.cfg.GRPC.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		// The deadline goes on the stream's own context, set before its
		// message is read: a stream whose message never comes in full is
		// ended there. (An interceptor's context would come too late: it
		// runs once the message has arrived.)
		grpc.InTapHandle(func(ctx context.Context, _ *tap.Info) (context.Context, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			// The transport cancels ctx's parent when the stream ends, and
			// that releases the timer.
			context.AfterFunc(ctx, cancel)
			return ctx, nil
		}),
		grpc.ChainUnaryInterceptor(recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(
			func(ctx context.Context, p any) error {
				r.panicked(p)
				return status.Error(codes.Internal, "internal error")
			}))),
	}
}

func (r *Receiver) newHTTPServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", r.handleTraces)
	mux.HandleFunc("/v1/logs", r.handleLogs)
	timeout := r.cfg.HTTP.RequestTimeout
	return &http.Server{
		Handler:           r.recoverHTTP(withTimeout(timeout, mux)),
		ReadHeaderTimeout: min(10*time.Second, timeout),
		// Headers and body: a client sending 1 byte a second is cut off
		// here, and its connection closed.
		ReadTimeout:  timeout,
		WriteTimeout: timeout + 5*time.Second,
		IdleTimeout:  2 * time.Minute,
	}
}

// withTimeout bounds a request's wait for a slot and its handling.
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), d)
		defer cancel()
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// recoverHTTP answers a request whose handling panicked with 500, counted
// and logged once with its stack, instead of net/http's dropped connection.
func (r *Receiver) recoverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { //nolint:errorlint // a sentinel value panicked as is
				panic(p)
			}
			r.panicked(p)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, req)
	})
}

func (r *Receiver) panicked(p any) {
	r.failed.Add(1)
	r.log.Error("otlp request handling panicked; the request failed, the receiver goes on", zap.Any("panic", p), zap.StackSkip("stack", 2))
}
