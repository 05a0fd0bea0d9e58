package handlers

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// heldOutput holds every write until released.
type heldOutput struct {
	gate chan struct{}
	mu   sync.Mutex
	b    strings.Builder
}

func (h *heldOutput) Write(p []byte) (int, error) {
	<-h.gate
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.b.Write(p)
}

// TestAccessLogWaitsRatherThanDrops fills a queue of two behind a stuck
// output: the requests wait for room (counted) and, once the output moves,
// every line is written by Close.
func TestAccessLogWaitsRatherThanDrops(t *testing.T) {
	out := &heldOutput{gate: make(chan struct{})}
	access := NewAccessLog(slog.New(slog.NewJSONHandler(out, nil)), 2)
	const lines = 50
	var wg sync.WaitGroup
	for i := range lines {
		wg.Go(func() {
			access.add(accessEntry{level: slog.LevelInfo, method: "GET", path: "/x", route: "/x", status: 200 + i})
		})
	}
	// At most 2 queued and 1 being written: the others wait.
	for access.Waits() < lines-3 {
		runtime.Gosched()
	}
	close(out.gate)
	wg.Wait()
	if err := access.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.b.String(), `"msg":"request"`); got != lines {
		t.Errorf("%d lines written, want %d", got, lines)
	}
	// After Close a line is written at once, by its request.
	access.add(accessEntry{level: slog.LevelInfo, method: "GET", path: "/late", route: "/late", status: 200})
	if !strings.Contains(out.b.String(), `"path":"/late"`) {
		t.Error("a line added after Close was not written")
	}
}
