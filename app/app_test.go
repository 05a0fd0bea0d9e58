package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink the test can read while the app writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestMainServesAndShutsDown runs the real Main, as `go run .` would, on a
// fresh SQLite file, checks the descriptor and probes, then stops it the
// way SIGTERM does (its context ends) and expects a clean return.
func TestMainServesAndShutsDown(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	env := map[string]string{"PORT": fmt.Sprint(port), "DATABASE_URL": "sqlite:" + filepath.Join(dir, "db", "p.db")}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Main(ctx, nil, envOf(env), logs, os.DirFS("..")) }()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		resp, err = http.Get(base + "/healthz")
		if err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Main returned early: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("server never answered: %v\n%s", err, logs)
	}
	resp.Body.Close()

	resp, err = http.Get(base + "/atlassian-connect.json")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		BaseURL string `json:"baseUrl"`
		Key     string `json:"key"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.BaseURL != fmt.Sprintf("http://localhost:%d", port) || d.Key != defaultAppKey {
		t.Fatalf("descriptor: %v %s", err, body)
	}
	resp, err = http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", err, resp)
	}
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not return after its context ended")
	}
	if !strings.Contains(logs.String(), `"msg":"config"`) || !strings.Contains(logs.String(), `"app_secret_key":"set (masked)"`) {
		t.Fatalf("the effective config was not logged with the key masked:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "db", "app-secret.key")); err != nil {
		t.Fatalf("no generated key beside the database: %v", err)
	}
}

func TestMainRefusesDemoOffLoopback(t *testing.T) {
	err := Main(context.Background(), []string{"-demo"}, envOf(map[string]string{
		"BASE_URL": "https://presence.example.com", "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "p.db")}),
		io.Discard, os.DirFS(".."))
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("got %v", err)
	}
}
