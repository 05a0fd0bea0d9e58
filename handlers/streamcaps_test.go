package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"agentpresence/handlers"
	"agentpresence/handlers/live"
)

// streamReq is one stream a test opens: an agent's (account set) or the
// HELP widget's, from a client address (X-Forwarded-For behind a trusted
// proxy).
type streamReq struct {
	account string
	from    string
}

func widgetFrom(addr string) streamReq         { return streamReq{from: addr} }
func agentFrom(account, addr string) streamReq { return streamReq{account: account, from: addr} }

func (f *seeded) open(t *testing.T, r streamReq) *sseClient {
	t.Helper()
	path := f.widgetPath("HELP")
	if r.account != "" {
		path = f.agentPath(t, r.account, "")
	}
	return f.dial(t, path, http.Header{"X-Forwarded-For": {r.from}})
}

// capsFixture serves with small stream caps.
func capsFixture(t *testing.T, lim live.Limits) *seeded {
	t.Helper()
	f := newLive(t, withDeps(func(d *handlers.Deps) {
		d.StreamCaps = live.NewCaps(lim)
		d.TrustProxy = true
	}))
	f.member(t, "bob", "HELP")
	return f
}

// TestStreamCaps is the table of stream floods: past each cap a stream is
// refused with 429 and Retry-After, before any work, while the health
// check and the plain API still answer; the cap is the flooder's only
// (another user or address still gets a stream), and closing streams
// gives their places back.
func TestStreamCaps(t *testing.T) {
	lim := live.Limits{PerUser: 2, PerAddress: 3, Instance: 5}
	tests := []struct {
		name string
		// given streams that are all admitted,
		given []streamReq
		// when one more is asked for, it is refused;
		when streamReq
		// then this one is still admitted (the zero value: none is).
		then streamReq
	}{
		{"one user from several addresses",
			[]streamReq{agentFrom("alice", "10.0.0.1"), agentFrom("alice", "10.0.0.2")},
			agentFrom("alice", "10.0.0.3"), agentFrom("bob", "10.0.0.3")},
		{"one IPv4 address, widget and agent streams together",
			[]streamReq{widgetFrom("192.0.2.7"), widgetFrom("192.0.2.7"), agentFrom("alice", "192.0.2.7")},
			widgetFrom("192.0.2.7"), widgetFrom("192.0.2.8")},
		{"one IPv6 /64 from several addresses",
			[]streamReq{widgetFrom("2001:db8::1"), widgetFrom("2001:db8::2"), widgetFrom("2001:db8::ffff:1")},
			widgetFrom("2001:db8::abcd"), widgetFrom("2001:db8:0:1::1")},
		{"an IPv4 address written as IPv6",
			[]streamReq{widgetFrom("192.0.2.9"), widgetFrom("192.0.2.9"), widgetFrom("192.0.2.9")},
			widgetFrom("::ffff:192.0.2.9"), widgetFrom("192.0.2.10")},
		{"the instance, widget streams from many addresses",
			[]streamReq{widgetFrom("198.51.100.1"), widgetFrom("198.51.100.2"), widgetFrom("198.51.100.3"),
				widgetFrom("198.51.100.4"), widgetFrom("198.51.100.5")},
			widgetFrom("198.51.100.6"), streamReq{}},
		{"the instance, an agent stream",
			[]streamReq{widgetFrom("198.51.100.1"), widgetFrom("198.51.100.2"), widgetFrom("198.51.100.3"),
				widgetFrom("198.51.100.4"), agentFrom("alice", "198.51.100.5")},
			agentFrom("bob", "198.51.100.6"), streamReq{}},
	}
	f := capsFixture(t, lim)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var open []*sseClient
			for i, r := range tt.given {
				c := f.open(t, r)
				if c.resp.StatusCode != http.StatusOK {
					t.Fatalf("stream %d (%+v): %d, want 200", i, r, c.resp.StatusCode)
				}
				c.next(t)
				open = append(open, c)
			}
			refused := f.open(t, tt.when)
			expectTooManyStreams(t, refused)
			expectPlainRequestsAnswer(t, f)
			if tt.then != (streamReq{}) {
				c := f.open(t, tt.then)
				if c.resp.StatusCode != http.StatusOK {
					t.Fatalf("%+v after the refusal: %d, want 200", tt.then, c.resp.StatusCode)
				}
				open = append(open, c)
			}
			for _, c := range open {
				c.resp.Body.Close()
			}
			waitFor(t, "the streams to end", func() bool { return f.widgets.Streams()+f.agents.Streams() == 0 })
			// Their places are free again.
			again := f.open(t, tt.when)
			if again.resp.StatusCode != http.StatusOK {
				t.Fatalf("%+v once the others closed: %d, want 200", tt.when, again.resp.StatusCode)
			}
			again.resp.Body.Close()
			waitFor(t, "the stream to end", func() bool { return f.widgets.Streams()+f.agents.Streams() == 0 })
		})
	}
}

// expectTooManyStreams checks a refusal: 429, a Retry-After in seconds and
// the JSON error.
func expectTooManyStreams(t *testing.T, c *sseClient) {
	t.Helper()
	defer c.resp.Body.Close()
	if c.resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", c.resp.StatusCode)
	}
	if secs, err := strconv.Atoi(c.resp.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Fatalf("Retry-After %q, want seconds", c.resp.Header.Get("Retry-After"))
	}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.NewDecoder(c.resp.Body).Decode(&body); err != nil || body.Error.Code != "too_many_streams" || body.Error.Message == "" {
		t.Fatalf("body %+v (%v), want the too_many_streams error", body, err)
	}
}

// expectPlainRequestsAnswer asks /healthz and the public status over the
// same server.
func expectPlainRequestsAnswer(t *testing.T, f *seeded) {
	t.Helper()
	for _, path := range []string{"/healthz", "/public/v1/widgets/" + f.projects["HELP"].WidgetID + "/status"} {
		ctx, cancel := context.WithTimeout(context.Background(), streamWait)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+path, nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", path, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d (%v), want 200", path, resp.StatusCode, err)
		}
	}
}

// TestRefusedStreamsKeepNoPlace: streams that end before they start (an
// unknown widget, a user without projects' stream) give their places back.
func TestRefusedStreamsKeepNoPlace(t *testing.T) {
	f := capsFixture(t, live.Limits{PerUser: 1, PerAddress: 2, Instance: 2})
	for range 5 {
		c := f.dial(t, "/public/v1/widgets/w_unknown/events", http.Header{"X-Forwarded-For": {"192.0.2.1"}})
		if c.resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown widget: %d, want 404", c.resp.StatusCode)
		}
		c.resp.Body.Close()
	}
	for _, r := range []streamReq{widgetFrom("192.0.2.1"), agentFrom("alice", "192.0.2.1")} {
		if c := f.open(t, r); c.resp.StatusCode != http.StatusOK {
			t.Fatalf("%+v after refused streams: %d, want 200", r, c.resp.StatusCode)
		}
	}
}

// TestStreamsEndAfterTheirLifetime: a stream is ended between a quarter
// before and at its lifetime, by the injected clock; the client resumes
// with Last-Event-ID and gets what changed meanwhile.
func TestStreamsEndAfterTheirLifetime(t *testing.T) {
	const lifetime = 20 * time.Minute
	tests := []struct {
		name   string
		http2  bool
		agent  bool
		change func(f *seeded, online bool)
		check  func(t *testing.T, ev sseEvent, online bool)
	}{
		{name: "widget stream", check: func(t *testing.T, ev sseEvent, online bool) {
			if s := ev.status(t); s.Online != online {
				t.Fatalf("replayed %+v, want online %t", s, online)
			}
		}},
		{name: "agent stream", agent: true, check: func(t *testing.T, ev sseEvent, online bool) {
			if n := ev.counts(t)["HELP"]; (n > 0) != online {
				t.Fatalf("replayed HELP count %d, want online %t", n, online)
			}
		}},
		{name: "widget stream over HTTP/2", http2: true, check: func(t *testing.T, ev sseEvent, online bool) {
			if s := ev.status(t); s.Online != online {
				t.Fatalf("replayed %+v, want online %t", s, online)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLive(t, withDeps(func(d *handlers.Deps) {
				d.StreamCaps = live.NewCaps(live.Limits{Lifetime: lifetime})
			}))
			srv := f.srv
			if tt.http2 {
				srv = startHTTP2(t, f)
			}
			path := f.widgetPath("HELP")
			if tt.agent {
				path = f.agentPath(t, "alice", "")
			}
			c := dial(t, srv, path, nil)
			last := c.next(t)

			// Until three quarters of its lifetime it stays.
			ctx, cancel := context.WithTimeout(context.Background(), streamWait)
			defer cancel()
			if err := f.clock.BlockUntilContext(ctx, 2); err != nil { // keepalive and lifetime
				t.Fatal(err)
			}
			f.clock.Advance(lifetime*3/4 - time.Second)
			if ev := c.next(t); ev.name != "keepalive" {
				t.Fatalf("before its lifetime the stream sent %+v, want a keepalive", ev)
			}
			f.set(t, "alice", true, "HELP")
			last = c.nextData(t)
			tt.check(t, last, true)

			// At its lifetime it ends.
			f.clock.Advance(lifetime/4 + time.Second)
			c.ended(t)
			if tt.http2 {
				waitStreams(t, f, 0)
			}

			// What changed while the client was away is replayed.
			f.member(t, "alice", "HELP") // fresh again on the moved clock
			f.set(t, "alice", false, "HELP")
			if tt.agent {
				path = f.agentPath(t, "alice", "") // a fresh token, as the page's
			}
			again := dial(t, srv, path, http.Header{"Last-Event-ID": {last.id}})
			if again.resp.StatusCode != http.StatusOK {
				t.Fatalf("resuming: %d", again.resp.StatusCode)
			}
			tt.check(t, again.nextData(t), false)
		})
	}
}
