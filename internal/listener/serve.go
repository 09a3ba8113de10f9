package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Listen binds the endpoint's address (plain TCP: TLS, when on, is the
// server's to do, with TLSConfig).
func (e *Endpoint) Listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", e.cfg.Listen)
}

// Server is an HTTP server on an endpoint, serving in the background.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	scheme string
	done   chan struct{}
	once   sync.Once
	err    error
}

// Serve binds the endpoint and serves srv's handler on it in the
// background, behind the endpoint's TLS and bearer tokens; srv carries
// the timeouts. what names the server in errors and logs ("collector
// metrics"). An address in use is an error here, wrapping the listen
// error (errors.Is(err, syscall.EADDRINUSE)).
func (e *Endpoint) Serve(ctx context.Context, what string, srv *http.Server, log *zap.Logger) (*Server, error) {
	ln, err := e.Listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen for the %s on %s: %w", what, e.cfg.Listen, err)
	}
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = 10 * time.Second
	}
	if srv.ErrorLog == nil && log != nil {
		srv.ErrorLog = zap.NewStdLog(log)
	}
	srv.Handler = e.Authenticate(srv.Handler)
	srv.TLSConfig = e.tls
	s := &Server{srv: srv, ln: ln, scheme: e.Scheme(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var err error
		if e.tls != nil {
			err = srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Error(what+" stopped serving", zap.Error(err))
		}
	}()
	return s, nil
}

// Addr is the bound address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is scheme://host:port.
func (s *Server) URL() string { return s.scheme + "://" + s.Addr() }

// Shutdown stops accepting and waits for the requests in flight until ctx
// ends. Safe twice and on a nil Server.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.once.Do(func() {
		s.err = s.srv.Shutdown(ctx)
		if s.err != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
	return s.err
}
