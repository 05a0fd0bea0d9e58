package handlers

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"agentpresence/handlers/bounded"
)

// LogThrottle is a slog.Handler that passes at most a rate of lines per
// kind of line, so that a flood of requests (or of one failure) cannot
// flood the log. A kind is the level and message, with the route and
// status of request lines. The lines left out are counted, and the next
// line of the kind that passes carries the count as "suppressed".
type LogThrottle struct {
	next  slog.Handler
	state *throttleState
}

type throttleState struct {
	rate  rate.Limit
	burst int
	kinds *bounded.Cache[string, *throttledKind]
}

type throttledKind struct {
	mu         sync.Mutex
	limiter    *rate.Limiter
	suppressed int
}

// maxLogKinds bounds the kinds of line the throttle keeps a count for;
// messages and routes are the code's own, so there are far fewer.
const maxLogKinds = 10_000

// NewLogThrottle passes perSecond lines a second of each kind to next,
// after a burst of burst lines.
func NewLogThrottle(next slog.Handler, perSecond float64, burst int) *LogThrottle {
	// A kind's state left alone while its bucket refills is a fresh one;
	// keep it a little longer, for its count of suppressed lines. A kind
	// that keeps coming keeps its state, so a flood gets no fresh burst.
	keep := max(time.Duration(float64(burst)/perSecond*float64(time.Second)), time.Minute)
	return &LogThrottle{next: next, state: &throttleState{rate: rate.Limit(perSecond), burst: burst,
		kinds: bounded.New(bounded.Config[string, *throttledKind]{MaxWeight: maxLogKinds, IdleTTL: keep})}}
}

// Enabled implements slog.Handler.
func (h *LogThrottle) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler: it passes the record on, with the count
// of its kind's suppressed lines, or counts it.
func (h *LogThrottle) Handle(ctx context.Context, r slog.Record) error {
	at := r.Time
	if at.IsZero() {
		at = time.Now()
	}
	key := throttleKey(r)
	kind, ok := h.state.kinds.Get(key)
	if !ok {
		kind = h.state.kinds.GetOrSet(key, &throttledKind{limiter: rate.NewLimiter(h.state.rate, h.state.burst)})
	}
	kind.mu.Lock()
	if !kind.limiter.AllowN(at, 1) {
		kind.suppressed++
		kind.mu.Unlock()
		return nil
	}
	suppressed := kind.suppressed
	kind.suppressed = 0
	kind.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, r)
}

// throttleKey is the record's kind: level, message, and the route and
// status of a request line (never its path, which the client chooses).
func throttleKey(r slog.Record) string {
	key := r.Level.String() + "|" + r.Message
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "route", "status":
			key += "|" + a.Value.String()
		}
		return true
	})
	if len(key) > maxLoggedLen {
		key = key[:maxLoggedLen] + strconv.Itoa(len(key))
	}
	return key
}

// WithAttrs implements slog.Handler; the derived handler shares the counts.
func (h *LogThrottle) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogThrottle{next: h.next.WithAttrs(attrs), state: h.state}
}

// WithGroup implements slog.Handler; the derived handler shares the counts.
func (h *LogThrottle) WithGroup(name string) slog.Handler {
	return &LogThrottle{next: h.next.WithGroup(name), state: h.state}
}
