package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/models"
	"agentpresence/models/dbtest"
	"agentpresence/models/schedule"
)

func weekdays() []string { return []string{"mon", "tue", "wed", "thu", "fri"} }

func officeHours(zone string) schedule.Schedule {
	return schedule.Schedule{Timezone: zone, Enabled: true,
		Rules: []schedule.Rule{{Days: weekdays(), Start: "09:00", End: "17:00"}}}
}

func mustLocal(t testing.TB, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// member makes account an agent of the fixture's projects with the keys.
func (f *fixture) member(t *testing.T, account string, keys ...string) {
	t.Helper()
	var ids []int64
	for _, k := range keys {
		ids = append(ids, f.projects[k].ID)
	}
	if err := f.store.SetMemberships(context.Background(), f.tenant.ID, account, ids, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) saveSchedule(t *testing.T, account string, s schedule.Schedule) models.Agent {
	t.Helper()
	a, err := f.store.SaveSchedule(context.Background(), f.tenant.ID, account, s, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tick runs one schedule tick at the clock's time.
func (f *fixture) tick(t *testing.T) []models.Event {
	t.Helper()
	_, evs, err := f.store.ApplyDueSchedules(context.Background(), f.clock.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// online tells the account's state per project key.
func (f *fixture) online(t *testing.T, account string) map[string]models.Status {
	t.Helper()
	st, err := f.store.Statuses(context.Background(), f.tenant.ID, account)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]models.Status{}
	for _, s := range st {
		for k, p := range f.projects {
			if p.ID == s.ProjectID {
				out[k] = s
			}
		}
	}
	return out
}

// describe renders events as "local-time key on/off source" lines.
func (f *fixture) describe(evs []models.Event, loc *time.Location) string {
	var b strings.Builder
	for _, e := range evs {
		key := "?"
		for k, p := range f.projects {
			if p.ID == e.ProjectID {
				key = k
			}
		}
		state := "off"
		if e.ToOnline {
			state = "on"
		}
		fmt.Fprintf(&b, "%s %s %s %s\n", e.At.In(loc).Format("Mon 2006-01-02 15:04 MST"), key, state, e.Source)
	}
	return b.String()
}

// TestScheduleWeekSwitchesAllMemberProjects drives a fake week of
// Monday-to-Friday 09:00-17:00 in Warsaw through ApplyDueSchedules, ticking
// every quarter of an hour; a manual offline at Monday 10:00 holds until
// 17:00 and Tuesday's 09:00 puts the agent online again.
func TestScheduleWeekSwitchesAllMemberProjects(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		const zone = "Europe/Warsaw"
		loc, _ := time.LoadLocation(zone)
		board := models.NewBoard(f.store)
		if err := board.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(mustLocal(t, zone, "2026-11-30 00:00").Sub(f.clock.Now())) // a Monday
		f.member(t, "alice", "HELP", "IT")
		a := f.saveSchedule(t, "alice", officeHours(zone))
		if a.NextSwitchAt == nil || !a.NextSwitchAt.Equal(mustLocal(t, zone, "2026-11-30 09:00")) || !a.NextSwitchOnline {
			t.Fatalf("planned switch %v online=%v, want Monday 09:00 on", a.NextSwitchAt, a.NextSwitchOnline)
		}

		var got []models.Event
		end := mustLocal(t, zone, "2026-12-07 00:00")
		for f.clock.Now().Before(end) {
			now := f.clock.Now().In(loc)
			if now.Equal(mustLocal(t, zone, "2026-11-30 08:45")) {
				if evs := f.tick(t); len(evs) != 0 {
					t.Fatalf("switched before 09:00: %s", f.describe(evs, loc))
				}
			}
			got = append(got, f.tick(t)...)
			switch now.Format("Mon 15:04") {
			case "Mon 09:00":
				st := f.online(t, "alice")
				for _, k := range []string{"HELP", "IT"} {
					if !st[k].Online || st[k].Source != models.SourceSchedule || !st[k].Since.Equal(now) {
						t.Fatalf("Monday 09:00 in %s: %+v", k, st[k])
					}
				}
				if w, _ := board.Widget(f.projects["HELP"].WidgetID); !w.Online {
					t.Fatal("the widget board did not hear of the scheduled switch")
				}
			case "Mon 10:00":
				f.set(t, "alice", false, "HELP", "IT")
			case "Mon 16:45":
				if st := f.online(t, "alice"); st["HELP"].Online || st["IT"].Online {
					t.Fatal("the manual offline did not hold until the scheduled switch")
				}
			}
			f.clock.Advance(15 * time.Minute)
		}
		var want strings.Builder
		fmt.Fprintf(&want, "Mon 2026-11-30 09:00 CET HELP on schedule\nMon 2026-11-30 09:00 CET IT on schedule\n")
		for d := 1; d <= 4; d++ {
			day := time.Date(2026, 12, d, 0, 0, 0, 0, loc).Format("Mon 2006-01-02")
			for _, tr := range []string{"09:00 CET %s on", "17:00 CET %s off"} {
				for _, k := range []string{"HELP", "IT"} {
					fmt.Fprintf(&want, "%s "+tr+" schedule\n", day, k)
				}
			}
		}
		if g := f.describe(got, loc); g != want.String() {
			t.Fatalf("events:\n%s\nwant:\n%s", g, want.String())
		}
		logged, err := f.store.Events(context.Background(), f.tenant.ID, models.EventFilter{Source: models.SourceSchedule})
		if err != nil || len(logged) != len(got) {
			t.Fatalf("audit log has %d schedule events (err %v), ticks returned %d", len(logged), err, len(got))
		}
	})
}

// TestScheduleOnlyMemberProjects: going online touches only the projects
// of the stored memberships; going offline ends every online row.
func TestScheduleOnlyMemberProjects(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect) // Wednesday 2026-11-25 09:00 UTC
		f.member(t, "bob", "HELP")
		f.saveSchedule(t, "bob", schedule.Schedule{Timezone: "UTC", Enabled: true,
			Rules: []schedule.Rule{{Days: weekdays(), Start: "10:00", End: "11:00"}}})
		f.set(t, "bob", true, "IT") // a former agent of IT, still online there
		f.clock.Advance(time.Hour)
		if evs := f.tick(t); len(evs) != 1 || evs[0].ProjectID != f.projects["HELP"].ID {
			t.Fatalf("10:00: %+v", evs)
		}
		f.clock.Advance(time.Hour)
		evs := f.tick(t)
		if len(evs) != 2 {
			t.Fatalf("11:00: %d events, want HELP and IT offline", len(evs))
		}
		if st := f.online(t, "bob"); st["HELP"].Online || st["IT"].Online {
			t.Fatalf("after 11:00: %+v", st)
		}
	})
}

// TestScheduleDSTWeeksThroughStore runs office hours over the DST changes
// of three zones, ticking hourly, and expects every switch at 09:00 or
// 17:00 local wall-clock time, once per weekday each.
func TestScheduleDSTWeeksThroughStore(t *testing.T) {
	cases := []struct{ zone, from string }{
		{"Europe/Warsaw", "2026-03-25 00:00"},    // CET → CEST on Sunday 03-29
		{"Europe/Warsaw", "2026-10-21 00:00"},    // CEST → CET on Sunday 10-25
		{"America/New_York", "2026-03-04 00:00"}, // EST → EDT on Sunday 03-08
		{"America/New_York", "2026-10-28 00:00"}, // EDT → EST on Sunday 11-01
		{"Australia/Sydney", "2026-04-01 00:00"}, // AEDT → AEST on Sunday 04-05
		{"Australia/Sydney", "2026-09-30 00:00"}, // AEST → AEDT on Sunday 10-04
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.zone, "/", "_")+"_"+c.from[:10], func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
				f := newFixture(t, dialect)
				loc, _ := time.LoadLocation(c.zone)
				start := mustLocal(t, c.zone, c.from) // a Wednesday
				f.clock.Advance(start.Sub(f.clock.Now()))
				f.member(t, "dana", "HELP")
				f.saveSchedule(t, "dana", officeHours(c.zone))
				var got []models.Event
				for end := start.Add(10 * 24 * time.Hour); f.clock.Now().Before(end); f.clock.Advance(time.Hour) {
					got = append(got, f.tick(t)...)
				}
				var want []string
				for d := range 10 {
					day := start.AddDate(0, 0, d)
					if day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
						continue
					}
					want = append(want, day.Format("2006-01-02")+" 09:00 on", day.Format("2006-01-02")+" 17:00 off")
				}
				var gotLines []string
				for _, e := range got {
					state := "off"
					if e.ToOnline {
						state = "on"
					}
					gotLines = append(gotLines, e.At.In(loc).Format("2006-01-02 15:04")+" "+state)
				}
				if strings.Join(gotLines, "\n") != strings.Join(want, "\n") {
					t.Fatalf("switches:\n%s\nwant:\n%s", strings.Join(gotLines, "\n"), strings.Join(want, "\n"))
				}
			})
		})
	}
}

// TestScheduleYearEndThroughStore: an overnight Thursday window across New
// Year's Eve switches on in 2026 and off in 2027.
func TestScheduleYearEndThroughStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		const zone = "America/New_York"
		f.clock.Advance(mustLocal(t, zone, "2026-12-30 12:00").Sub(f.clock.Now()))
		f.member(t, "erin", "HELP")
		f.saveSchedule(t, "erin", schedule.Schedule{Timezone: zone, Enabled: true,
			Rules: []schedule.Rule{{Days: []string{"thu"}, Start: "22:00", End: "02:00"}}})
		f.clock.Advance(mustLocal(t, zone, "2026-12-31 22:00").Sub(f.clock.Now()))
		on := f.tick(t)
		f.clock.Advance(4 * time.Hour)
		off := f.tick(t)
		if len(on) != 1 || !on[0].ToOnline || !on[0].At.Equal(mustLocal(t, zone, "2026-12-31 22:00")) ||
			len(off) != 1 || off[0].ToOnline || !off[0].At.Equal(mustLocal(t, zone, "2027-01-01 02:00")) {
			t.Fatalf("on %+v off %+v", on, off)
		}
		_, next, err := f.store.ScheduleOf(context.Background(), f.tenant.ID, "erin")
		if err != nil || next == nil || !next.Equal(mustLocal(t, zone, "2027-01-07 22:00")) {
			t.Fatalf("next switch %v err %v, want 2027-01-07 22:00", next, err)
		}
	})
}

// TestScheduleCatchUpAppliesLatestState: a runner that was away for days
// applies only the state of the latest transition, at its instant, and
// plans the next one after now.
func TestScheduleCatchUpAppliesLatestState(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect) // Wednesday 2026-11-25 09:00 UTC
		f.member(t, "finn", "HELP")
		f.saveSchedule(t, "finn", officeHours("UTC")) // next: Wednesday 17:00 off
		f.clock.Advance(3*24*time.Hour + 2*time.Hour) // Saturday 11:00
		applied, evs, err := f.store.ApplyDueSchedules(context.Background(), f.clock.Now(), 0)
		if err != nil || applied != 1 || len(evs) != 0 {
			t.Fatalf("Saturday: applied %d events %+v err %v (latest state is off, already off)", applied, evs, err)
		}
		f.clock.Advance(2*24*time.Hour + 3*time.Hour) // Monday 14:00
		applied, evs, err = f.store.ApplyDueSchedules(context.Background(), f.clock.Now(), 0)
		if err != nil || applied != 1 || len(evs) != 1 || !evs[0].ToOnline ||
			!evs[0].At.Equal(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)) {
			t.Fatalf("Monday: applied %d events %+v err %v, want one switch on at 09:00", applied, evs, err)
		}
		_, next, err := f.store.ScheduleOf(context.Background(), f.tenant.ID, "finn")
		if err != nil || next == nil || !next.Equal(time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC)) {
			t.Fatalf("next %v err %v, want Monday 17:00", next, err)
		}
	})
}

// TestScheduleLateTickKeepsLaterManualChange: a switch applied late does
// not undo what the agent chose after the switch's instant.
func TestScheduleLateTickKeepsLaterManualChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect) // Wednesday 09:00 UTC
		f.member(t, "gus", "HELP", "IT")
		f.set(t, "gus", true, "HELP", "IT")
		f.saveSchedule(t, "gus", officeHours("UTC"))  // next: 17:00 off
		f.clock.Advance(8*time.Hour + 10*time.Minute) // 17:10, no tick ran yet
		f.set(t, "gus", true, "HELP")                 // no change: online already
		f.set(t, "gus", false, "IT")
		f.set(t, "gus", true, "IT") // back online at 17:10, after the switch
		evs := f.tick(t)
		if len(evs) != 1 || evs[0].ProjectID != f.projects["HELP"].ID || evs[0].ToOnline {
			t.Fatalf("late tick: %+v, want HELP off only", evs)
		}
		if st := f.online(t, "gus"); !st["IT"].Online {
			t.Fatal("the late tick undid the manual change made after 17:00")
		}
	})
}

// TestScheduleInactiveTenantOnlyMovesPlan: a disabled tenant's switches
// are not applied, but its plans move on so that they do not pile up.
func TestScheduleInactiveTenantOnlyMovesPlan(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		f.member(t, "hana", "HELP")
		f.saveSchedule(t, "hana", officeHours("UTC"))
		if err := f.store.SetEnabled(context.Background(), f.tenant.ID, false, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(25 * time.Hour) // Thursday 10:00
		applied, evs, err := f.store.ApplyDueSchedules(context.Background(), f.clock.Now(), 0)
		if err != nil || applied != 1 || len(evs) != 0 {
			t.Fatalf("applied %d events %+v err %v", applied, evs, err)
		}
		_, next, err := f.store.ScheduleOf(context.Background(), f.tenant.ID, "hana")
		if err != nil || next == nil || !next.Equal(time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)) {
			t.Fatalf("next %v err %v", next, err)
		}
	})
}

func TestSaveScheduleValidatesAndPlans(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		if _, _, err := f.store.ScheduleOf(ctx, f.tenant.ID, "ivan"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("no schedule: err %v, want ErrNotFound", err)
		}
		bad := officeHours("UTC")
		bad.Rules[0].Start = "9am"
		_, err := f.store.SaveSchedule(ctx, f.tenant.ID, "ivan", bad, f.clock.Now())
		var ve *schedule.ValidationError
		if !errors.Is(err, models.ErrInvalid) || !errors.As(err, &ve) || ve.Field != "rules[0].start" {
			t.Fatalf("invalid schedule: err %v", err)
		}
		if _, _, err := f.store.ScheduleOf(ctx, f.tenant.ID, "ivan"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("an invalid schedule was stored: %v", err)
		}
		off := officeHours("Europe/Warsaw")
		off.Enabled = false
		if a := f.saveSchedule(t, "ivan", off); a.NextSwitchAt != nil {
			t.Fatalf("disabled schedule planned a switch at %v", a.NextSwitchAt)
		}
		on := f.saveSchedule(t, "ivan", officeHours("Europe/Warsaw"))
		if on.NextSwitchAt == nil || !on.NextSwitchAt.Equal(mustLocal(t, "Europe/Warsaw", "2026-11-25 17:00")) || on.NextSwitchOnline {
			t.Fatalf("planned %v online=%v, want today 17:00 off", on.NextSwitchAt, on.NextSwitchOnline)
		}
		sch, next, err := f.store.ScheduleOf(ctx, f.tenant.ID, "ivan")
		if err != nil || sch.Timezone != "Europe/Warsaw" || len(sch.Rules) != 1 || sch.Exceptions == nil || next == nil {
			t.Fatalf("read back %+v next %v err %v", sch, next, err)
		}
		if st := f.online(t, "ivan"); len(st) != 0 {
			t.Fatalf("saving a schedule switched the status: %+v", st)
		}
	})
}

// TestExpiryExactlyAtUntil: an online period ends at its end, not a second
// earlier, with since and the event at that instant.
func TestExpiryExactlyAtUntil(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		until := f.clock.Now().Add(time.Hour)
		if _, err := f.store.SetStatus(ctx, f.tenant.ID, models.StatusChange{AccountID: "jo",
			ProjectIDs: []int64{f.projects["HELP"].ID, f.projects["IT"].ID}, To: models.StateOnline, Until: &until, Source: models.SourceManual}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		evs, err := f.store.ExpireOnline(ctx, until.Add(-time.Second))
		if err != nil || len(evs) != 0 || f.count(t, "HELP") != 1 {
			t.Fatalf("a second early: events %+v err %v", evs, err)
		}
		evs, err = f.store.ExpireOnline(ctx, until)
		if err != nil || len(evs) != 2 {
			t.Fatalf("at until: events %+v err %v", evs, err)
		}
		for _, e := range evs {
			if !e.At.Equal(until) || e.Source != models.SourceExpiry || e.ToOnline || e.ID == 0 ||
				e.TenantID != f.tenant.ID || e.AccountID != "jo" || e.ProjectID == 0 {
				t.Fatalf("event %+v", e)
			}
		}
		for k, s := range f.online(t, "jo") {
			if s.Online || !s.Since.Equal(until) || s.Until != nil || s.Source != models.SourceExpiry {
				t.Fatalf("%s after expiry: %+v", k, s)
			}
		}
		if evs, err := f.store.ExpireOnline(ctx, until.Add(time.Minute)); err != nil || len(evs) != 0 {
			t.Fatalf("second run: %+v %v", evs, err)
		}
	})
}

// TestScheduledOnlineClearsPeriodEnd: the schedule taking over an "online
// for 1 h" keeps the agent online until the scheduled end.
func TestScheduledOnlineClearsPeriodEnd(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		f.clock.Advance(-30 * time.Minute) // 08:30 UTC
		f.member(t, "kim", "HELP")
		f.saveSchedule(t, "kim", officeHours("UTC"))
		until := f.clock.Now().Add(time.Hour)
		if _, err := f.store.SetStatus(ctx, f.tenant.ID, models.StatusChange{AccountID: "kim",
			ProjectIDs: []int64{f.projects["HELP"].ID}, To: models.StateOnline, Until: &until, Source: models.SourceManual}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(30 * time.Minute)
		if evs := f.tick(t); len(evs) != 0 {
			t.Fatalf("already online: %+v", evs)
		}
		if evs, err := f.store.ExpireOnline(ctx, until); err != nil || len(evs) != 0 {
			t.Fatalf("the scheduled shift was cut by the old period end: %+v %v", evs, err)
		}
	})
}

// TestInactivity: 0 minutes never sweeps; with 15 minutes activity keeps
// an agent online and 16 minutes of silence put them offline.
func TestInactivity(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		buf := &models.ActivityBuffer{}
		f.set(t, "lea", true, "HELP", "IT")
		f.clock.Advance(24 * time.Hour)
		if evs, err := f.store.SweepInactive(ctx, f.clock.Now()); err != nil || len(evs) != 0 {
			t.Fatalf("auto-offline off: %+v %v", evs, err)
		}
		if err := f.store.SetAutoOffline(ctx, f.tenant.ID, 15, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.set(t, "lea", true, "HELP") // going online again is activity
		for range 4 {
			f.clock.Advance(10 * time.Minute)
			buf.Touch(f.tenant.ID, "lea", f.clock.Now())
			if _, err := f.store.FlushActivity(ctx, buf, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			if evs, err := f.store.SweepInactive(ctx, f.clock.Now()); err != nil || len(evs) != 0 {
				t.Fatalf("active agent swept: %+v %v", evs, err)
			}
		}
		f.clock.Advance(15 * time.Minute)
		if evs, err := f.store.SweepInactive(ctx, f.clock.Now()); err != nil || len(evs) != 0 {
			t.Fatalf("swept at exactly 15 minutes: %+v %v", evs, err)
		}
		f.clock.Advance(time.Minute)
		evs, err := f.store.SweepInactive(ctx, f.clock.Now())
		if err != nil || len(evs) != 2 {
			t.Fatalf("after 16 minutes: %+v %v", evs, err)
		}
		for k, s := range f.online(t, "lea") {
			if s.Online || s.Source != models.SourceInactivity {
				t.Fatalf("%s: %+v", k, s)
			}
		}
	})
}

// TestInactivityGraceAfterScheduledOnline: an agent the schedule has just
// put online gets the whole grace period from the switch.
func TestInactivityGraceAfterScheduledOnline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect) // Wednesday 09:00 UTC
		ctx := context.Background()
		if err := f.store.SetAutoOffline(ctx, f.tenant.ID, 15, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		buf := &models.ActivityBuffer{}
		buf.Touch(f.tenant.ID, "max", f.clock.Now().Add(-48*time.Hour))
		if _, err := f.store.FlushActivity(ctx, buf, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.member(t, "max", "HELP")
		f.saveSchedule(t, "max", officeHours("UTC"))
		f.clock.Advance(24 * time.Hour) // Thursday 09:00
		if evs := f.tick(t); len(evs) != 1 {
			t.Fatalf("scheduled online: %+v", evs)
		}
		f.clock.Advance(14 * time.Minute)
		if evs, err := f.store.SweepInactive(ctx, f.clock.Now()); err != nil || len(evs) != 0 {
			t.Fatalf("swept inside the grace period: %+v %v", evs, err)
		}
		f.clock.Advance(2 * time.Minute)
		if evs, err := f.store.SweepInactive(ctx, f.clock.Now()); err != nil || len(evs) != 1 {
			t.Fatalf("after the grace period: %+v %v", evs, err)
		}
	})
}

// TestHeartbeatStormOneRowPerAgent: 10,000 heartbeats of 100 agents are
// one flush of 100 rows.
func TestHeartbeatStormOneRowPerAgent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		buf := &models.ActivityBuffer{}
		start := f.clock.Now()
		for i := range 10_000 {
			buf.Touch(f.tenant.ID, fmt.Sprintf("agent-%03d", i%100), start.Add(time.Duration(i)*time.Millisecond))
		}
		n, err := f.store.FlushActivity(context.Background(), buf, f.clock.Now())
		if err != nil || n != 100 {
			t.Fatalf("flush wrote %d rows, err %v; want 100", n, err)
		}
		last, err := f.store.LastActivity(context.Background(), f.tenant.ID, "agent-099")
		if err != nil || last == nil || !last.Equal(start.Add(9999*time.Millisecond)) {
			t.Fatalf("agent-099 last activity %v err %v", last, err)
		}
		if n, err := f.store.FlushActivity(context.Background(), buf, f.clock.Now()); err != nil || n != 0 {
			t.Fatalf("second flush wrote %d rows, err %v", n, err)
		}
	})
}

// TestThreeRunnersApplyEachTransitionOnce runs three stores on one database,
// as three replicas would, through the same due switches and expiries at
// once; one runner's context is cancelled in the middle of its tick. Every
// transition lands exactly once in the events table.
func TestThreeRunnersApplyEachTransitionOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
		url := dbtest.URL(t, dialect)
		stores := []*models.Store{dbtest.OpenURL(t, url, clock.Now), dbtest.OpenURL(t, url, clock.Now), dbtest.OpenURL(t, url, clock.Now)}
		ctx := context.Background()
		s := stores[0]
		tenant, err := s.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		ps, err := s.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "1", Key: "A"}, {JiraID: "2", Key: "B"}}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids := []int64{ps[0].ID, ps[1].ID}
		const agents = 120
		until := clock.Now().Add(30 * time.Minute)
		for i := range agents {
			acct := fmt.Sprintf("agent-%03d", i)
			if err := s.SetMemberships(ctx, tenant.ID, acct, ids, clock.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SaveSchedule(ctx, tenant.ID, acct, officeHours("UTC"), clock.Now()); err != nil {
				t.Fatal(err)
			}
			// A second group is online for half an hour: expiry races too.
			if _, err := s.SetStatus(ctx, tenant.ID, models.StatusChange{AccountID: "temp-" + acct, ProjectIDs: ids,
				To: models.StateOnline, Until: &until, Source: models.SourceManual}, clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Hour) // 09:00: every schedule and every period is due

		// Runner 0's context ends after it was consulted a few times: in
		// the middle of its work, whatever the timing.
		cancelled := newCountdownContext(ctx, 8)
		var runner0 []error
		// Each transition is taken by one runner: the switches the runners
		// count add up to the agents at most (a runner cancelled while its
		// commit is under way may not count one it took).
		var taken atomic.Int64
		var wg sync.WaitGroup
		for i, st := range stores {
			wg.Go(func() {
				tickCtx := ctx
				if i == 0 {
					tickCtx = cancelled
				}
				for range 3 {
					n, _, err := st.ApplyDueSchedules(tickCtx, clock.Now(), 40)
					taken.Add(int64(n))
					if err != nil && i != 0 {
						t.Errorf("runner %d: %v", i, err)
					}
					_, errExpire := st.ExpireOnline(tickCtx, clock.Now())
					if errExpire != nil && i != 0 {
						t.Errorf("runner %d: expire: %v", i, errExpire)
					}
					if i == 0 {
						runner0 = append(runner0, err, errExpire)
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(runner0...); !errors.Is(err, context.Canceled) {
			t.Fatalf("runner 0 was never cancelled (%v): the case would check nothing", err)
		}
		// Whatever the cancelled runner left is due still; a last tick ends it.
		n, _, err := stores[1].ApplyDueSchedules(ctx, clock.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if taken.Add(int64(n)); taken.Load() > agents {
			t.Errorf("the runners took %d switches of %d agents", taken.Load(), agents)
		}
		if _, err := stores[2].ExpireOnline(ctx, clock.Now()); err != nil {
			t.Fatal(err)
		}

		evs, err := s.Events(ctx, tenant.ID, models.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range evs {
			seen[fmt.Sprintf("%s/%d/%t/%s", e.AccountID, e.ProjectID, e.ToOnline, e.Source)]++
		}
		want := 0
		for i := range agents {
			acct := fmt.Sprintf("agent-%03d", i)
			for _, pid := range ids {
				for _, k := range []string{fmt.Sprintf("%s/%d/true/schedule", acct, pid), fmt.Sprintf("temp-%s/%d/false/expiry", acct, pid)} {
					if seen[k] != 1 {
						t.Errorf("%s: %d events, want 1", k, seen[k])
					}
					want++
				}
			}
		}
		// The temp group's manual "online" events, then one switch and one
		// expiry per row.
		if len(evs) != want+agents*len(ids) {
			t.Errorf("%d events in all, want %d", len(evs), want+agents*len(ids))
		}
		for _, id := range ids {
			n, err := s.OnlineCount(ctx, tenant.ID, id)
			if err != nil || n != agents {
				t.Fatalf("project %d: %d online (err %v), want the %d scheduled agents", id, n, err, agents)
			}
		}
	})
}

// countdownContext ends (context.Canceled) once it has been consulted (Done
// or Err) n times, so that a cancellation lands in the middle of the work
// that runs under it without depending on timing.
type countdownContext struct {
	context.Context
	left atomic.Int64
	once sync.Once
	done chan struct{}
}

func newCountdownContext(parent context.Context, n int64) *countdownContext {
	c := &countdownContext{Context: parent, done: make(chan struct{})}
	c.left.Store(n)
	return c
}

func (c *countdownContext) consult() {
	if c.left.Add(-1) <= 0 {
		c.once.Do(func() { close(c.done) })
	}
}

func (c *countdownContext) Done() <-chan struct{} {
	c.consult()
	return c.done
}

func (c *countdownContext) Err() error {
	c.consult()
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// TestScheduleThatCannotBeEvaluatedLosesItsPlan: a stored schedule whose
// zone vanished is reported once and not retried on every tick.
func TestScheduleThatCannotBeEvaluatedLosesItsPlan(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		f.member(t, "otto", "HELP")
		f.saveSchedule(t, "otto", officeHours("UTC"))
		db, err := f.store.SQL()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE agents SET schedule = REPLACE(schedule, '"UTC"', '"Mars/Olympus_Mons"') WHERE account_id = 'otto'`); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(8 * time.Hour)
		applied, evs, err := f.store.ApplyDueSchedules(ctx, f.clock.Now(), 0)
		if err == nil || !strings.Contains(err.Error(), "plan dropped") || applied != 1 || len(evs) != 0 {
			t.Fatalf("applied %d events %+v err %v", applied, evs, err)
		}
		if _, next, err := f.store.ScheduleOf(ctx, f.tenant.ID, "otto"); err != nil || next != nil {
			t.Fatalf("next %v err %v, want no plan", next, err)
		}
		if applied, _, err := f.store.ApplyDueSchedules(ctx, f.clock.Now(), 0); err != nil || applied != 0 {
			t.Fatalf("second tick: applied %d err %v", applied, err)
		}
	})
}

// TestNextTransitionInMatchesNextTransition: the variant that takes a loaded
// zone answers the same, and refuses another zone.
func TestNextTransitionInMatchesNextTransition(t *testing.T) {
	s := officeHours("Australia/Sydney")
	loc, err := schedule.LoadLocation("Australia/Sydney")
	if err != nil {
		t.Fatal(err)
	}
	for at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC); at.Before(time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC)); at = at.Add(97 * time.Minute) {
		a1, o1, ok1, err1 := s.NextTransition(at)
		a2, o2, ok2, err2 := s.NextTransitionIn(loc, at)
		if !a1.Equal(a2) || o1 != o2 || ok1 != ok2 || err1 != nil || err2 != nil {
			t.Fatalf("after %v: %v %v %v %v vs %v %v %v %v", at, a1, o1, ok1, err1, a2, o2, ok2, err2)
		}
	}
	if _, _, _, err := s.NextTransitionIn(time.UTC, time.Now()); err == nil {
		t.Fatal("a location of another zone was accepted")
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus_Mons"} {
		if _, err := schedule.LoadLocation(bad); err == nil {
			t.Fatalf("LoadLocation(%q) succeeded", bad)
		}
	}
}

// TestScheduleTickInBatches: a tick with more agents due than one
// transaction takes (1,000) switches every one of them once, whatever the
// limit, and announces the tenant once.
func TestScheduleTickInBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect) // Wednesday 2026-11-25 09:00 UTC
		ctx := context.Background()
		raw, err := json.Marshal(officeHours("UTC"))
		if err != nil {
			t.Fatal(err)
		}
		db, err := f.store.SQL()
		if err != nil {
			t.Fatal(err)
		}
		// Seeded in two statements: the store's own calls would take
		// thousands of transactions. Every agent is due at 09:00, online.
		const agents = 2100
		now := f.clock.Now()
		seed := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + fmt.Sprint(agents) + `) `
		if _, err := db.ExecContext(ctx, rebind(dialect, seed+`INSERT INTO agents (tenant_id, account_id, schedule, next_switch_at, next_switch_online, created_at, updated_at)
SELECT ?, 'bulk-' || i, ?, ?, true, ?, ? FROM n`), f.tenant.ID, string(raw), now, now, now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, rebind(dialect, seed+`INSERT INTO memberships (tenant_id, account_id, project_id)
SELECT ?, 'bulk-' || i, ? FROM n`), f.tenant.ID, f.projects["HELP"].ID); err != nil {
			t.Fatal(err)
		}
		var changes atomic.Int64
		stop := f.store.Watch(func(context.Context, models.Change) { changes.Add(1) })
		defer stop()

		applied, evs, err := f.store.ApplyDueSchedules(ctx, now, 1500)
		if err != nil || applied != 1500 || len(evs) != 1500 || changes.Load() != 1 {
			t.Fatalf("first tick: applied %d, %d events, %d changes, err %v; want 1500, 1500, 1", applied, len(evs), changes.Load(), err)
		}
		more, rest, err := f.store.ApplyDueSchedules(ctx, now, 0)
		if err != nil || more != agents-1500 || len(rest) != agents-1500 {
			t.Fatalf("second tick: applied %d, %d events, err %v; want %d", more, len(rest), err, agents-1500)
		}
		seen := map[string]bool{}
		for _, e := range append(evs, rest...) {
			if seen[e.AccountID] || !e.ToOnline || !e.At.Equal(now) || e.ProjectID != f.projects["HELP"].ID || e.ID == 0 {
				t.Fatalf("event %+v (seen before: %v)", e, seen[e.AccountID])
			}
			seen[e.AccountID] = true
		}
		if n := f.count(t, "HELP"); n != agents {
			t.Fatalf("%d online in HELP, want %d", n, agents)
		}
		if again, _, err := f.store.ApplyDueSchedules(ctx, now, 0); err != nil || again != 0 {
			t.Fatalf("third tick: applied %d, err %v; want nothing due", again, err)
		}
	})
}

// rebind turns ? placeholders into PostgreSQL's $n for the raw pool.
func rebind(dialect models.Dialect, q string) string {
	if dialect != models.DialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
