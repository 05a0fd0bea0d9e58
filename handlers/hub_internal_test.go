package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
)

func testHub(buffer, history int) *hub[string, int] {
	return newHub[string, int](hubSettings{buffer: buffer, history: history, maxStreams: 3})
}

// receive takes what a subscriber has queued.
func receive(sub *subscriber[string, int]) (got []int, open bool) {
	evs, closed := sub.take()
	for _, ev := range evs {
		got = append(got, ev.data)
	}
	return got, !closed
}

func mustSubscribe(t *testing.T, h *hub[string, int], key, last string) subscription[string, int] {
	t.Helper()
	s, err := h.subscribe(key, last)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHubFansOutByKey(t *testing.T) {
	h := testHub(16, 16)
	a1, a2, b := mustSubscribe(t, h, "a", ""), mustSubscribe(t, h, "a", ""), mustSubscribe(t, h, "b", "")
	h.publish("a", 1, false)
	h.publish("b", 2, false)
	h.publish("c", 3, false) // nobody listens
	for _, tt := range []struct {
		name   string
		sub    subscription[string, int]
		expect []int
	}{{"a1", a1, []int{1}}, {"a2", a2, []int{1}}, {"b", b, []int{2}}} {
		if got, open := receive(tt.sub.sub); !slices.Equal(got, tt.expect) || !open {
			t.Errorf("%s got %v (open %t), want %v", tt.name, got, open, tt.expect)
		}
	}
	if !h.watching("a") || h.watching("c") {
		t.Fatal("watching is wrong")
	}
	h.unsubscribe(a1.sub)
	h.unsubscribe(a1.sub) // harmless twice
	h.publish("a", 4, false)
	if got, _ := receive(a1.sub); len(got) != 0 {
		t.Fatalf("an unsubscribed stream got %v", got)
	}
	if got, _ := receive(a2.sub); !slices.Equal(got, []int{4}) {
		t.Fatalf("a2 got %v", got)
	}
	if n := h.streams(); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
}

func TestHubDropsASlowSubscriberAndNoOneElse(t *testing.T) {
	h := testHub(2, 16)
	slow, fast := mustSubscribe(t, h, "a", ""), mustSubscribe(t, h, "a", "")
	var got []int
	for i := 1; i <= 5; i++ {
		h.publish("a", i, false) // never blocks, whoever does not read
		evs, open := receive(fast.sub)
		if !open {
			t.Fatal("the fast subscriber was dropped")
		}
		got = append(got, evs...)
	}
	if !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("the fast subscriber got %v", got)
	}
	if !slow.sub.gone() {
		t.Fatal("the slow subscriber was kept")
	}
	if _, open := receive(slow.sub); open {
		t.Fatal("the slow subscriber is still open")
	}
	if n := h.streams(); n != 1 {
		t.Fatalf("%d streams, want 1", n)
	}
	h.unsubscribe(slow.sub) // its handler still says goodbye: harmless
	if n := h.streams(); n != 1 {
		t.Fatalf("%d streams after a late unsubscribe, want 1", n)
	}
}

func TestHubResumesFromItsHistory(t *testing.T) {
	h := testHub(16, 4)
	first := mustSubscribe(t, h, "a", "")
	if first.resumed || first.cursor != 0 {
		t.Fatalf("a first subscription: %+v", first)
	}
	h.publish("a", 1, false) // id 1
	h.publish("b", 2, false) // id 2
	h.publish("a", 3, false) // id 3

	tests := []struct {
		name        string
		given       string
		expectResum bool
		expect      []int
	}{
		{"no id", "", false, nil},
		{"from the start", h.eventID(0), true, []int{1, 3}},
		{"after the first", h.eventID(1), true, []int{3}},
		{"up to date", h.eventID(3), true, nil},
		{"from the future", h.eventID(4), false, nil},
		{"another epoch", "0000." + "1", false, nil},
		{"garbage", "x", false, nil},
	}
	for _, tt := range tests {
		s := mustSubscribe(t, h, "a", tt.given)
		var got []int
		for _, ev := range s.replay {
			got = append(got, ev.data)
		}
		if s.resumed != tt.expectResum || !slices.Equal(got, tt.expect) || s.cursor != 3 {
			t.Errorf("%s: resumed %t replay %v cursor %d, want %t %v 3", tt.name, s.resumed, got, s.cursor, tt.expectResum, tt.expect)
		}
		h.unsubscribe(s.sub)
	}

	// Past the history's size, the oldest point is no longer resumable.
	h.publish("a", 5, false) // id 4
	h.publish("a", 6, false) // id 5: id 1 leaves the ring
	s := mustSubscribe(t, h, "a", h.eventID(0))
	if s.resumed {
		t.Fatal("resumed from an event that left the ring")
	}
	h.unsubscribe(s.sub)
	s = mustSubscribe(t, h, "a", h.eventID(1))
	if !s.resumed || len(s.replay) != 3 {
		t.Fatalf("resume after id 1: %+v", s)
	}
	h.unsubscribe(s.sub)
	// After a gap, nothing is resumable, not even "up to date".
	h.forgetHistory()
	if s := mustSubscribe(t, h, "b", h.eventID(5)); s.resumed {
		t.Fatal("resumed across a resync")
	}
}

func TestHubCloseEndsStreamsAndRefusesNewOnes(t *testing.T) {
	h := testHub(16, 16)
	a, b := mustSubscribe(t, h, "a", ""), mustSubscribe(t, h, "b", "")
	h.end("a")
	if !a.sub.gone() || b.sub.gone() {
		t.Fatal("end(a) must end a's streams only")
	}
	h.close()
	if !b.sub.gone() {
		t.Fatal("close left a stream open")
	}
	if _, err := h.subscribe("a", ""); !errors.Is(err, errHubClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
	h.publish("a", 1, false) // harmless
}

func TestHubBoundsItsStreams(t *testing.T) {
	h := testHub(16, 16) // at most 3
	for range 3 {
		mustSubscribe(t, h, "a", "")
	}
	if _, err := h.subscribe("b", ""); !errors.Is(err, errTooManyStreams) {
		t.Fatalf("a fourth stream: %v", err)
	}
}

// TestPumpStopsAtOnceWhenDropped: a dropped subscriber's buffered events
// are not written; its stream ends.
func TestPumpStopsAtOnceWhenDropped(t *testing.T) {
	h := testHub(4, 16)
	s := mustSubscribe(t, h, "a", "")
	h.publish("a", 1, false)
	h.publish("a", 2, false)
	h.end("a")
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
	wrote, done := 0, 0
	err := serveStream(c, stream[string, int]{hub: h, sub: s.sub, clock: clockwork.NewFakeClock(),
		write: func(context.Context, *sseBuffer, *hubEvent[string, int]) error {
			wrote++
			return nil
		},
		done: func() { done++ },
	}, newSSEBuffer())
	if done != 1 {
		t.Fatalf("done ran %d times, want once", done)
	}
	if err != nil || wrote != 0 {
		t.Fatalf("pump: %v, wrote %d events of a dropped stream", err, wrote)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	if !strings.HasPrefix(rec.Body.String(), "retry: ") {
		t.Fatalf("body %q", rec.Body.String())
	}
}

// TestDetachedStreamCutsAClientThatStopsReading: a client that reads
// nothing blocks its stream's write (net.Pipe has no buffer at all); the
// stream falls behind, the hub lets it go, and the write is cut at once
// rather than at its 30 s deadline.
func TestDetachedStreamCutsAClientThatStopsReading(t *testing.T) {
	h := testHub(2, 16)
	s := mustSubscribe(t, h, "a", "")
	server, client := net.Pipe()
	defer client.Close()
	done, writing := make(chan struct{}), make(chan struct{}, 4)
	detach(server, stream[string, int]{hub: h, sub: s.sub, clock: clockwork.NewFakeClock(),
		write: func(_ context.Context, buf *sseBuffer, ev *hubEvent[string, int]) error {
			buf.event(h.eventID(ev.id), "n", []byte(strconv.Itoa(ev.data)))
			writing <- struct{}{}
			return nil
		},
		done: func() {
			h.unsubscribe(s.sub)
			close(done)
		}})
	h.publish("a", 1, false)
	<-writing // the drain took the event and goes on to write it, for ever
	for i := 2; i <= 4; i++ {
		h.publish("a", i, false)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of a client that stopped reading did not end")
	}
	if n := h.streams(); n != 0 {
		t.Fatalf("%d streams, want 0", n)
	}
	closed := make(chan struct{})
	go func() { h.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close waits for a stream's goroutines that should have ended")
	}
}
