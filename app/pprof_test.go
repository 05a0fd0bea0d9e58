package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPprofAddrOnlyOnLoopback(t *testing.T) {
	for _, tt := range []struct {
		given   string
		wantErr bool
	}{
		{"", false}, // off, the default
		{"127.0.0.1:6060", false},
		{"127.0.0.2:6060", false},
		{"[::1]:6060", false},
		{"localhost:6060", false},
		{"127.0.0.1:0", false},
		{":6060", true}, // every interface
		{"0.0.0.0:6060", true},
		{"[::]:6060", true},
		{"10.1.2.3:6060", true},
		{"example.com:6060", true},
		{"127.0.0.1", true}, // no port
		{"127.0.0.1:", true},
	} {
		cfg, err := LoadConfig(envOf(map[string]string{"PPROF_ADDR": tt.given}))
		if (err != nil) != tt.wantErr {
			t.Errorf("PPROF_ADDR=%q: err %v, want error %v", tt.given, err, tt.wantErr)
			continue
		}
		if err == nil && cfg.PprofAddr != tt.given {
			t.Errorf("PPROF_ADDR=%q: kept %q", tt.given, cfg.PprofAddr)
		}
	}
}

// TestMainServesPprofApart runs the real Main with PPROF_ADDR: the
// profiles answer on their own loopback listener, never on the service's
// port, and the listener closes with the replica.
func TestMainServesPprofApart(t *testing.T) {
	port, pport := freePort(t), freePort(t)
	env := map[string]string{"PORT": fmt.Sprint(port), "PPROF_ADDR": fmt.Sprintf("127.0.0.1:%d", pport),
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "p.db")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Main(ctx, nil, envOf(env), logs, os.DirFS("..")) }()

	base, profiles := fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", pport)
	get := func(url string) (int, string, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if _, _, err = get(profiles + "/debug/pprof/"); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Main returned early: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("the pprof listener never answered: %v\n%s", err, logs)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/allocs?debug=1", "/debug/pprof/profile?seconds=1"} {
		code, body, err := get(profiles + path)
		if err != nil || code != http.StatusOK || body == "" {
			t.Errorf("pprof %s: %d %v (%d bytes)", path, code, err, len(body))
		}
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/heap"} {
		code, body, err := get(base + path)
		if err != nil || code != http.StatusNotFound || strings.Contains(body, "goroutine") {
			t.Errorf("the service's port answered %s: %d %v %q", path, code, err, body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not return after its context ended")
	}
	if _, _, err := get(profiles + "/debug/pprof/"); err == nil {
		t.Error("the pprof listener still answers after Main returned")
	}
	if !strings.Contains(logs.String(), `"pprof_addr":"127.0.0.1:`) {
		t.Errorf("the config log does not name the pprof address:\n%s", logs)
	}
}
