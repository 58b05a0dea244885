// Package telemetry sets up logging for gatepass binaries: structured slog
// output with a redacting handler as the safety net that keeps anything
// shaped like a token secret out of log lines.
//
// Code logs token ids, never secrets; redaction catches mistakes, it is not
// the plan.
package telemetry

import (
	"context"
	"io"
	"log/slog"
	"regexp"
)

// secretPattern matches any gatepass-shaped secret, whatever its prefix.
var secretPattern = regexp.MustCompile(`[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{36}`)

// Redacted replaces every token-shaped substring of s.
func Redacted(s string) string {
	if !secretPattern.MatchString(s) {
		return s
	}
	return secretPattern.ReplaceAllString(s, "[REDACTED]")
}

// NewLogger returns a JSON logger on w that redacts secrets.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(NewRedactingHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// RedactingHandler wraps a handler and redacts secrets from the message and
// from every string attribute.
type RedactingHandler struct {
	next slog.Handler
}

// NewRedactingHandler wraps next.
func NewRedactingHandler(next slog.Handler) *RedactingHandler {
	return &RedactingHandler{next: next}
}

// Enabled implements slog.Handler.
func (h *RedactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *RedactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Redacted(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *RedactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return &RedactingHandler{next: h.next.WithAttrs(red)}
}

// WithGroup implements slog.Handler.
func (h *RedactingHandler) WithGroup(name string) slog.Handler {
	return &RedactingHandler{next: h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redacted(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = redactAttr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Redacted(err.Error()))
		}
		return slog.String(a.Key, Redacted(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
