package models_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// recorder keeps the changes a listener heard.
type recorder struct {
	mu      sync.Mutex
	changes []models.Change
}

func (r *recorder) hear(_ context.Context, ch models.Change) {
	r.mu.Lock()
	r.changes = append(r.changes, ch)
	r.mu.Unlock()
}

func (r *recorder) take() []models.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.changes
	r.changes = nil
	return out
}

func TestWatchHearsEveryCommittedChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		var rec recorder
		stop := f.store.Watch(rec.hear)
		help, it := f.projects["HELP"], f.projects["IT"]

		tests := []struct {
			name   string
			when   func(t *testing.T)
			expect []models.Change // Origin and Seq are checked apart
		}{
			{"going online", func(t *testing.T) { f.set(t, "alice", true, "HELP", "IT") },
				[]models.Change{{Tenant: f.tenant.ID, ProjectIDs: sorted(help.ID, it.ID)}}},
			{"a no-op is silent", func(t *testing.T) { f.set(t, "alice", true, "HELP") }, nil},
			{"syncing known projects is silent", func(t *testing.T) {
				if _, err := f.store.SyncProjects(ctx, f.tenant.ID, []models.ProjectRef{{JiraID: "10000", Key: "HELP", Name: "Help desk"}}, f.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}, nil},
			{"a new project", func(t *testing.T) {
				if _, err := f.store.SyncProjects(ctx, f.tenant.ID, []models.ProjectRef{{JiraID: "10000", Key: "HELP"}, {JiraID: "10002", Key: "HR"}}, f.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}, []models.Change{{Tenant: f.tenant.ID}}},
			{"settings", func(t *testing.T) {
				if _, err := f.store.UpdateProjectSettings(ctx, f.tenant.ID, it.ID, models.ProjectSettings{WidgetEnabled: false}, f.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}, []models.Change{{Tenant: f.tenant.ID, ProjectIDs: []int64{it.ID}}}},
			{"the auto-offline limit", func(t *testing.T) {
				if err := f.store.SetAutoOffline(ctx, f.tenant.ID, 5, f.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}, []models.Change{{Tenant: f.tenant.ID, SettingsChanged: true}}},
			{"disabling the tenant", func(t *testing.T) {
				if err := f.store.SetEnabled(ctx, f.tenant.ID, false, f.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}, []models.Change{{Tenant: f.tenant.ID, TenantChanged: true}}},
			{"uninstalling", func(t *testing.T) {
				if err := f.store.MarkUninstalled(ctx, f.tenant.ID, f.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}, []models.Change{{Tenant: f.tenant.ID, TenantChanged: true}}},
		}
		var lastSeq uint64
		for _, tt := range tests {
			tt.when(t)
			got := rec.take()
			if len(got) != len(tt.expect) {
				t.Fatalf("%s: heard %+v, want %+v", tt.name, got, tt.expect)
			}
			for i, ch := range got {
				if ch.Origin != f.store.Origin() || ch.Seq <= lastSeq {
					t.Fatalf("%s: origin %q seq %d (store %q, last seq %d)", tt.name, ch.Origin, ch.Seq, f.store.Origin(), lastSeq)
				}
				lastSeq = ch.Seq
				ch.Origin, ch.Seq = "", 0
				if !equalChange(ch, tt.expect[i]) {
					t.Fatalf("%s: heard %+v, want %+v", tt.name, ch, tt.expect[i])
				}
			}
		}

		stop()
		stop() // harmless twice
		f.set(t, "bob", true, "HELP")
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("a stopped listener heard %+v", got)
		}
	})
}

func sorted(ids ...int64) []int64 {
	slices.Sort(ids)
	return ids
}

func equalChange(a, b models.Change) bool {
	return a.Tenant == b.Tenant && slices.Equal(a.ProjectIDs, b.ProjectIDs) && (a.ProjectIDs == nil) == (b.ProjectIDs == nil) &&
		a.TenantChanged == b.TenantChanged && a.SettingsChanged == b.SettingsChanged && a.Resync == b.Resync && a.Origin == b.Origin && a.Seq == b.Seq
}

// TestBoardWatchersSeeTheRefreshedBoard checks the order that live updates
// rely on: a board listener runs after the board applied the change.
func TestBoardWatchersSeeTheRefreshedBoard(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		board := models.NewBoard(f.store)
		if err := board.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		widget := f.projects["HELP"].WidgetID
		var seen []bool
		board.Watch(func(context.Context, models.Change) {
			w, _ := board.Widget(widget)
			seen = append(seen, w.Online)
		})
		f.set(t, "alice", true, "HELP")
		f.set(t, "alice", false, "HELP")
		if !slices.Equal(seen, []bool{true, false}) {
			t.Fatalf("board listeners saw online %v, want [true false]", seen)
		}
	})
}

// TestDeliverResyncReloadsTheBoard: a change made by another replica that
// never reached this one is repaired by a resync.
func TestDeliverResyncReloadsTheBoard(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
		url := dbtest.URL(t, dialect)
		a := dbtest.OpenURL(t, url, clock.Now)
		b := dbtest.OpenURL(t, url, clock.Now)
		if a.Origin() == b.Origin() {
			t.Fatalf("two stores share the origin %q", a.Origin())
		}
		ctx := context.Background()
		tenant, err := a.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		ps, err := a.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "1", Key: "HELP"}}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		boardB := models.NewBoard(b)
		if err := boardB.Load(ctx); err != nil {
			t.Fatal(err)
		}
		var rec recorder
		b.Watch(rec.hear)
		if _, err := a.SetStatus(ctx, tenant.ID, models.StatusChange{AccountID: "alice", ProjectIDs: []int64{ps[0].ID},
			To: models.StateOnline, Source: models.SourceManual}, clock.Now()); err != nil {
			t.Fatal(err)
		}
		if w, _ := boardB.Widget(ps[0].WidgetID); w.Online {
			t.Fatal("replica B learned of A's change without a bus")
		}
		b.Deliver(ctx, models.Change{Resync: true})
		if w, _ := boardB.Widget(ps[0].WidgetID); !w.Online {
			t.Fatal("a resync did not reload B's board")
		}
		if got := rec.take(); len(got) != 1 || !got[0].Resync {
			t.Fatalf("B's listeners heard %+v, want the resync", got)
		}
	})
}

func TestProjectCounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		f.set(t, "alice", true, "HELP", "IT")
		f.set(t, "bob", true, "HELP")
		f.set(t, "carol", true, "IT")
		f.set(t, "carol", false, "IT")
		help, it := f.projects["HELP"], f.projects["IT"]
		tests := []struct {
			name   string
			given  []int64
			expect []models.ProjectCount
		}{
			{"all", nil, []models.ProjectCount{{help.ID, "HELP", 2, 0}, {it.ID, "IT", 1, 0}}},
			{"one", []int64{it.ID}, []models.ProjectCount{{it.ID, "IT", 1, 0}}},
			{"none", []int64{}, []models.ProjectCount{}},
			{"unknown", []int64{-1}, []models.ProjectCount{}},
		}
		for _, tt := range tests {
			got, err := f.store.ProjectCounts(ctx, f.tenant.ID, tt.given)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if !slices.Equal(got, tt.expect) || got == nil {
				t.Fatalf("%s: got %+v, want %+v", tt.name, got, tt.expect)
			}
		}
		if got, err := f.store.ProjectCounts(ctx, f.tenant.ID+100, nil); err != nil || len(got) != 0 {
			t.Fatalf("another tenant: %+v, %v", got, err)
		}
	})
}
