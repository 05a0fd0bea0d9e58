package handlers_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"agentpresence/models"
)

// rawStream is a stream opened over a bare TCP socket: no goroutine on the
// client's side, so that the test counts only the server's.
type rawStream struct {
	conn net.Conn
	r    *bufio.Reader
}

func openRawStream(t *testing.T, srv *httptest.Server, path string) *rawStream {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	s := &rawStream{conn: conn, r: bufio.NewReader(conn)}
	if line := s.line(t); line != "HTTP/1.1 200 OK" {
		t.Fatalf("status line %q", line)
	}
	return s
}

// line reads one line, bounded in time.
func (s *rawStream) line(t *testing.T) string {
	t.Helper()
	if err := s.conn.SetReadDeadline(time.Now().Add(streamWait)); err != nil {
		t.Fatal(err)
	}
	line, err := s.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(line, "\r\n")
}

// data reads up to the next event's data line.
func (s *rawStream) data(t *testing.T) string {
	t.Helper()
	for {
		if line := s.line(t); strings.HasPrefix(line, "data: ") {
			return line[len("data: "):]
		}
	}
}

// TestIdleStreamsHoldNoRequestGoroutine: over HTTP/1.1 a stream hands its
// connection's request goroutine back (with net/http's buffers); an idle
// stream keeps one parked read. Then events still reach every stream, and
// clients that leave are noticed without any write.
func TestIdleStreamsHoldNoRequestGoroutine(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	const n = 40
	before := runtime.NumGoroutine()
	streams := make([]*rawStream, n)
	for i := range streams {
		streams[i] = openRawStream(t, f.srv, f.widgetPath("HELP"))
		if !strings.Contains(streams[i].data(t), `"online":false`) {
			t.Fatal("the first event is not the offline status")
		}
	}
	// A request goroutine would be a second one per stream (net/http also
	// parks a background read for each request it serves).
	waitFor(t, "one goroutine per idle stream", func() bool { return runtime.NumGoroutine()-before <= n+2 })

	f.set(t, "alice", true, "HELP")
	for _, s := range streams {
		if got := s.data(t); !strings.Contains(got, `"online":true`) {
			t.Fatalf("after going online a stream got %s", got)
		}
	}
	for _, s := range streams {
		s.conn.Close()
	}
	waitStreams(t, f, 0)
	waitFor(t, "the streams' goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

// TestStreamHeadIsComplete: the hand-written response head carries what
// net/http would send and what middleware added, and says that the body
// ends with the connection.
func TestStreamHeadIsComplete(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	s := openRawStream(t, f.srv, f.widgetPath("HELP"))
	head := http.Header{}
	for {
		line := s.line(t)
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("malformed header line %q", line)
		}
		head.Add(k, v)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store",
		"Connection": "close", "X-Content-Type-Options": "nosniff"} {
		if got := head.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if _, err := http.ParseTime(head.Get("Date")); err != nil {
		t.Errorf("Date %q: %v", head.Get("Date"), err)
	}
	if head.Get("Content-Length") != "" || head.Get("Transfer-Encoding") != "" {
		t.Errorf("a close-delimited body with framing headers: %v", head)
	}
	if !strings.HasPrefix(s.line(t), "retry: ") {
		t.Error("the body does not start with the reconnection delay")
	}
}

// TestStreamsOverHTTP2: a connection that cannot be hijacked streams from
// the request's goroutine, with the same events and keepalives.
func TestStreamsOverHTTP2(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	srv := startHTTP2(t, f)
	c := dial(t, srv, f.widgetPath("HELP"), nil)
	if c.resp.ProtoMajor != 2 || c.resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %d, want HTTP/2 200", c.resp.Proto, c.resp.StatusCode)
	}
	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	if s := c.next(t).status(t); s.Online {
		t.Fatalf("first event %+v, want offline", s)
	}
	f.set(t, "alice", true, "HELP")
	if s := c.next(t).status(t); !s.Online {
		t.Fatalf("after going online: %+v", s)
	}
	expectKeepalive(t, f, c)
	c.resp.Body.Close()
	waitStreams(t, f, 0)
}

// startHTTP2 serves the harness's router over HTTP/2 (TLS), where streams
// cannot be hijacked.
func startHTTP2(t *testing.T, f *seeded) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(f.server)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	// Streams end before the server closes, which waits for them.
	t.Cleanup(func() { f.agents.Close(); f.widgets.Close(); srv.Close() })
	return srv
}
