package models_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

type fixture struct {
	store    *models.Store
	clock    *clockwork.FakeClock
	tenant   models.Tenant
	projects map[string]models.Project
}

func newFixture(t *testing.T, dialect models.Dialect) *fixture {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	store := dbtest.Open(t, dialect, clock.Now)
	ctx := context.Background()
	tenant, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := store.SyncProjects(ctx, tenant.ID, []models.ProjectRef{
		{JiraID: "10000", ServiceDeskID: "1", Key: "HELP", Name: "Help"},
		{JiraID: "10001", ServiceDeskID: "2", Key: "IT", Name: "IT"},
	}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, clock: clock, tenant: tenant, projects: map[string]models.Project{}}
	for _, p := range ps {
		f.projects[p.Key] = p
	}
	return f
}

func (f *fixture) set(t *testing.T, account string, online bool, keys ...string) []models.Event {
	t.Helper()
	var ids []int64
	for _, k := range keys {
		ids = append(ids, f.projects[k].ID)
	}
	evs, err := f.store.SetStatus(context.Background(), f.tenant.ID, models.StatusChange{
		AccountID: account, ProjectIDs: ids, To: models.StateFor(online), Source: models.SourceManual}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (f *fixture) count(t *testing.T, key string) int {
	t.Helper()
	n, err := f.store.OnlineCount(context.Background(), f.tenant.ID, f.projects[key].ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStatusChangesWriteEventsOnlyWhenEffective(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		if got := f.count(t, "HELP"); got != 0 {
			t.Fatalf("offline by default: count %d", got)
		}
		if evs := f.set(t, "alice", false, "HELP"); len(evs) != 0 {
			t.Fatalf("offline→offline wrote %d events", len(evs))
		}
		evs := f.set(t, "alice", true, "HELP")
		if len(evs) != 1 || evs[0].FromOnline || !evs[0].ToOnline || evs[0].Source != models.SourceManual {
			t.Fatalf("go online: events %+v", evs)
		}
		if f.count(t, "HELP") != 1 || f.count(t, "IT") != 0 {
			t.Fatalf("counts after going online in HELP: HELP=%d IT=%d", f.count(t, "HELP"), f.count(t, "IT"))
		}
		if evs := f.set(t, "alice", true, "HELP"); len(evs) != 0 {
			t.Fatalf("online→online wrote %d events", len(evs))
		}
		if evs := f.set(t, "alice", true, "HELP", "IT"); len(evs) != 1 || evs[0].ProjectID != f.projects["IT"].ID {
			t.Fatalf("all projects: events %+v", evs)
		}
		if evs := f.set(t, "alice", false, "HELP", "IT"); len(evs) != 2 {
			t.Fatalf("offline everywhere: %d events", len(evs))
		}
		all, err := f.store.Events(context.Background(), f.tenant.ID, models.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 4 {
			t.Fatalf("audit log has %d events, want 4", len(all))
		}
	})
}

func TestSetStatusRejectsUntilWhenGoingOffline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		until := f.clock.Now().Add(time.Hour)
		_, err := f.store.SetStatus(context.Background(), f.tenant.ID, models.StatusChange{
			AccountID: "a", ProjectIDs: []int64{f.projects["HELP"].ID}, To: models.StateOffline, Until: &until, Source: models.SourceManual}, f.clock.Now())
		if err == nil {
			t.Fatal("offline with an end time was accepted")
		}
	})
}

// TestConcurrentTogglesOneEvent: many tabs of one agent go online at once;
// exactly one event is written and the state is online.
func TestConcurrentTogglesOneEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		var wg sync.WaitGroup
		total := make(chan int, 8)
		for range 8 {
			wg.Go(func() {
				evs, err := f.store.SetStatus(context.Background(), f.tenant.ID, models.StatusChange{
					AccountID: "bob", ProjectIDs: []int64{f.projects["HELP"].ID}, To: models.StateOnline, Source: models.SourceManual}, f.clock.Now())
				if err != nil {
					t.Error(err)
				}
				total <- len(evs)
			})
		}
		wg.Wait()
		close(total)
		sum := 0
		for n := range total {
			sum += n
		}
		if sum != 1 {
			t.Fatalf("%d events for one effective change", sum)
		}
		if f.count(t, "HELP") != 1 {
			t.Fatal("bob is not online")
		}
	})
}

func TestBoardFollowsChanges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		board := models.NewBoard(f.store)
		if err := board.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		wid := f.projects["HELP"].WidgetID
		w, ok := board.Widget(wid)
		if !ok || w.Online || !w.Available || w.Message != models.DefaultUnavailableMessage {
			t.Fatalf("initial widget state %+v ok=%v", w, ok)
		}
		offTag := w.ETag
		f.set(t, "alice", true, "HELP")
		if w, _ = board.Widget(wid); !w.Online || w.ETag == offTag {
			t.Fatalf("after alice online: %+v", w)
		}
		f.set(t, "carol", true, "HELP")
		f.set(t, "alice", false, "HELP")
		if w, _ = board.Widget(wid); !w.Online {
			t.Fatal("offline while carol is still online")
		}
		f.set(t, "carol", false, "HELP")
		if w, _ = board.Widget(wid); w.Online || w.ETag != offTag {
			t.Fatalf("after the last agent left: %+v", w)
		}
		rotated, err := f.store.RotateWidget(context.Background(), f.tenant.ID, f.projects["HELP"].ID, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := board.Widget(wid); ok {
			t.Fatal("old widget id still answers after rotation")
		}
		if _, ok := board.Widget(rotated.WidgetID); !ok {
			t.Fatal("new widget id unknown after rotation")
		}
		if err := f.store.SetEnabled(context.Background(), f.tenant.ID, false, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if w, _ = board.Widget(rotated.WidgetID); w.Available {
			t.Fatal("disabled tenant's widget still available")
		}
	})
}
