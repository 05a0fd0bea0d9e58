package live

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
)

// Stream timing.
const (
	// keepaliveEvery sends a keepalive event on an idle stream, so that
	// proxies and load balancers with idle timeouts of 30 s or more keep
	// it open, and so that clients can tell a live stream from one a proxy
	// holds without forwarding: the pages give up a stream silent for 35 s
	// (static/widget.js, static/js/connect.js).
	keepaliveEvery = 25 * time.Second
	// streamWriteTimeout bounds each write: the server has no WriteTimeout
	// (streams are long), so a client that stops reading is cut off here.
	streamWriteTimeout = 30 * time.Second
	// reconnectAfter is the client's reconnection delay (ms), spread so
	// that clients of a restarting replica do not all come back at once;
	// short, so that pages follow again within seconds of a restart.
	reconnectAfter, reconnectSpread = 1000, 2000
)

// Buffer gathers Server-Sent Events text before one write.
type Buffer struct {
	b      []byte
	events int // events added since the buffer was made
}

// NewBuffer starts a stream's first write with its reconnection delay.
func NewBuffer() *Buffer {
	s := &Buffer{b: make([]byte, 0, 256)}
	s.b = append(s.b, "retry: "...)
	s.b = strconv.AppendInt(s.b, int64(reconnectAfter+rand.IntN(reconnectSpread)), 10)
	s.b = append(s.b, "\n\n"...)
	return s
}

// Event adds one event; data is a single line of JSON.
func (s *Buffer) Event(id, name string, data []byte) {
	s.b = append(s.b, "id: "...)
	s.b = append(s.b, id...)
	s.b = append(s.b, "\nevent: "...)
	s.b = append(s.b, name...)
	s.b = append(s.b, "\ndata: "...)
	s.b = append(s.b, data...)
	s.b = append(s.b, "\n\n"...)
	s.events++
}

// Keepalive adds a "keepalive" event. Not a comment: EventSource shows
// pages no comment, and they watch for it. It has no id, so the id a
// client resumes from stays its last real event's.
func (s *Buffer) Keepalive() {
	s.b = append(s.b, "event: keepalive\ndata: {}\n\n"...)
	s.events++
}

// Stream is what Serve needs to follow one subscriber.
type Stream[K comparable, D any] struct {
	Hub *Hub[K, D]
	Sub *Subscriber[K, D]
	// Write adds an event to buf as this client should see it (or
	// nothing); an error ends the stream.
	Write func(ctx context.Context, buf *Buffer, ev *Event[K, D]) error
	// Done runs once when the stream has ended: it unsubscribes and gives
	// the stream's slot back.
	Done func()
	// Lifetime ends the stream after a while (0: never), between events;
	// the client reconnects with Last-Event-ID and misses nothing.
	Lifetime time.Duration
}

// Serve answers 200 with the event-stream headers and first (the
// snapshot or the replay), then sends the subscriber's events and
// keepalives until the client leaves or the hub lets the subscriber go.
//
// Over HTTP/1.1 the connection is taken from net/http (hijacked) and the
// stream is detached: an idle stream then costs a parked 1-byte read and a
// timer instead of a request goroutine with its deep stack and net/http's
// buffers, which is what lets one replica hold tens of thousands of
// customers' pages. Where hijacking is not possible (HTTP/2) the request's
// goroutine follows the stream.
func Serve[K comparable, D any](c echo.Context, st Stream[K, D], first *Buffer) error {
	if first.events == 0 {
		// Resumed with nothing to catch up on: an event all the same, so
		// that the client knows at once that the stream delivers.
		first.Keepalive()
	}
	conn, err := hijackStream(c, first.b)
	switch {
	case err == nil:
		detach(conn, st)
		return nil
	case errors.Is(err, http.ErrNotSupported):
		defer st.Done()
		w := openResponseStream(c)
		defer w.end()
		w.buf.b = append(w.buf.b, first.b...)
		if err := w.flush(); err != nil {
			return err
		}
		return pump(c.Request().Context(), w, st)
	case errors.Is(err, errClientLeft):
		st.Done()
		return nil
	default:
		st.Done()
		return err
	}
}

// appendQueued adds the subscriber's queued events to buf as this client
// sees them. closed: the hub let the subscriber go, and the stream ends
// without writing what was still queued.
func (st Stream[K, D]) appendQueued(ctx context.Context, buf *Buffer) (closed bool, err error) {
	evs, closed := st.Sub.take()
	if closed {
		return true, nil
	}
	for _, ev := range evs {
		if err := st.Write(ctx, buf, ev); err != nil {
			return false, err
		}
	}
	return false, nil
}

// streamHeaders are the event stream's own headers; middleware and the
// handler may have added others (CORS, security), which are sent too.
func streamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
}

// hijackStream takes the connection and writes the response head and
// first. The body is delimited by the connection's close, as HTTP/1.1
// allows, so no chunked framing is needed afterwards. ErrNotSupported:
// nothing was written and the response is still net/http's.
func hijackStream(c echo.Context, first []byte) (net.Conn, error) {
	if c.Request().ProtoMajor != 1 {
		return nil, http.ErrNotSupported
	}
	conn, _, err := http.NewResponseController(c.Response()).Hijack()
	if err != nil {
		return nil, err
	}
	h := c.Response().Header()
	streamHeaders(h)
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	// The echo response is done with: the request log reports 200, and
	// nothing tries to answer on a connection that is no longer net/http's.
	c.Response().Status, c.Response().Committed = http.StatusOK, true
	head := bytes.NewBuffer(make([]byte, 0, 512+len(first)))
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(head) // a bytes.Buffer does not fail
	head.WriteString("\r\n")
	head.Write(first)
	if err = conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err == nil {
		_, err = conn.Write(head.Bytes())
	}
	if err != nil {
		conn.Close()
		return nil, errClientLeft
	}
	return conn, nil
}

// errClientLeft: the client left before its stream's head was written;
// there is nobody to answer.
var errClientLeft = errors.New("the client left before the stream started")

// detachedStream follows a subscriber on a hijacked connection. It has no
// goroutine of its own while idle: a wake (an event, the keepalive timer,
// the client leaving) starts a drain goroutine that writes what is due and
// exits. A parked read notices the client leaving.
type detachedStream[K comparable, D any] struct {
	Stream[K, D]
	conn   net.Conn
	timer  clockwork.Timer
	expiry clockwork.Timer // nil without a lifetime

	mu        sync.Mutex
	running   bool // a drain goroutine is on it
	kicked    bool // something happened since the drain last looked
	keepalive bool // the keepalive timer fired
	expired   bool // the stream's lifetime is over
	left      bool // the client closed its side
	finished  bool
}

func detach[K comparable, D any](conn net.Conn, st Stream[K, D]) {
	d := &detachedStream[K, D]{Stream: st, conn: conn}
	if !st.Hub.track() { // the hub is closing: clients reconnect elsewhere
		conn.Close()
		st.Done()
		return
	}
	clock := st.Hub.cfg.clock
	d.timer = clock.AfterFunc(keepaliveEvery, func() {
		d.mu.Lock()
		d.keepalive = true
		d.mu.Unlock()
		d.kick()
	})
	if st.Lifetime > 0 {
		d.expiry = clock.AfterFunc(st.Lifetime, func() {
			d.mu.Lock()
			d.expired = true
			d.mu.Unlock()
			d.kick()
		})
	}
	go d.watchClient()
	st.Sub.attach(d.kick)
}

// watchClient parks in a read until the client closes the connection (or
// the stream closes it). A client sends nothing on an event stream; bytes
// it might send are read and ignored.
func (d *detachedStream[K, D]) watchClient() {
	defer d.Hub.running.Done()
	var b [1]byte
	for {
		if _, err := d.conn.Read(b[:]); err != nil {
			break
		}
	}
	d.mu.Lock()
	d.left = true
	d.mu.Unlock()
	d.kick()
}

// kick makes sure a drain goroutine will look at the stream. It never
// blocks: the hub calls it under its lock.
func (d *detachedStream[K, D]) kick() {
	if d.Sub.gone() {
		// Let go (maybe for falling behind): a drain stuck writing to a
		// client that stopped reading is cut now, not at its deadline.
		d.conn.Close()
	}
	d.mu.Lock()
	d.kicked = true
	if d.running || d.finished {
		d.mu.Unlock()
		return
	}
	d.running = true
	d.mu.Unlock()
	if !d.Hub.track() {
		// The hub is closing and has let every subscriber go; closing the
		// connection ends the read, and nothing else is left to do.
		d.conn.Close()
		return
	}
	go d.drain()
}

// drain writes what is due until nothing is, then exits; or ends the
// stream.
func (d *detachedStream[K, D]) drain() {
	defer d.Hub.running.Done()
	var buf Buffer
	for {
		d.mu.Lock()
		if !d.kicked {
			d.running = false
			d.mu.Unlock()
			return
		}
		keepalive, expired, left := d.keepalive, d.expired, d.left
		d.kicked, d.keepalive = false, false
		d.mu.Unlock()

		if left {
			d.finish()
			return
		}
		buf.b = buf.b[:0]
		if closed, err := d.appendQueued(d.Hub.ctx, &buf); closed || err != nil {
			d.finish()
			return
		}
		if keepalive && !expired {
			buf.Keepalive()
		}
		if len(buf.b) > 0 {
			if err := d.conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
				d.finish()
				return
			}
			if _, err := d.conn.Write(buf.b); err != nil {
				d.finish()
				return
			}
			d.timer.Reset(keepaliveEvery)
		}
		if expired {
			// What was queued is written; the client resumes after it.
			d.finish()
			return
		}
	}
}

// finish ends the stream: the client sees the connection close and
// reconnects (resuming from its last id) if it still wants events.
func (d *detachedStream[K, D]) finish() {
	d.mu.Lock()
	d.finished, d.running = true, false
	d.mu.Unlock()
	d.timer.Stop()
	if d.expiry != nil {
		d.expiry.Stop()
	}
	d.conn.Close()
	d.Done()
}

// sseWriter writes a stream through net/http's response, for connections
// that cannot be hijacked.
type sseWriter struct {
	c   echo.Context
	rc  *http.ResponseController
	buf Buffer
}

// openResponseStream answers 200 with the event-stream headers.
// (The server's ReadTimeout does not end a stream: net/http lifts the read
// deadline once the request is read.)
func openResponseStream(c echo.Context) *sseWriter {
	streamHeaders(c.Response().Header())
	c.Response().WriteHeader(http.StatusOK)
	return &sseWriter{c: c, rc: http.NewResponseController(c.Response())}
}

// flush sends what was gathered.
func (s *sseWriter) flush() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if len(s.buf.b) > 0 {
		if _, err := s.c.Response().Write(s.buf.b); err != nil {
			return err
		}
		s.buf.b = s.buf.b[:0]
	}
	if cap(s.buf.b) > 4096 {
		s.buf.b = nil // a long replay's buffer is not kept while idle
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

// pump follows the stream in the request's goroutine until the client
// leaves, the hub lets the subscriber go, or a write fails.
func pump[K comparable, D any](ctx context.Context, w *sseWriter, st Stream[K, D]) error {
	wake := make(chan struct{}, 1)
	st.Sub.attach(func() {
		select {
		case wake <- struct{}{}:
		default: // already woken
		}
	})
	clock := st.Hub.cfg.clock
	tick := clock.NewTicker(keepaliveEvery)
	defer tick.Stop()
	var expiry <-chan time.Time // nil: never
	if st.Lifetime > 0 {
		t := clock.NewTimer(st.Lifetime)
		defer t.Stop()
		expiry = t.Chan()
	}
	for {
		select {
		case <-wake:
			if closed, err := st.appendQueued(ctx, &w.buf); closed || err != nil {
				return err
			}
		case <-tick.Chan():
			w.buf.Keepalive()
		case <-expiry:
			return nil
		case <-ctx.Done():
			return nil
		}
		if err := w.flush(); err != nil {
			return err
		}
	}
}

// GoAway answers a stream request that a closing hub refuses (ErrClosed):
// an empty stream with a short retry, so that the client reconnects (to
// another replica) instead of giving up as EventSource does on an error
// status.
func GoAway(c echo.Context) error {
	w := openResponseStream(c)
	defer w.end()
	w.buf = *NewBuffer()
	return w.flush()
}
