package models_test

import (
	"reflect"
	"testing"
	"time"

	"agentpresence/models"
)

func TestOnlineReport(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }
	ev := func(id int64, account string, project int64, on bool, t time.Time) models.Event {
		return models.Event{ID: id, AccountID: account, ProjectID: project, FromOnline: !on, ToOnline: on, At: t}
	}
	hours := func(h float64) int64 { return int64(h * 3600) }
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
