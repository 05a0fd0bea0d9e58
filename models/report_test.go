package models_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

func TestOnlineReport(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }
	ev := func(id int64, account string, project int64, on bool, t time.Time) models.Event {
		return models.Event{ID: id, AccountID: account, ProjectID: project, FromOnline: !on, ToOnline: on, At: t}
	}
	hours := func(h float64) int64 { return int64(h * 3600) }
	// change is an event between any two states.
	change := func(id int64, account string, project int64, from, to models.State, t time.Time) models.Event {
		return models.Event{ID: id, AccountID: account, ProjectID: project, FromState: from, ToState: to,
			FromOnline: from == models.StateOnline, ToOnline: to == models.StateOnline, At: t}
	}
	on, away, off := models.StateOnline, models.StateAway, models.StateOffline
	tests := []struct {
		name     string
		events   []models.Event
		current  []models.Status
		from, to time.Time
		now      time.Time
		want     []models.DayOnline
	}{
		{
			name: "one period inside a day",
			events: []models.Event{
				ev(1, "alice", 1, true, at(20, 9, 0)),
				ev(2, "alice", 1, false, at(20, 11, 30)),
			},
			from: day(20), to: day(21), now: day(25),
			want: []models.DayOnline{{AccountID: "alice", Day: day(20), Seconds: hours(2.5)}},
		},
		{
			name: "overnight period split at UTC midnight",
			events: []models.Event{
				ev(1, "bob", 1, true, at(20, 22, 0)),
				ev(2, "bob", 1, false, at(21, 1, 0)),
			},
			from: day(20), to: day(22), now: day(25),
			want: []models.DayOnline{
				{AccountID: "bob", Day: day(20), Seconds: hours(2)},
				{AccountID: "bob", Day: day(21), Seconds: hours(1)},
			},
		},
		{
			name: "online in two projects at once counts once",
			events: []models.Event{
				ev(1, "alice", 1, true, at(20, 9, 0)),
				ev(2, "alice", 2, true, at(20, 10, 0)),
				ev(3, "alice", 1, false, at(20, 11, 0)),
				ev(4, "alice", 2, false, at(20, 12, 0)),
			},
			from: day(20), to: day(21), now: day(25),
			want: []models.DayOnline{{AccountID: "alice", Day: day(20), Seconds: hours(3)}},
		},
		{
			name: "online before the period: the first change's FromOnline says so",
			events: []models.Event{
				ev(1, "alice", 1, false, at(20, 2, 0)),
			},
			from: day(20), to: day(21), now: day(25),
			want: []models.DayOnline{{AccountID: "alice", Day: day(20), Seconds: hours(2)}},
		},
		{
			name: "a change after the period tells the state during it",
			events: []models.Event{
				ev(1, "alice", 1, false, at(23, 8, 0)),
			},
			from: day(20), to: day(21), now: day(25),
			want: []models.DayOnline{{AccountID: "alice", Day: day(20), Seconds: hours(24)}},
		},
		{
			name:    "no change since from: the current status holds all along, up to now",
			current: []models.Status{{AccountID: "carol", ProjectID: 3, Online: true}, {AccountID: "dan", ProjectID: 3, Online: false}},
			from:    day(20), to: day(22), now: at(21, 6, 0),
			want: []models.DayOnline{
				{AccountID: "carol", Day: day(20), Seconds: hours(24)},
				{AccountID: "carol", Day: day(21), Seconds: hours(6)},
			},
		},
		{
			name: "still online at now",
			events: []models.Event{
				ev(1, "alice", 1, true, at(21, 5, 0)),
			},
			current: []models.Status{{AccountID: "alice", ProjectID: 1, Online: true}},
			from:    day(21), to: day(22), now: at(21, 7, 15),
			want: []models.DayOnline{{AccountID: "alice", Day: day(21), Seconds: hours(2.25)}},
		},
		{
			name: "events before from are ignored, same-instant events ordered by id",
			events: []models.Event{
				ev(9, "alice", 1, true, at(19, 5, 0)),
				ev(11, "alice", 1, false, at(20, 10, 0)),
				ev(10, "alice", 1, true, at(20, 10, 0)),
			},
			from: day(20), to: day(21), now: day(25),
			want: nil,
		},
		{
			name:   "empty period",
			events: []models.Event{ev(1, "alice", 1, true, at(20, 9, 0))},
			from:   day(21), to: day(21), now: day(25),
			want: nil,
		},
		{
			name: "two agents sorted by account",
			events: []models.Event{
				ev(1, "zoe", 1, true, at(20, 9, 0)),
				ev(2, "amy", 1, true, at(20, 10, 0)),
				ev(3, "zoe", 1, false, at(20, 10, 0)),
				ev(4, "amy", 1, false, at(20, 10, 30)),
			},
			from: day(20), to: day(21), now: day(25),
			want: []models.DayOnline{
				{AccountID: "amy", Day: day(20), Seconds: hours(0.5)},
				{AccountID: "zoe", Day: day(20), Seconds: hours(1)},
			},
		},
		{
			name: "away is a series of its own",
			events: []models.Event{
				change(1, "alice", 1, off, on, at(20, 9, 0)),
				change(2, "alice", 1, on, away, at(20, 12, 0)),
				change(3, "alice", 1, away, on, at(20, 13, 0)),
				change(4, "alice", 1, on, off, at(20, 17, 0)),
			},
			from: day(20), to: day(21), now: day(25),
			want: []models.DayOnline{{AccountID: "alice", Day: day(20), Seconds: hours(7), AwaySeconds: hours(1)}},
		},
		{
			name: "online in one project while away in another counts online",
			events: []models.Event{
				change(1, "alice", 1, off, on, at(20, 9, 0)),
				change(2, "alice", 2, off, away, at(20, 10, 0)),
				change(3, "alice", 1, on, off, at(20, 11, 0)),
				change(4, "alice", 2, away, off, at(20, 12, 0)),
			},
			from: day(20), to: day(21), now: day(25),
			want: []models.DayOnline{{AccountID: "alice", Day: day(20), Seconds: hours(2), AwaySeconds: hours(1)}},
		},
		{
			name:    "away all day, never online",
			current: []models.Status{{AccountID: "bob", ProjectID: 1, State: away}},
			from:    day(20), to: day(21), now: day(25),
			want: []models.DayOnline{{AccountID: "bob", Day: day(20), AwaySeconds: hours(24)}},
		},
		{
			name: "away ends offline at expiry, across midnight",
			events: []models.Event{
				change(1, "carol", 1, off, away, at(20, 23, 0)),
				change(2, "carol", 1, away, off, at(21, 0, 30)),
			},
			from: day(20), to: day(22), now: day(25),
			want: []models.DayOnline{
				{AccountID: "carol", Day: day(20), AwaySeconds: hours(1)},
				{AccountID: "carol", Day: day(21), AwaySeconds: hours(0.5)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := models.OnlineReport(tt.events, tt.current, tt.from, tt.to, tt.now)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReportPeriod(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	cases := []struct {
		name     string
		given    models.ReportQuery
		from, to time.Time
		field    string
	}{
		{name: "defaults: the seven days ending with today", from: day(19), to: day(26)},
		{name: "to alone", given: models.ReportQuery{To: day(10)}, from: day(3), to: day(10)},
		{name: "widened to whole days", given: models.ReportQuery{From: day(20).Add(5 * time.Hour), To: day(21).Add(time.Minute)}, from: day(20), to: day(22)},
		{name: "from after to", given: models.ReportQuery{From: day(21), To: day(20)}, field: "to"},
		{name: "empty", given: models.ReportQuery{From: day(21), To: day(21)}, field: "to"},
		{name: "longer than a quarter", given: models.ReportQuery{From: day(1).AddDate(0, 0, -models.MaxReportDays-1), To: day(1)}, field: "to"},
		{name: "a quarter", given: models.ReportQuery{From: day(1).AddDate(0, 0, -models.MaxReportDays), To: day(1)}, from: day(1).AddDate(0, 0, -models.MaxReportDays), to: day(1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from, to, err := tc.given.Period(now)
			var re *models.ReportError
			switch {
			case tc.field != "":
				if !errors.As(err, &re) || re.Field != tc.field || !errors.Is(err, models.ErrInvalid) {
					t.Fatalf("err %v, want a ReportError on %s that is ErrInvalid", err, tc.field)
				}
			case err != nil || !from.Equal(tc.from) || !to.Equal(tc.to):
				t.Fatalf("period %v – %v, err %v; want %v – %v", from, to, err, tc.from, tc.to)
			}
		})
	}
}

// TestStoreReport: the report read from the audit trail and the statuses,
// per agent and day, for every project or one.
func TestStoreReport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect) // Wednesday 2026-11-25 09:00 UTC
		ctx := context.Background()
		f.set(t, "alice", true, "HELP", "IT")
		f.clock.Advance(90 * time.Minute)
		f.set(t, "alice", false, "HELP")
		f.clock.Advance(30 * time.Minute) // 11:00: IT kept her online for 2 h in all
		f.set(t, "alice", false, "IT")
		f.set(t, "bob", true, "HELP")
		f.clock.Advance(15 * time.Hour) // 02:00 on the 26th, Bob still online
		day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }

		r, err := f.store.Report(ctx, f.tenant.ID, models.ReportQuery{From: day(25), To: day(27)}, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		want := []models.AgentOnline{
			{AccountID: "alice", TotalSeconds: 2 * 3600, Seconds: []int64{2 * 3600, 0}, AwaySeconds: []int64{0, 0}},
			{AccountID: "bob", TotalSeconds: 15 * 3600, Seconds: []int64{13 * 3600, 2 * 3600}, AwaySeconds: []int64{0, 0}},
		}
		if !r.From.Equal(day(25)) || !r.To.Equal(day(27)) || len(r.Days) != 2 || !r.Days[1].Equal(day(26)) || !reflect.DeepEqual(r.Agents, want) {
			t.Fatalf("report %+v, want agents %+v", r, want)
		}

		r, err = f.store.Report(ctx, f.tenant.ID, models.ReportQuery{From: day(25), To: day(27), ProjectKey: "IT"}, f.clock.Now())
		if err != nil || len(r.Agents) != 1 || r.Agents[0].AccountID != "alice" || r.Agents[0].TotalSeconds != 2*3600 {
			t.Fatalf("IT only: %+v, %v", r, err)
		}

		var re *models.ReportError
		if _, err := f.store.Report(ctx, f.tenant.ID, models.ReportQuery{ProjectKey: "NOPE"}, f.clock.Now()); !errors.As(err, &re) || re.Field != "project" {
			t.Fatalf("unknown project: %v", err)
		}
		if _, err := f.store.Report(ctx, f.tenant.ID, models.ReportQuery{From: day(26), To: day(25)}, f.clock.Now()); !errors.As(err, &re) || re.Field != "to" {
			t.Fatalf("reversed period: %v", err)
		}
	})
}
