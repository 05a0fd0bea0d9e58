package models_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// away makes account away in the projects with the keys, at the clock's
// time.
func (f *fixture) away(t *testing.T, account, reason string, keys ...string) {
	t.Helper()
	var ids []int64
	for _, k := range keys {
		ids = append(ids, f.projects[k].ID)
	}
	if _, err := f.store.SetStatus(context.Background(), f.tenant.ID, models.StatusChange{AccountID: account, ProjectIDs: ids,
		To: models.StateAway, Reason: reason, Source: models.SourceManual}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestAvailability: what customers see, decided in one place.
func TestAvailability(t *testing.T) {
	own := models.Project{UnavailableMessage: "Back at nine."}
	tests := []struct {
		name   string
		given  models.Project
		online int
		expect models.Availability
	}{
		{"nobody online: the default message and a login", models.Project{}, 0,
			models.Availability{Message: models.DefaultUnavailableMessage, RequiresLogin: true}},
		{"nobody online: the project's message", own, 0, models.Availability{Message: "Back at nine.", RequiresLogin: true}},
		{"one online", own, 1, models.Availability{Online: true, Message: models.OnlineMessage}},
		{"many online", own, 7, models.Availability{Online: true, Message: models.OnlineMessage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := models.AvailabilityOf(tt.given, tt.online, true); got != tt.expect {
				t.Fatalf("AvailabilityOf(%+v, %d) = %+v, want %+v", tt.given, tt.online, got, tt.expect)
			}
		})
	}
}

// TestAwayIsNotOnlineForCustomers: away agents are listed and counted
// apart, and the widget stays offline while nobody else is online.
func TestAwayIsNotOnlineForCustomers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		board := models.NewBoard(f.store)
		if err := board.Load(ctx); err != nil {
			t.Fatal(err)
		}
		help := f.projects["HELP"]
		f.away(t, "alice", "lunch", "HELP")
		if w, _ := board.Widget(help.WidgetID); w.Online || !w.RequiresLogin || w.Message != models.DefaultUnavailableMessage {
			t.Fatalf("alice away: widget %+v", w.Availability)
		}
		f.clock.Advance(time.Minute)
		f.set(t, "bob", true, "HELP")
		if w, _ := board.Widget(help.WidgetID); !w.Online || w.RequiresLogin {
			t.Fatalf("bob online beside alice away: widget %+v", w.Availability)
		}
		online, err := f.store.OnlineAgents(ctx, f.tenant.ID, help.ID)
		if err != nil || len(online) != 1 || online[0].AccountID != "bob" || online[0].State != models.StateOnline {
			t.Fatalf("online in HELP: %+v %v", online, err)
		}
		away, err := f.store.AwayAgents(ctx, f.tenant.ID, help.ID)
		if err != nil || len(away) != 1 || away[0].AccountID != "alice" || away[0].State != models.StateAway || away[0].AwayReason != "lunch" {
			t.Fatalf("away in HELP: %+v %v", away, err)
		}
		all, err := f.store.AllAway(ctx, f.tenant.ID)
		if err != nil || len(all) != 1 || all[0].AccountID != "alice" {
			t.Fatalf("all away: %+v %v", all, err)
		}
		counts, err := f.store.ProjectCounts(ctx, f.tenant.ID, nil)
		want := []models.ProjectCount{{ProjectID: help.ID, Key: "HELP", Online: 1, Away: 1}, {ProjectID: f.projects["IT"].ID, Key: "IT"}}
		if err != nil || !reflect.DeepEqual(counts, want) {
			t.Fatalf("counts %+v (%v), want %+v", counts, err, want)
		}
		if n := f.count(t, "HELP"); n != 1 {
			t.Fatalf("online count %d, want 1", n)
		}
	})
}

// TestRowsOfThePreviousRelease: during a rolling update, a replica of the
// release before away writes only the online column. Its writes read as
// it meant them, and the next switch records where the row really was.
func TestRowsOfThePreviousRelease(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		db, err := f.store.SQL()
		if err != nil {
			t.Fatal(err)
		}
		// oldRelease switches an account's rows as that release did.
		oldRelease := func(account string, online bool) {
			t.Helper()
			q := "UPDATE statuses SET online = ? WHERE account_id = ?"
			if dialect == models.DialectPostgres {
				q = "UPDATE statuses SET online = $1 WHERE account_id = $2"
			}
			if _, err := db.ExecContext(ctx, q, online, account); err != nil {
				t.Fatal(err)
			}
		}
		state := func(account string) models.State {
			t.Helper()
			return f.online(t, account)["HELP"].State
		}
		// Going online over an away row, as the old release does it.
		f.away(t, "alice", "lunch", "HELP")
		oldRelease("alice", true)
		if got := state("alice"); got != models.StateOnline {
			t.Fatalf("away, then online by the old release: %s", got)
		}
		f.clock.Advance(time.Minute)
		evs := f.set(t, "alice", false, "HELP")
		if len(evs) != 1 || evs[0].FromState != models.StateOnline || evs[0].ToState != models.StateOffline {
			t.Fatalf("going offline after it: %+v", evs)
		}
		// Going offline over an online row, as the old release does it.
		f.set(t, "bob", true, "HELP")
		oldRelease("bob", false)
		if got := state("bob"); got != models.StateOffline {
			t.Fatalf("online, then offline by the old release: %s", got)
		}
		if w := f.count(t, "HELP"); w != 0 {
			t.Fatalf("%d online after both", w)
		}
		f.clock.Advance(time.Minute)
		evs = f.set(t, "bob", true, "HELP")
		if len(evs) != 1 || evs[0].FromState != models.StateOffline {
			t.Fatalf("online again: %+v", evs)
		}
		// Events the old release wrote carry no states: reading gives them.
		if _, err := db.ExecContext(ctx, "UPDATE events SET from_state = '', to_state = ''"); err != nil {
			t.Fatal(err)
		}
		all, err := f.store.Events(ctx, f.tenant.ID, models.EventFilter{AccountID: "bob"})
		if err != nil || len(all) != 2 || all[0].FromState != models.StateOffline || all[0].ToState != models.StateOnline ||
			all[1].FromState != models.StateOffline || all[1].ToState != models.StateOnline {
			t.Fatalf("bob's events read back: %+v %v", all, err)
		}
	})
}

// TestReportCountsAwayApart: the report read from the store has an away
// series beside the online one, from the events and from who is away now.
func TestReportCountsAwayApart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect) // Wednesday 2026-11-25 09:00 UTC
		ctx := context.Background()
		f.set(t, "alice", true, "HELP")
		f.away(t, "carol", "", "IT")
		f.clock.Advance(time.Hour)
		f.away(t, "alice", "lunch", "HELP") // 10:00
		f.clock.Advance(30 * time.Minute)
		f.set(t, "alice", true, "HELP") // 10:30
		f.clock.Advance(30 * time.Minute)
		day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
		r, err := f.store.Report(ctx, f.tenant.ID, models.ReportQuery{From: day, To: day.AddDate(0, 0, 1)}, f.clock.Now()) // 11:00
		if err != nil {
			t.Fatal(err)
		}
		want := []models.AgentOnline{
			{AccountID: "alice", TotalSeconds: 3 * 1800, Seconds: []int64{3 * 1800}, TotalAwaySeconds: 1800, AwaySeconds: []int64{1800}},
			{AccountID: "carol", Seconds: []int64{0}, TotalAwaySeconds: 7200, AwaySeconds: []int64{7200}},
		}
		if !reflect.DeepEqual(r.Agents, want) {
			t.Fatalf("report agents %+v, want %+v", r.Agents, want)
		}
	})
}
