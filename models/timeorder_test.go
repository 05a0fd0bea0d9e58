package models_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // the driver as the store used it before, for a file written then
	"github.com/jonboulle/clockwork"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestTimesCompareInTimeOrder: a query bound by an instant finds exactly the
// rows on the right side of it, whatever the instant's zone and however
// many fractional digits the times carry. On SQLite times are text, so
// this holds only if text order is time order.
func TestTimesCompareInTimeOrder(t *testing.T) {
	base := time.Date(2026, 11, 25, 9, 0, 5, 0, time.UTC)
	east, west := time.FixedZone("UTC+2", 2*3600), time.FixedZone("UTC-5", -5*3600)
	tests := []struct {
		name     string
		given    []time.Duration // after base, one change each
		from, to time.Time
		expect   []time.Duration
	}{
		{"from given east of UTC", []time.Duration{0, time.Hour}, base.Add(30 * time.Minute).In(east), time.Time{}, []time.Duration{time.Hour}},
		{"to given west of UTC", []time.Duration{0, time.Hour}, time.Time{}, base.Add(30 * time.Minute).In(west), []time.Duration{0}},
		{"from between two fractions", []time.Duration{0, 500 * time.Millisecond}, base.Add(250 * time.Millisecond), time.Time{}, []time.Duration{500 * time.Millisecond}},
		{"from on a whole second", []time.Duration{0, 500 * time.Millisecond}, base, time.Time{}, []time.Duration{0, 500 * time.Millisecond}},
		{"to on a whole second after a fraction", []time.Duration{-500 * time.Millisecond, 0}, time.Time{}, base, []time.Duration{-500 * time.Millisecond}},
		{"microseconds apart", []time.Duration{time.Microsecond, 2 * time.Microsecond}, base.Add(2 * time.Microsecond), time.Time{}, []time.Duration{2 * time.Microsecond}},
	}
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := newFixture(t, dialect)
				for i, d := range tt.given {
					f.clock.Advance(base.Add(d).Sub(f.clock.Now()))
					f.set(t, "alice", i%2 == 0, "HELP")
				}
				evs, err := f.store.Events(context.Background(), f.tenant.ID, models.EventFilter{From: tt.from, To: tt.to})
				if err != nil {
					t.Fatal(err)
				}
				var got []time.Duration
				for _, e := range evs {
					got = append(got, e.At.Sub(base))
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.expect) {
					t.Fatalf("events found at %v after the base, want %v", got, tt.expect)
				}
			})
		}
	})
}

// TestSQLiteFileWrittenBeforeIsRead: a SQLite file whose times the driver
// wrote in its own form (before the store fixed their width: any zone,
// trailing zeros of the fraction dropped) is rewritten when the store opens
// it, so that its times compare and match with the ones written now: the
// schedules tick takes a due agent by the exact instant it read
// (next_switch_at = ?), and the audit log's bounds cut between old events.
func TestSQLiteFileWrittenBeforeIsRead(t *testing.T) {
	url := dbtest.URL(t, models.DialectSQLite)
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC) // a Monday
	clock := clockwork.NewFakeClockAt(start)
	store := dbtest.OpenURL(t, url, clock.Now)
	ctx := context.Background()
	tenant, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := store.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "1", Key: "HELP"}}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	help := ps[0].ID
	if err := store.SetMemberships(ctx, tenant.ID, "alice", []int64{help}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SaveSchedule(ctx, tenant.ID, "alice", officeHours("UTC"), clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	// Today's driver writes a time as "2006-01-02 15:04:05.999999999-07:00"
	// in the value's own zone: what every file written before holds.
	berlin := time.FixedZone("CET", 3600)
	nine := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	old, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"PRAGMA user_version = 0", nil},
		{"UPDATE agents SET next_switch_at = ?", []any{nine.In(berlin)}},
		{"UPDATE tenants SET installed_at = ?, created_at = ?", []any{start, start.In(berlin)}},
		{`INSERT INTO events (tenant_id, project_id, account_id, from_online, to_online, source, at) VALUES
  (?, ?, 'bob', false, true, 'manual', ?), (?, ?, 'bob', true, false, 'manual', ?), (?, ?, 'bob', false, true, 'manual', ?)`,
			[]any{tenant.ID, help, start.Add(5 * time.Second), tenant.ID, help, start.Add(5*time.Second + 500*time.Millisecond).In(berlin),
				tenant.ID, help, start.Add(6 * time.Second)}},
	} {
		if _, err := old.Exec(q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	var written string
	if err := old.QueryRow("SELECT CAST(next_switch_at AS TEXT) FROM agents").Scan(&written); err != nil || written != "2026-11-23 10:00:00+01:00" {
		t.Fatalf("the old form is %q (%v): the test no longer writes what the driver wrote", written, err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(nine.Sub(clock.Now()))
	store = dbtest.OpenURL(t, url, clock.Now)
	db, err := store.SQL()
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"agents.next_switch_at", "tenants.installed_at", "tenants.created_at", "events.at"} {
		table, column, _ := strings.Cut(col, ".")
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table + " WHERE " + column + " NOT LIKE '____-__-__ __:__:__._________+00:00'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s: %d values not rewritten (%v)", col, n, err)
		}
	}
	applied, evs, err := store.ApplyDueSchedules(ctx, clock.Now(), 0)
	if err != nil || applied != 1 || len(evs) != 1 || !evs[0].At.Equal(nine) || !evs[0].ToOnline {
		t.Fatalf("the tick after reopening applied %d with events %+v (%v), want alice online at 09:00", applied, evs, err)
	}
	got, err := store.Events(ctx, tenant.ID, models.EventFilter{AccountID: "bob", From: start.Add(5*time.Second + 250*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[1].At.Equal(start.Add(5*time.Second+500*time.Millisecond)) {
		t.Fatalf("events of bob from 08:00:05.25: %+v, want those at 05.5 and 06", got)
	}
	tn, err := store.Tenant(ctx, tenant.ID)
	if err != nil || !tn.InstalledAt.Equal(start) || !tn.CreatedAt.Equal(start) {
		t.Fatalf("tenant read back: installed %v created %v (%v), want %v", tn.InstalledAt, tn.CreatedAt, err, start)
	}
}
