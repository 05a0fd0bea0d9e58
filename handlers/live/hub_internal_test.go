package live

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

func testHub(buffer, history int) *Hub[string, int] {
	return NewHub[string, int](WithBuffer(buffer), WithHistory(history), WithMaxStreams(3), WithClock(clockwork.NewFakeClock()))
}

// receive takes what a subscriber has queued.
func receive(sub *Subscriber[string, int]) (got []int, open bool) {
	evs, closed := sub.take()
	for _, ev := range evs {
		got = append(got, ev.Data)
	}
	return got, !closed
}

func mustSubscribe(t *testing.T, h *Hub[string, int], key, last string) Subscription[string, int] {
	t.Helper()
	s, err := h.Subscribe(key, last)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHubFansOutByKey(t *testing.T) {
	h := testHub(16, 16)
	a1, a2, b := mustSubscribe(t, h, "a", ""), mustSubscribe(t, h, "a", ""), mustSubscribe(t, h, "b", "")
	h.Publish("a", 1)
	h.Publish("b", 2)
	h.Publish("c", 3) // nobody listens
	for _, tt := range []struct {
		name   string
		sub    Subscription[string, int]
		expect []int
	}{{"a1", a1, []int{1}}, {"a2", a2, []int{1}}, {"b", b, []int{2}}} {
		if got, open := receive(tt.sub.Sub); !slices.Equal(got, tt.expect) || !open {
			t.Errorf("%s got %v (open %t), want %v", tt.name, got, open, tt.expect)
		}
	}
	if !h.Watching("a") || h.Watching("c") {
		t.Fatal("watching is wrong")
	}
	h.Unsubscribe(a1.Sub)
	h.Unsubscribe(a1.Sub) // harmless twice
	h.Publish("a", 4)
	if got, _ := receive(a1.Sub); len(got) != 0 {
		t.Fatalf("an unsubscribed stream got %v", got)
	}
	if got, _ := receive(a2.Sub); !slices.Equal(got, []int{4}) {
		t.Fatalf("a2 got %v", got)
	}
	if n := h.Streams(); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
}

func TestHubDropsASlowSubscriberAndNoOneElse(t *testing.T) {
	h := testHub(2, 16)
	slow, fast := mustSubscribe(t, h, "a", ""), mustSubscribe(t, h, "a", "")
	var got []int
	for i := 1; i <= 5; i++ {
		h.Publish("a", i) // never blocks, whoever does not read
		evs, open := receive(fast.Sub)
		if !open {
			t.Fatal("the fast subscriber was dropped")
		}
		got = append(got, evs...)
	}
	if !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("the fast subscriber got %v", got)
	}
	if !slow.Sub.gone() {
		t.Fatal("the slow subscriber was kept")
	}
	if _, open := receive(slow.Sub); open {
		t.Fatal("the slow subscriber is still open")
	}
	if n := h.Streams(); n != 1 {
		t.Fatalf("%d streams, want 1", n)
	}
	h.Unsubscribe(slow.Sub) // its handler still says goodbye: harmless
	if n := h.Streams(); n != 1 {
		t.Fatalf("%d streams after a late unsubscribe, want 1", n)
	}
}

func TestHubResumesFromItsHistory(t *testing.T) {
	h := testHub(16, 4)
	first := mustSubscribe(t, h, "a", "")
	if first.Resumed || first.Cursor != 0 {
		t.Fatalf("a first subscription: %+v", first)
	}
	h.Publish("a", 1) // id 1
	h.Publish("b", 2) // id 2
	h.Publish("a", 3) // id 3

	tests := []struct {
		name        string
		given       string
		expectResum bool
		expect      []int
	}{
		{"no id", "", false, nil},
		{"from the start", h.EventID(0), true, []int{1, 3}},
		{"after the first", h.EventID(1), true, []int{3}},
		{"up to date", h.EventID(3), true, nil},
		{"from the future", h.EventID(4), false, nil},
		{"another epoch", "0000." + "1", false, nil},
		{"garbage", "x", false, nil},
	}
	for _, tt := range tests {
		s := mustSubscribe(t, h, "a", tt.given)
		var got []int
		for _, ev := range s.Replay {
			got = append(got, ev.Data)
		}
		if s.Resumed != tt.expectResum || !slices.Equal(got, tt.expect) || s.Cursor != 3 {
			t.Errorf("%s: resumed %t replay %v cursor %d, want %t %v 3", tt.name, s.Resumed, got, s.Cursor, tt.expectResum, tt.expect)
		}
		h.Unsubscribe(s.Sub)
	}

	// Past the history's size, the oldest point is no longer resumable.
	h.Publish("a", 5) // id 4
	h.Publish("a", 6) // id 5: id 1 leaves the ring
	s := mustSubscribe(t, h, "a", h.EventID(0))
	if s.Resumed {
		t.Fatal("resumed from an event that left the ring")
	}
	h.Unsubscribe(s.Sub)
	s = mustSubscribe(t, h, "a", h.EventID(1))
	if !s.Resumed || len(s.Replay) != 3 {
		t.Fatalf("resume after id 1: %+v", s)
	}
	h.Unsubscribe(s.Sub)
	// After a gap, nothing is resumable, not even "up to date".
	h.ForgetHistory()
	if s := mustSubscribe(t, h, "b", h.EventID(5)); s.Resumed {
		t.Fatal("resumed across a resync")
	}
}

func TestHubCloseEndsStreamsAndRefusesNewOnes(t *testing.T) {
	h := testHub(16, 16)
	a, b := mustSubscribe(t, h, "a", ""), mustSubscribe(t, h, "b", "")
	h.End("a")
	if !a.Sub.gone() || b.Sub.gone() {
		t.Fatal("end(a) must end a's streams only")
	}
	h.Close()
	if !b.Sub.gone() {
		t.Fatal("close left a stream open")
	}
	if _, err := h.Subscribe("a", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
	h.Publish("a", 1) // harmless
}

func TestHubBoundsItsStreams(t *testing.T) {
	h := testHub(16, 16) // at most 3
	for range 3 {
		mustSubscribe(t, h, "a", "")
	}
	if _, err := h.Subscribe("b", ""); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("a fourth stream: %v", err)
	}
}

// TestPumpStopsAtOnceWhenDropped: a dropped subscriber's buffered events
// are not written; its stream ends.
func TestPumpStopsAtOnceWhenDropped(t *testing.T) {
	h := testHub(4, 16)
	s := mustSubscribe(t, h, "a", "")
	h.Publish("a", 1)
	h.Publish("a", 2)
	h.End("a")
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
	wrote, done := 0, 0
	err := Serve(c, Stream[string, int]{Hub: h, Sub: s.Sub,
		Write: func(context.Context, *Buffer, *Event[string, int]) error {
			wrote++
			return nil
		},
		Done: func() { done++ },
	}, NewBuffer())
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
	detach(server, Stream[string, int]{Hub: h, Sub: s.Sub,
		Write: func(_ context.Context, buf *Buffer, ev *Event[string, int]) error {
			buf.Event(h.EventID(ev.ID), "n", []byte(strconv.Itoa(ev.Data)))
			writing <- struct{}{}
			return nil
		},
		Done: func() {
			h.Unsubscribe(s.Sub)
			close(done)
		}})
	h.Publish("a", 1)
	<-writing // the drain took the event and goes on to write it, for ever
	for i := 2; i <= 4; i++ {
		h.Publish("a", i)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of a client that stopped reading did not end")
	}
	if n := h.Streams(); n != 0 {
		t.Fatalf("%d streams, want 0", n)
	}
	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close waits for a stream's goroutines that should have ended")
	}
}
