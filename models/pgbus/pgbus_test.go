package pgbus

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

func TestEncodeDecode(t *testing.T) {
	many := make([]int64, 2000)
	for i := range many {
		many[i] = int64(1_000_000 + i)
	}
	tests := []struct {
		name   string
		given  models.Change
		expect models.Change
	}{
		{"projects", models.Change{Tenant: 7, ProjectIDs: []int64{1, 2}, Origin: "a", Seq: 3},
			models.Change{Tenant: 7, ProjectIDs: []int64{1, 2}, Origin: "a", Seq: 3}},
		{"tenant", models.Change{Tenant: 7, TenantChanged: true, Origin: "a", Seq: 4},
			models.Change{Tenant: 7, TenantChanged: true, Origin: "a", Seq: 4}},
		{"settings", models.Change{Tenant: 7, SettingsChanged: true, Origin: "a", Seq: 7},
			models.Change{Tenant: 7, SettingsChanged: true, Origin: "a", Seq: 7}},
		{"too many projects become the whole tenant", models.Change{Tenant: 7, ProjectIDs: many, Origin: "a", Seq: 5},
			models.Change{Tenant: 7, Origin: "a", Seq: 5}},
		{"an empty list is the whole tenant", models.Change{Tenant: 7, ProjectIDs: []int64{}, Origin: "a", Seq: 6},
			models.Change{Tenant: 7, Origin: "a", Seq: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encode(tt.given)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > maxPayload {
				t.Fatalf("payload of %d bytes", len(b))
			}
			got, err := decode(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if got.Tenant != tt.expect.Tenant || !slices.Equal(got.ProjectIDs, tt.expect.ProjectIDs) ||
				(got.ProjectIDs == nil) != (tt.expect.ProjectIDs == nil) || got.TenantChanged != tt.expect.TenantChanged ||
				got.SettingsChanged != tt.expect.SettingsChanged ||
				got.Origin != tt.expect.Origin || got.Seq != tt.expect.Seq {
				t.Fatalf("got %+v, want %+v", got, tt.expect)
			}
		})
	}
	for _, bad := range []string{"", "{", `{"tenant":1}`, `{"origin":"a"}`} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%q) accepted", bad)
		}
	}
}

// heard collects a store's changes for a test to wait on.
type heard struct{ ch chan models.Change }

func listen(store *models.Store) *heard {
	h := &heard{ch: make(chan models.Change, 256)}
	store.Watch(func(_ context.Context, c models.Change) { h.ch <- c })
	return h
}

// next waits (boundedly) for the first change that matches.
func (h *heard) next(t *testing.T, what string, match func(models.Change) bool) models.Change {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case c := <-h.ch:
			if match(c) {
				return c
			}
		case <-timeout:
			t.Fatalf("no %s within 15 s", what)
		}
	}
}

// replicas are two stores, as two processes would have, on one database.
type replicas struct {
	a, b       *models.Store
	boardB     *models.Board
	busA, busB *Bus
	heardA     *heard
	heardB     *heard
	logB       *logRecorder
}

func startReplicas(t *testing.T, opts ...Option) *replicas {
	t.Helper()
	// Registered first, so it runs last: after the buses, stores and
	// database are gone, no goroutine of theirs may remain.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	url := dbtest.URL(t, models.DialectPostgres)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	r := &replicas{a: dbtest.OpenURL(t, url, clock.Now), b: dbtest.OpenURL(t, url, clock.Now), logB: &logRecorder{}}
	r.boardB = models.NewBoard(r.b)
	if err := r.boardB.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.heardA, r.heardB = listen(r.a), listen(r.b)
	r.busA = New(r.a, url, opts...)
	r.busB = New(r.b, url, append(slices.Clone(opts), WithLogger(slog.New(r.logB)))...)
	for _, bus := range []*Bus{r.busA, r.busB} {
		if err := bus.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := bus.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	// Each listener starts with a resync: whatever happened before it.
	r.heardB.next(t, "initial resync", func(c models.Change) bool { return c.Resync })
	return r
}

func TestChangesReachTheOtherReplica(t *testing.T) {
	// A short idle check makes the listener check its connection often
	// while the test runs, which must not lose anything.
	r := startReplicas(t, WithIdleCheck(5*time.Millisecond))
	ctx := context.Background()

	tenant, err := r.a.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := r.heardB.next(t, "tenant change", func(c models.Change) bool { return !c.Resync })
	if got.Tenant != tenant.ID || !got.TenantChanged || got.Origin != r.a.Origin() || got.ProjectIDs != nil {
		t.Fatalf("B heard %+v", got)
	}
	ps, err := r.a.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "1", Key: "HELP"}, {JiraID: "2", Key: "IT"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	help := ps[0]
	// New projects reach B's board, so their widgets answer there too.
	got = r.heardB.next(t, "new projects", func(c models.Change) bool { return !c.Resync })
	if got.Tenant != tenant.ID || got.ProjectIDs != nil || got.TenantChanged {
		t.Fatalf("B heard %+v", got)
	}
	if w, ok := r.boardB.Widget(help.WidgetID); !ok || !w.Available || w.Online {
		t.Fatalf("B's board: %+v (known %t), want an available offline widget", w, ok)
	}
	for _, online := range []bool{true, false, true} {
		if _, err := r.a.SetStatus(ctx, tenant.ID, models.StatusChange{AccountID: "alice", ProjectIDs: []int64{help.ID},
			To: models.StateFor(online), Source: models.SourceManual}, time.Now()); err != nil {
			t.Fatal(err)
		}
		got = r.heardB.next(t, "status change", func(c models.Change) bool { return !c.Resync })
		if got.Tenant != tenant.ID || !slices.Equal(got.ProjectIDs, []int64{help.ID}) || got.TenantChanged || got.Origin != r.a.Origin() {
			t.Fatalf("B heard %+v", got)
		}
		// B's board refreshed before B's later listeners ran.
		if w, ok := r.boardB.Widget(help.WidgetID); !ok || w.Online != online {
			t.Fatalf("B's board: %+v (known %t), want online %t", w, ok, online)
		}
	}
	// A new auto-offline limit on A: B's copies of the tenant must go.
	if err := r.a.SetAutoOffline(ctx, tenant.ID, 5, time.Now()); err != nil {
		t.Fatal(err)
	}
	got = r.heardB.next(t, "settings change", func(c models.Change) bool { return !c.Resync })
	if got.Tenant != tenant.ID || !got.SettingsChanged || got.TenantChanged || got.ProjectIDs != nil || got.Origin != r.a.Origin() {
		t.Fatalf("B heard %+v", got)
	}

	// Nobody hears their own change twice. A's listener gets A's
	// notification before B's later one, so once B's change reaches A, an
	// echo of A's would have arrived too.
	if err := r.a.SetEnabled(ctx, tenant.ID, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	own := r.heardA.next(t, "A's own change, locally", func(c models.Change) bool { return c.TenantChanged })
	if _, err := r.b.SetStatus(ctx, tenant.ID, models.StatusChange{AccountID: "bob", ProjectIDs: []int64{help.ID},
		To: models.StateOnline, Source: models.SourceManual}, time.Now()); err != nil {
		t.Fatal(err)
	}
	echoes := 0
	fromB := r.heardA.next(t, "B's change", func(c models.Change) bool {
		if c.Origin == own.Origin && c.Seq == own.Seq {
			echoes++
		}
		return c.Origin == r.b.Origin()
	})
	if !slices.Equal(fromB.ProjectIDs, []int64{help.ID}) || echoes != 0 {
		t.Fatalf("A heard %+v and %d echoes of its own change", fromB, echoes)
	}
}

func TestListenerReconnectsAfterItsBackendIsKilled(t *testing.T) {
	// The replicas reconnect only when the test lets them, so that a change
	// is surely made while they are away.
	release := make(chan struct{})
	var once sync.Once
	letThemBack := func() { once.Do(func() { close(release) }) }
	r := startReplicas(t, WithBackoff(func(int) time.Duration { <-release; return 0 }))
	t.Cleanup(letThemBack) // runs before the buses close
	ctx := context.Background()
	tenant, err := r.a.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := r.a.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "1", Key: "HELP"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.heardB.next(t, "install", func(c models.Change) bool { return c.TenantChanged })

	db, err := r.a.SQL()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN%' AND datname = current_database()`)
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for rows.Next() {
		killed++
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if killed != 2 {
		t.Fatalf("terminated %d listeners, want both replicas' 2", killed)
	}

	// A change made while B is away is repaired by B's resync on return.
	if _, err := r.a.SetStatus(ctx, tenant.ID, models.StatusChange{AccountID: "alice", ProjectIDs: []int64{ps[0].ID},
		To: models.StateOnline, Source: models.SourceManual}, time.Now()); err != nil {
		t.Fatal(err)
	}
	letThemBack()
	r.heardB.next(t, "resync after reconnecting", func(c models.Change) bool { return c.Resync })
	if w, _ := r.boardB.Widget(ps[0].WidgetID); !w.Online {
		t.Fatal("B's board missed the change made during the outage")
	}
	// And later changes arrive as before.
	if _, err := r.a.SetStatus(ctx, tenant.ID, models.StatusChange{AccountID: "alice", ProjectIDs: []int64{ps[0].ID},
		To: models.StateOffline, Source: models.SourceManual}, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.heardB.next(t, "change after reconnecting", func(c models.Change) bool {
		return !c.Resync && c.Origin == r.a.Origin() && slices.Equal(c.ProjectIDs, []int64{ps[0].ID})
	})
	if w, _ := r.boardB.Widget(ps[0].WidgetID); w.Online {
		t.Fatal("B's board did not flip back")
	}
	if warns, infos := r.logB.count("lost"), r.logB.count("restored"); warns != 1 || infos != 1 {
		t.Fatalf("one outage logged %d warnings and %d recoveries, want 1 and 1", warns, infos)
	}
}

// logRecorder is a slog handler that keeps messages.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) count(word string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, word) && !strings.HasPrefix(m, "DEBUG") {
			n++
		}
	}
	return n
}
