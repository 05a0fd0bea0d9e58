package models_test

import (
	"context"
	"testing"

	"agentpresence/models"
	"agentpresence/models/dbtest"
	"agentpresence/models/schedule"
)

// TestBoardNextOnline: while nobody is online, the board knows when a
// scheduled member of the project is next due online ("Back at 09:00"),
// kept current by the changes that can move it (a schedule saved, a
// membership gained, a schedules tick that moves a plan without a switch)
// and never shown while someone is online. Each change of it is a new
// ETag, so that customers' cached answers follow.
func TestBoardNextOnline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		const zone = "Europe/Berlin"
		board := models.NewBoard(f.store)
		if err := board.Load(ctx); err != nil {
			t.Fatal(err)
		}
		help, it := f.projects["HELP"], f.projects["IT"]
		widget := func(p models.Project) models.WidgetState {
			t.Helper()
			w, ok := board.Widget(p.WidgetID)
			if !ok {
				t.Fatalf("no widget of %s", p.Key)
			}
			return w
		}
		// Monday 30 November 2026, 07:00 in Berlin.
		f.clock.Advance(mustLocal(t, zone, "2026-11-30 07:00").Sub(f.clock.Now()))
		if w := widget(help); !w.NextOnlineAt.IsZero() {
			t.Fatalf("no schedule yet, next online %v", w.NextOnlineAt)
		}
		etag := widget(help).ETag

		// Alice, agent of HELP, saves office hours: HELP is back at 09:00
		// Berlin time (08:00 UTC), IT (not hers) is not.
		f.member(t, "alice", "HELP")
		f.saveSchedule(t, "alice", officeHours(zone))
		nine := mustLocal(t, zone, "2026-11-30 09:00")
		if w := widget(help); !w.NextOnlineAt.Equal(nine) || w.Online {
			t.Fatalf("HELP after alice's schedule: online %v next %v, want %v", w.Online, w.NextOnlineAt, nine)
		}
		if w := widget(help); w.ETag == etag {
			t.Fatal("the next online time did not change the ETag")
		}
		if w := widget(it); !w.NextOnlineAt.IsZero() {
			t.Fatalf("IT has no scheduled member, next online %v", w.NextOnlineAt)
		}

		// Bob joins IT with a schedule from 08:30: IT learns it when the
		// membership arrives after the schedule.
		f.saveSchedule(t, "bob", schedule.Schedule{Timezone: zone, Enabled: true,
			Rules: []schedule.Rule{{Days: weekdays(), Start: "08:30", End: "12:00"}}})
		if w := widget(it); !w.NextOnlineAt.IsZero() {
			t.Fatalf("bob is no member of IT yet, next online %v", w.NextOnlineAt)
		}
		f.member(t, "bob", "IT", "HELP")
		half := mustLocal(t, zone, "2026-11-30 08:30")
		if w := widget(it); !w.NextOnlineAt.Equal(half) {
			t.Fatalf("IT after bob joined: next %v, want %v", w.NextOnlineAt, half)
		}
		// HELP has both: the earliest.
		if w := widget(help); !w.NextOnlineAt.Equal(half) {
			t.Fatalf("HELP with alice and bob: next %v, want %v", w.NextOnlineAt, half)
		}

		// Someone online: no "back at".
		f.set(t, "carol", true, "HELP")
		if w := widget(help); !w.Online || !w.NextOnlineAt.IsZero() {
			t.Fatalf("HELP with carol online: online %v next %v", w.Online, w.NextOnlineAt)
		}
		f.set(t, "carol", false, "HELP")

		// 08:30: bob's schedule puts him online; HELP and IT are online.
		f.clock.Advance(half.Sub(f.clock.Now()))
		if evs := f.tick(t); len(evs) != 2 {
			t.Fatalf("bob's 08:30: %d events", len(evs))
		}
		if w := widget(it); !w.Online || !w.NextOnlineAt.IsZero() {
			t.Fatalf("IT at 08:30: online %v next %v", w.Online, w.NextOnlineAt)
		}
		// Bob goes offline by hand at 10:00; at 12:00 his schedule has
		// nothing to switch, but his plan moves to tomorrow 08:30: IT must
		// learn it without any event.
		f.clock.Advance(mustLocal(t, zone, "2026-11-30 10:00").Sub(f.clock.Now()))
		f.tick(t) // alice's 09:00
		f.set(t, "bob", false, "HELP", "IT")
		f.set(t, "alice", false, "HELP")
		if w := widget(it); w.Online || !w.NextOnlineAt.IsZero() {
			t.Fatalf("IT at 10:00: online %v next %v, want offline with bob's plan to go offline at 12:00", w.Online, w.NextOnlineAt)
		}
		f.clock.Advance(mustLocal(t, zone, "2026-11-30 12:00").Sub(f.clock.Now()))
		if evs := f.tick(t); len(evs) != 0 {
			t.Fatalf("bob was offline at 12:00 already: %d events", len(evs))
		}
		tomorrow := mustLocal(t, zone, "2026-12-01 08:30")
		for _, p := range []models.Project{it, help} {
			if w := widget(p); !w.NextOnlineAt.Equal(tomorrow) {
				t.Fatalf("%s after the 12:00 tick: next %v, want %v", p.Key, w.NextOnlineAt, tomorrow)
			}
		}

		// A disabled schedule plans nothing.
		off := officeHours(zone)
		off.Enabled = false
		f.saveSchedule(t, "alice", off)
		f.saveSchedule(t, "bob", off)
		if w := widget(help); !w.NextOnlineAt.IsZero() {
			t.Fatalf("HELP with no enabled schedule: next %v", w.NextOnlineAt)
		}

		// Saved inside a window, alice's next switch is offline at 17:00:
		// no "back at" from her until that switch has moved her plan on.
		f.saveSchedule(t, "alice", officeHours(zone))
		if w := widget(help); !w.NextOnlineAt.IsZero() {
			t.Fatalf("HELP with alice inside her window: next %v", w.NextOnlineAt)
		}
		f.clock.Advance(mustLocal(t, zone, "2026-11-30 17:00").Sub(f.clock.Now()))
		f.tick(t)
		nineTomorrow := mustLocal(t, zone, "2026-12-01 09:00")
		if w := widget(help); !w.NextOnlineAt.Equal(nineTomorrow) {
			t.Fatalf("HELP after alice's 17:00: next %v, want %v", w.NextOnlineAt, nineTomorrow)
		}

		// A fresh board reads the same (Load, as at start or on resync).
		fresh := models.NewBoard(f.store)
		if err := fresh.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if w, _ := fresh.Widget(help.WidgetID); !w.NextOnlineAt.Equal(nineTomorrow) || w.ETag != widget(help).ETag {
			t.Fatalf("loaded board: next %v etag %s, want %v etag %s", w.NextOnlineAt, w.ETag, nineTomorrow, widget(help).ETag)
		}
	})
}
