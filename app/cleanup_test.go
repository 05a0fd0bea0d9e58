package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// TestCleanupStackUnwindsInReverse: every undo runs, last pushed first,
// even after one fails; the failures are reported; a second unwind does
// nothing.
func TestCleanupStackUnwindsInReverse(t *testing.T) {
	var s cleanupStack
	var order []string
	for _, name := range []string{"store", "bus", "hubs", "server"} {
		s.push(name, func(context.Context) error {
			order = append(order, name)
			if name == "hubs" {
				return errors.New("hubs failed")
			}
			return nil
		})
	}
	err := s.unwind(context.Background())
	if got := strings.Join(order, " "); got != "server hubs bus store" {
		t.Fatalf("undone in the order %q", got)
	}
	if err == nil || !strings.Contains(err.Error(), "hubs failed") {
		t.Fatalf("unwind: %v, want the hubs' failure", err)
	}
	order = nil
	if err := s.unwind(context.Background()); err != nil || len(order) != 0 {
		t.Fatalf("a second unwind did %v (err %v)", order, err)
	}
}

func sqliteConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := LoadConfig(envOf(map[string]string{"BASE_URL": "http://localhost:18080",
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "p.db")}))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestNewUndoesWhatItDidOnFailure: a step that fails (here the server's,
// without a descriptor template) leaves nothing behind of the steps
// before it: the store is closed and the stack is empty.
func TestNewUndoesWhatItDidOnFailure(t *testing.T) {
	a := &App{cfg: sqliteConfig(t), log: slog.New(slog.DiscardHandler), opts: Options{}.withDefaults(), assets: fstest.MapFS{}}
	err := a.run(context.Background(), []step{
		{"open store", a.openStore},
		{"load board", a.loadBoard},
		{"start change bus", a.startBus},
		{"open live hubs", a.openHubs},
		{"build server", a.buildServer},
		{"build jobs", a.buildJobs},
	})
	if err == nil || !strings.Contains(err.Error(), "descriptor") {
		t.Fatalf("run: %v, want the descriptor's failure", err)
	}
	if err := a.store.Ping(context.Background()); err == nil {
		t.Fatal("the store is still open")
	}
	if a.jobs != nil {
		t.Fatal("a step after the failing one ran")
	}
	if n := len(a.undo.steps); n != 0 {
		t.Fatalf("%d undo steps left", n)
	}
	// And through New: no App, an error naming the cause.
	if _, err := New(context.Background(), sqliteConfig(t), slog.New(slog.DiscardHandler), fstest.MapFS{}, Options{}); err == nil {
		t.Fatal("New succeeded without a descriptor template")
	}
}

// TestStartUndoesEverythingOnFailure: when the port is taken, Start fails
// and undoes New's steps too; Shutdown afterwards has nothing left to do.
func TestStartUndoesEverythingOnFailure(t *testing.T) {
	taken, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := sqliteConfig(t)
	cfg.Port = taken.Addr().(*net.TCPAddr).Port
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), os.DirFS(".."), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Start on port %s: %v, want a listen failure", strconv.Itoa(cfg.Port), err)
	}
	if err := a.store.Ping(context.Background()); err == nil {
		t.Fatal("the store is still open after a failed Start")
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after a failed Start: %v", err)
	}
}
