package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/porttest"
)

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"syntax error", &clickhouse.Exception{Code: 62, Name: "SYNTAX_ERROR"}, false},
		{"unknown table", fmt.Errorf("insert: %w", &clickhouse.Exception{Code: 60}), false},
		{"type mismatch", &clickhouse.Exception{Code: 53}, false},
		{"too many parts", &clickhouse.Exception{Code: 252}, true},
		{"memory limit", fmt.Errorf("send: %w", &clickhouse.Exception{Code: 241}), true},
		{"timeout", &clickhouse.Exception{Code: 159}, true},
		{"http 503 without exception", &clickhouse.HTTPError{StatusCode: 503, Err: errors.New("bad gateway")}, true},
		{"http 500 with permanent exception", &clickhouse.HTTPError{StatusCode: 500, Err: &clickhouse.Exception{Code: 1001}}, false},
		{"http 400 without exception", &clickhouse.HTTPError{StatusCode: 400, Err: errors.New("bad")}, false},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"deadline", context.DeadlineExceeded, true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"validation", ErrInvalidQuery, false},
	}
	for _, tt := range tests {
		if got := IsRetryable(tt.err); got != tt.want {
			t.Errorf("%s: IsRetryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Errors as they really come back from the engine and the network.
func TestIsRetryableRealErrors(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	err := s.conn.Exec(ctx, "SELEKT 1")
	if err == nil || IsRetryable(err) {
		t.Errorf("syntax error: %v, retryable %v", err, IsRetryable(err))
	}
	var rows SpanRows
	rows.AppendTraces(genTraces(1, 1, 1, baseTime, time.Second), nil)
	bad := *s
	bad.l.DB = "`no_such_db`"
	if err := bad.InsertSpans(ctx, &rows, ""); err == nil || IsRetryable(err) {
		t.Errorf("unknown database: %v, retryable %v", err, IsRetryable(err))
	}
	// Nothing listens on this port: retryable.
	cfg := Config{Addr: porttest.Refused(t), Database: "x", DialTimeout: time.Second}
	cfg.SetDefaults()
	_, err = Open(ctx, cfg, zap.NewNop())
	if err == nil || !IsRetryable(err) {
		t.Errorf("no server: %v, retryable %v", err, IsRetryable(err))
	}
}
