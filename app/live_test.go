package app

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// startReplica runs a whole replica on a free port.
func startReplica(t *testing.T, dbURL string) *App {
	t.Helper()
	cfg := Config{Port: 0, BaseURL: "http://127.0.0.1", DatabaseURL: dbURL, AppKey: "io.example.presence",
		AppName: "Presence", AppSecretKey: []byte("0123456789abcdef0123456789abcdef"), JWTLeeway: 30 * time.Second}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), os.DirFS(".."), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	return a
}

// shutdown stops a replica and reports how long it took.
func shutdown(t *testing.T, a *App) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	return time.Since(start)
}

// streamReader reads "data:" lines of an event stream.
type streamReader struct {
	lines chan string
	done  chan struct{}
}

func openWidgetStream(t *testing.T, client *http.Client, a *App, widgetID string) *streamReader {
	t.Helper()
	resp, err := client.Get("http://" + a.Addr() + "/public/v1/widgets/" + widgetID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("widget stream: status %d", resp.StatusCode)
	}
	r := &streamReader{lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				r.lines <- data
			}
		}
	}()
	return r
}

func (r *streamReader) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-r.lines:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return ""
}

func (r *streamReader) ended(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end within 10 s")
	}
}

// installProject installs a tenant with one project, HELP, whose widget the
// streams follow.
func installProject(t *testing.T, store *models.Store) (models.TenantID, models.Project) {
	t.Helper()
	ctx := context.Background()
	tenant, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := store.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "1", Key: "HELP"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tenant.ID, ps[0]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLiveUpdatesCrossReplicas runs two whole replicas on one PostgreSQL
// database: a customer's stream on B sees an agent go online through A,
// and both replicas shut down promptly with the stream open.
func TestLiveUpdatesCrossReplicas(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	dbURL := dbtest.URL(t, models.DialectPostgres)
	a, b := startReplica(t, dbURL), startReplica(t, dbURL)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	ctx := context.Background()
	tenant, help := installProject(t, a.Store())
	widget := help.WidgetID
	waitFor(t, "B to learn of A's new project", func() bool { _, ok := b.board.Widget(widget); return ok })

	stream := openWidgetStream(t, client, b, widget)
	if first := stream.next(t); !strings.Contains(first, `"online":false`) {
		t.Fatalf("first event %s", first)
	}
	if _, err := a.Store().SetStatus(ctx, tenant, models.StatusChange{AccountID: "alice", ProjectIDs: []int64{help.ID},
		To: models.StateOnline, Source: models.SourceManual}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if ev := stream.next(t); !strings.Contains(ev, `"online":true`) {
		t.Fatalf("B's stream after A's change: %s", ev)
	}

	// Without closing the hubs first, Shutdown would wait for the stream
	// until its deadline (10 s here).
	if d := shutdown(t, b); d > 5*time.Second {
		t.Fatalf("B took %s to shut down with a stream open", d)
	}
	stream.ended(t)
	shutdown(t, a)
}

// TestShutdownEndsStreams on SQLite: one replica, no bus.
func TestShutdownEndsStreams(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	a := startReplica(t, dbtest.URL(t, models.DialectSQLite))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	_, help := installProject(t, a.Store())
	stream := openWidgetStream(t, client, a, help.WidgetID)
	stream.next(t)
	if d := shutdown(t, a); d > 5*time.Second {
		t.Fatalf("shutdown took %s with a stream open", d)
	}
	stream.ended(t)
}
