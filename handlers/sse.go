package handlers

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
)

// Stream timing.
const (
	// keepaliveEvery sends a comment on an idle stream, so that proxies
	// and load balancers with idle timeouts of 30 s or more keep it open.
	keepaliveEvery = 25 * time.Second
	// streamWriteTimeout bounds each write: the server has no WriteTimeout
	// (streams are long), so a client that stops reading is cut off here.
	streamWriteTimeout = 30 * time.Second
	// reconnectAfter is the client's reconnection delay (ms), spread so
	// that clients of a restarting replica do not all come back at once.
	reconnectAfter, reconnectSpread = 2000, 3000
)

// sseWriter writes Server-Sent Events to one response. Events are gathered
// in a buffer and sent by flush, with a write deadline.
type sseWriter struct {
	c   echo.Context
	rc  *http.ResponseController
	buf []byte
}

// openStream answers 200 with the event-stream headers and a retry delay.
// (The server's ReadTimeout does not end a stream: net/http lifts the read
// deadline once the request is read.)
func openStream(c echo.Context) *sseWriter {
	h := c.Response().Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Response().WriteHeader(http.StatusOK)
	s := &sseWriter{c: c, rc: http.NewResponseController(c.Response()), buf: make([]byte, 0, 256)}
	s.buf = append(s.buf, "retry: "...)
	s.buf = strconv.AppendInt(s.buf, int64(reconnectAfter+rand.IntN(reconnectSpread)), 10)
	s.buf = append(s.buf, "\n\n"...)
	return s
}

// event adds one event; data is a single line of JSON.
func (s *sseWriter) event(id, name string, data []byte) {
	s.buf = append(s.buf, "id: "...)
	s.buf = append(s.buf, id...)
	s.buf = append(s.buf, "\nevent: "...)
	s.buf = append(s.buf, name...)
	s.buf = append(s.buf, "\ndata: "...)
	s.buf = append(s.buf, data...)
	s.buf = append(s.buf, "\n\n"...)
}

// comment adds a comment line, which clients ignore.
func (s *sseWriter) comment(text string) {
	s.buf = append(s.buf, ": "...)
	s.buf = append(s.buf, text...)
	s.buf = append(s.buf, "\n\n"...)
}

// flush sends what was gathered.
func (s *sseWriter) flush() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if len(s.buf) > 0 {
		if _, err := s.c.Response().Write(s.buf); err != nil {
			return err
		}
		s.buf = s.buf[:0]
	}
	if cap(s.buf) > 4096 {
		s.buf = make([]byte, 0, 256) // a long replay's buffer is not kept while idle
	}
	return s.rc.Flush()
}

// end lifts the write deadline: net/http sets none itself (the server has
// no WriteTimeout), so a deadline left behind would cut a later request on
// the same keep-alive connection.
func (s *sseWriter) end() {
	// It fails only on a closed connection, which no request will reuse.
	_ = s.rc.SetWriteDeadline(time.Time{})
}

// pump streams a subscriber's events until the client leaves, the hub lets
// the subscriber go, or a write fails; write adds an event to the writer
// (or nothing, if the event is not for this client). It runs in the
// request's goroutine: a stream has no goroutine of its own.
func pump[K comparable, D any](ctx context.Context, s *sseWriter, sub *subscriber[K, D], clock clockwork.Clock,
	write func(*hubEvent[K, D]) error) error {
	defer s.end()
	tick := clock.NewTicker(keepaliveEvery)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-sub.ch:
			if !ok || sub.gone() {
				return nil
			}
			if err := write(ev); err != nil {
				return err
			}
		case <-tick.Chan():
			s.comment("keepalive")
		case <-ctx.Done():
			return nil
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
}

// goAway answers a stream request that a closing hub refuses: an empty
// stream with a short retry, so that the client reconnects (to another
// replica) instead of giving up as EventSource does on an error status.
func goAway(c echo.Context) error {
	s := openStream(c)
	defer s.end()
	return s.flush()
}
