package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestClockAdvance: POST /demo/api/clock moves the clock ahead by a bounded,
// positive step and runs the time-driven jobs; refused steps move nothing.
func TestClockAdvance(t *testing.T) {
	clock := NewClock()
	ticks := 0
	h, err := New(Options{BaseURL: "http://localhost:18080", AppKey: "io.example.presence", Now: clock.Now, Clock: clock,
		Tick: func(context.Context) error { ticks++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	read := func(method, query string) (int, time.Time) {
		t.Helper()
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(method, "http://localhost:18080/demo/api/clock"+query, nil)
		h.ServeHTTP(rec, r)
		var body struct {
			Now time.Time `json:"now"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body.Now
	}
	for _, bad := range []string{"", "?advance=-1m", "?advance=0s", "?advance=25h", "?advance=soon"} {
		if code, _ := read(http.MethodPost, bad); code != http.StatusBadRequest {
			t.Errorf("advance %q: %d, want 400", bad, code)
		}
	}
	if ticks != 0 {
		t.Fatalf("refused steps ran the jobs %d times", ticks)
	}
	before := time.Now()
	code, now := read(http.MethodPost, "?advance=10m")
	if code != http.StatusOK || now.Before(before.Add(10*time.Minute-time.Second)) || now.After(time.Now().Add(10*time.Minute+time.Second)) {
		t.Fatalf("after advancing 10m: %d %s (real %s)", code, now, before)
	}
	if ticks != 1 {
		t.Fatalf("the jobs ran %d times, want 1", ticks)
	}
	if _, got := read(http.MethodGet, ""); got.Before(now) {
		t.Fatalf("GET: %s, before %s", got, now)
	}
}
