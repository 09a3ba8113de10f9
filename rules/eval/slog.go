package eval

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHandler lets Prometheus's rules engine (which logs with slog) log
// through the component's zap logger.
type zapHandler struct {
	log    *zap.Logger
	fields []zap.Field
	group  string
}

func newSlog(l *zap.Logger) *slog.Logger { return slog.New(&zapHandler{log: l}) }

func (h *zapHandler) Enabled(_ context.Context, lvl slog.Level) bool {
	return h.log.Core().Enabled(zapLevel(lvl))
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	default:
		return zapcore.DebugLevel
	}
}

func (h *zapHandler) Handle(_ context.Context, r slog.Record) error {
	fs := append([]zap.Field(nil), h.fields...)
	r.Attrs(func(a slog.Attr) bool {
		fs = append(fs, h.field(a))
		return true
	})
	if ce := h.log.Check(zapLevel(r.Level), r.Message); ce != nil {
		ce.Write(fs...)
	}
	return nil
}

func (h *zapHandler) field(a slog.Attr) zap.Field {
	k := a.Key
	if h.group != "" {
		k = h.group + "." + k
	}
	return zap.Any(k, a.Value.Resolve().Any())
}

func (h *zapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &zapHandler{log: h.log, group: h.group, fields: append([]zap.Field(nil), h.fields...)}
	for _, a := range as {
		n.fields = append(n.fields, h.field(a))
	}
	return n
}

func (h *zapHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &zapHandler{log: h.log, fields: h.fields, group: g}
}
