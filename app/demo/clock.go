package demo

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// Clock is the demo's clock: the real one plus an offset that only grows,
// so that a person (or a browser scenario) can skip ahead to what
// inactivity, timers and schedules do later without waiting. Timers and
// tickers keep real durations; only the time read moves.
type Clock struct {
	clockwork.Clock
	offset atomic.Int64 // nanoseconds ahead of the real clock
}

// NewClock returns a Clock at the real time.
func NewClock() *Clock { return &Clock{Clock: clockwork.NewRealClock()} }

// Now is the real time plus the offset.
func (c *Clock) Now() time.Time { return c.Clock.Now().Add(time.Duration(c.offset.Load())) }

// Since is the time elapsed since t, by this clock.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Until is the time left until t, by this clock.
func (c *Clock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// Advance moves the clock ahead by d (never back: tokens and rows already
// stamped must stay in the past).
func (c *Clock) Advance(d time.Duration) {
	if d > 0 {
		c.offset.Add(int64(d))
	}
}

// maxAdvance bounds one step of POST /demo/api/clock.
const maxAdvance = 24 * time.Hour

// clock answers GET /demo/api/clock with the demo's time, and POST
// /demo/api/clock?advance=4m30s moves it ahead and runs the time-driven
// jobs at once, as their next tick would.
func (h *Host) clock(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if h.opts.Clock == nil {
			writeJSON(w, http.StatusConflict, map[string]string{"error": "this app runs on a clock of its own"})
			return
		}
		d, err := time.ParseDuration(r.URL.Query().Get("advance"))
		if err != nil || d <= 0 || d > maxAdvance {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "advance: a positive duration up to 24h, such as 4m30s"})
			return
		}
		h.opts.Clock.Advance(d)
		if h.opts.Tick != nil {
			if err := h.opts.Tick(r.Context()); err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"now": h.opts.Now().UTC().Format(time.RFC3339)})
}
