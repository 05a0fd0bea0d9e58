package handlers_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers"
)

// TestLogThrottleCountsWhatItLeavesOut: a flood of one kind of line passes
// its burst, then its rate; the next line that passes says how many were
// left out; other kinds (another route or status) are not held back.
func TestLogThrottleCountsWhatItLeavesOut(t *testing.T) {
	var out strings.Builder
	h := handlers.NewLogThrottle(slog.NewJSONHandler(&out, nil), 1, 3)
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	logAt := func(when time.Time, route string, status int) {
		r := slog.NewRecord(when, slog.LevelInfo, "request", 0)
		r.AddAttrs(slog.String("path", "/x/"+strings.Repeat("a", 10)), slog.String("route", route), slog.Int("status", status))
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		logAt(at, "", 404)
	}
	logAt(at, "/api/v1/me", 200)
	logAt(at.Add(time.Second), "", 404)

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 3 of the burst, 1 of another kind, 1 a second later:\n%s", len(lines), out.String())
	}
	if lines[3]["route"] != "/api/v1/me" {
		t.Fatalf("another kind was held back: %v", lines[3])
	}
	if got := lines[4]["suppressed"]; got != float64(97) {
		t.Fatalf("suppressed %v, want 97", got)
	}
	if _, ok := lines[2]["suppressed"]; ok {
		t.Fatalf("a line of the burst says it follows suppressed lines: %v", lines[2])
	}
}
