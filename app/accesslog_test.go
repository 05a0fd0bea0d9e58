package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedWriter holds every write, once held, until open is closed: a log
// output slower than the requests, so that lines are still queued when
// shutdown starts.
type gatedWriter struct {
	held atomic.Bool
	open chan struct{}
	out  *syncBuffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	if g.held.Load() {
		<-g.open
		// A slow output: it takes longer to write the lines than to shut
		// the rest down.
		time.Sleep(2 * time.Millisecond)
	}
	return g.out.Write(p)
}

// TestAccessLogKeepsEveryLineOnShutdown answers requests while the log's
// output is stuck, then shuts down: every request answered before the
// shutdown has its line written when Shutdown returns (the access log is
// written off the request's path, and flushed after the server stops).
func TestAccessLogKeepsEveryLineOnShutdown(t *testing.T) {
	port := freePort(t)
	cfg := Config{Port: port, BaseURL: fmt.Sprintf("http://127.0.0.1:%d", port),
		DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "p.db"), AppKey: "io.example.presence", AppName: "Presence",
		AppSecretKey: []byte("0123456789abcdef0123456789abcdef"), JWTLeeway: 30 * time.Second}
	logs := &syncBuffer{}
	out := &gatedWriter{open: make(chan struct{}), out: logs}
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(context.Background(), cfg, log, os.DirFS(".."), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	out.held.Store(true)
	const requests = 300
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Go(func() {
			resp, err := client.Get(fmt.Sprintf("%s/healthz?n=%d", cfg.BaseURL, i))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every request was answered while the output was stuck; let it go and
	// shut down at once.
	close(out.open)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := strings.Count(logs.String(), `"route":"/healthz"`)
	if got != requests {
		t.Errorf("%d request lines written by the end of Shutdown, want %d", got, requests)
	}
}
