package logsink

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an output that may be held (stuck) until released.
type lockedBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	gate chan struct{}
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	if l.gate != nil {
		<-l.gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWriterKeepsEveryLineInOrder writes lines from several goroutines
// into a small buffer whose output is stuck at first: writers then wait
// (counted) rather than drop, each goroutine's lines come out whole and in
// its order, and Close leaves nothing behind; writes after Close go out
// directly.
func TestWriterKeepsEveryLineInOrder(t *testing.T) {
	out := &lockedBuffer{gate: make(chan struct{})}
	w := New(out, 256, time.Hour)
	const writers, lines = 4, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				if _, err := fmt.Fprintf(w, "w%d line %04d\n", g, i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	close(out.gate)
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("after close\n")); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines+1 {
		t.Fatalf("%d lines, want %d", len(got), writers*lines+1)
	}
	next := make([]int, writers)
	for _, l := range got[:len(got)-1] {
		var g, i int
		if _, err := fmt.Sscanf(l, "w%d line %04d", &g, &i); err != nil || g < 0 || g >= writers {
			t.Fatalf("line %q is not one written", l)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if got[len(got)-1] != "after close" {
		t.Errorf("last line %q, want the one written after Close", got[len(got)-1])
	}
	if w.Waits() == 0 {
		t.Error("no write waited, though the buffer was smaller than the lines")
	}
}

// TestWriterWritesWithoutClose: an idle writer's lines go out without
// waiting for Close (the goroutine is woken by the first line).
func TestWriterWritesWithoutClose(t *testing.T) {
	out := &lockedBuffer{}
	w := New(out, 0, time.Hour)
	defer w.Close()
	if _, err := w.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "one\n" {
		if time.Now().After(deadline) {
			t.Fatalf("output %q after 5 s, want the line", out.String())
		}
		time.Sleep(time.Millisecond)
	}
}
