package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestInstanceStreamCapFollowsOpenFiles runs the real app with the
// open-files limit injected: the instance's stream cap is what that limit
// leaves after its reserve (half of a limit this small), so the app admits
// that many streams, refuses the next with 429 and Retry-After, and still
// answers /healthz and the status API.
func TestInstanceStreamCapFollowsOpenFiles(t *testing.T) {
	tests := []struct {
		openFiles uint64
		expectCap int
	}{
		{openFiles: 16, expectCap: 8},
		{openFiles: 24, expectCap: 12},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d descriptors", tt.openFiles), func(t *testing.T) {
			cfg := Config{Port: 0, BaseURL: "http://127.0.0.1", DatabaseURL: dbtest.URL(t, models.DialectSQLite),
				AppKey: "io.example.presence", AppName: "Presence", AppSecretKey: []byte("0123456789abcdef0123456789abcdef"),
				JWTLeeway: 30 * time.Second, RateLimits: true, StreamsPerUser: 10, StreamsPerAddress: 300}
			a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), os.DirFS(".."),
				Options{OpenFiles: func() (uint64, error) { return tt.openFiles, nil }})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { shutdown(t, a) })
			_, help := installProject(t, a.Store())
			waitFor(t, "the board to learn of the project", func() bool { _, ok := a.board.Widget(help.WidgetID); return ok })
			client := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(client.CloseIdleConnections)
			probe := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
			t.Cleanup(probe.CloseIdleConnections)

			for range tt.expectCap {
				openWidgetStream(t, client, a, help.WidgetID).next(t)
			}
			resp, err := probe.Get("http://" + a.Addr() + "/public/v1/widgets/" + help.WidgetID + "/events")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close() // a stream, if admitted, is not read
			if secs, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || secs < 1 {
				t.Fatalf("stream %d: %d with Retry-After %q, want 429 with seconds", tt.expectCap+1, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			for _, path := range []string{"/healthz", "/public/v1/widgets/" + help.WidgetID + "/status"} {
				resp, err := probe.Get("http://" + a.Addr() + path)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s beside %d streams: %d", path, tt.expectCap, resp.StatusCode)
				}
			}
		})
	}
}
