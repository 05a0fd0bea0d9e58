package models_test

import (
	"context"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestLastChangeSaysWhy: each way a status changes leaves on the row what
// the agent is told: when, by what, and for an admin who and why; for
// away the agent's own reason. A later change of another kind does not
// carry the admin's name or reason along.
func TestLastChangeSaysWhy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		help := f.projects["HELP"]
		f.member(t, "alice", "HELP", "IT")
		admin := func(ctx context.Context, p models.Project) (bool, error) { return true, nil }
		last := func(key string) models.LastChange {
			t.Helper()
			st, ok := f.online(t, "alice")[key]
			if !ok {
				t.Fatalf("no row of alice in %s", key)
			}
			return st.LastChange()
		}

		f.set(t, "alice", true, "HELP", "IT")
		if c := last("HELP"); c.Source != models.SourceManual || c.State != models.StateOnline || c.By != "" || c.Reason != "" ||
			!c.At.Equal(f.clock.Now()) {
			t.Fatalf("after going online: %+v", c)
		}

		f.clock.Advance(time.Minute)
		putAt := f.clock.Now()
		if _, err := f.store.PutOffline(ctx, f.tenant.ID, models.AdminOffline{Actor: "ada", AccountID: "alice", Project: help,
			AllProjects: true, Reason: "lunch rush over", Administers: admin}, putAt); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"HELP", "IT"} {
			if c := last(key); c.Source != models.SourceAdmin || c.State != models.StateOffline || c.By != "ada" ||
				c.Reason != "lunch rush over" || !c.At.Equal(putAt) {
				t.Fatalf("%s after the admin: %+v", key, c)
			}
		}

		f.clock.Advance(time.Minute)
		f.away(t, "alice", "meeting", "HELP")
		if c := last("HELP"); c.Source != models.SourceManual || c.State != models.StateAway || c.By != "" || c.Reason != "meeting" {
			t.Fatalf("after going away: %+v", c)
		}

		// The sweep puts her offline: no admin, no reason.
		if err := f.store.SetAutoOffline(ctx, f.tenant.ID, 5, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(6 * time.Minute)
		if _, err := f.store.SweepInactive(ctx, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if c := last("HELP"); c.Source != models.SourceInactivity || c.State != models.StateOffline || c.By != "" || c.Reason != "" {
			t.Fatalf("after the sweep: %+v", c)
		}
		// The columns themselves were rewritten, not only hidden.
		if st := f.online(t, "alice")["HELP"]; st.ChangedBy != "" || st.ChangeReason != "" {
			t.Fatalf("the sweep kept the admin's columns: %+v", st)
		}
	})
}

// TestAutoOfflineAt: the deadline the pages warn about is the sweep's own
// rule: the later of a row's since and the last activity, plus the limit,
// the earliest over the agent's online and away rows; none when the limit
// is off or the agent is offline everywhere. The sweep switches the agent
// just after it, not before.
func TestAutoOfflineAt(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 11, 25, 9, m, 0, 0, time.UTC) }
	ptr := func(v time.Time) *time.Time { return &v }
	row := func(state models.State, since int) models.Status {
		return models.Status{State: state, Since: at(since)}
	}
	tests := []struct {
		name     string
		statuses []models.Status
		activity *time.Time
		limit    time.Duration
		expect   *time.Time
	}{
		{"limit off", []models.Status{row(models.StateOnline, 0)}, nil, 0, nil},
		{"offline everywhere", []models.Status{row(models.StateOffline, 0)}, ptr(at(1)), 15 * time.Minute, nil},
		{"no activity: since plus the limit", []models.Status{row(models.StateOnline, 2)}, nil, 15 * time.Minute, ptr(at(17))},
		{"activity after since", []models.Status{row(models.StateOnline, 2)}, ptr(at(10)), 15 * time.Minute, ptr(at(25))},
		{"activity before since", []models.Status{row(models.StateOnline, 20)}, ptr(at(10)), 15 * time.Minute, ptr(at(35))},
		{"the earliest row, away counts", []models.Status{row(models.StateOnline, 30), row(models.StateAway, 5), row(models.StateOffline, 0)},
			nil, 15 * time.Minute, ptr(at(20))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := models.AutoOfflineAt(tt.statuses, tt.activity, tt.limit)
			switch {
			case tt.expect == nil && got != nil:
				t.Fatalf("got %v, want none", *got)
			case tt.expect != nil && (got == nil || !got.Equal(*tt.expect)):
				t.Fatalf("got %v, want %v", got, *tt.expect)
			}
		})
	}

	// Against the sweep itself, on both databases.
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		if err := f.store.SetAutoOffline(ctx, f.tenant.ID, 10, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.set(t, "alice", true, "HELP")
		f.clock.Advance(3 * time.Minute)
		var buf models.ActivityBuffer
		buf.Touch(f.tenant.ID, "alice", f.clock.Now())
		if _, err := f.store.FlushActivity(ctx, &buf, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		st, err := f.store.Statuses(ctx, f.tenant.ID, "alice")
		if err != nil {
			t.Fatal(err)
		}
		last, err := f.store.LastActivity(ctx, f.tenant.ID, "alice")
		if err != nil {
			t.Fatal(err)
		}
		deadline := models.AutoOfflineAt(st, last, 10*time.Minute)
		if deadline == nil || !deadline.Equal(f.clock.Now().Add(10*time.Minute)) {
			t.Fatalf("deadline %v, want 10 minutes after the activity", deadline)
		}
		if evs, err := f.store.SweepInactive(ctx, *deadline); err != nil || len(evs) != 0 {
			t.Fatalf("swept at the deadline itself: %v %v", evs, err)
		}
		if evs, err := f.store.SweepInactive(ctx, deadline.Add(time.Second)); err != nil || len(evs) != 1 {
			t.Fatalf("not swept just after the deadline: %v %v", evs, err)
		}
	})
}
