package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"agentpresence/jobs"
	"agentpresence/models"
	"agentpresence/models/dbtest"
	"agentpresence/models/schedule"
)

// TestMain fails the package when a test leaves a goroutine behind: the
// scheduler must stop cleanly.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type env struct {
	store   *models.Store
	clock   *clockwork.FakeClock
	tenant  models.Tenant
	project models.Project
}

func newEnv(t *testing.T, dialect models.Dialect) *env {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)) // a Wednesday
	store := dbtest.Open(t, dialect, clock.Now)
	ctx := context.Background()
	tenant, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := store.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "10000", Key: "HELP"}})
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: store, clock: clock, tenant: tenant, project: ps[0]}
}

func (e *env) onlineUntil(t *testing.T, account string, until time.Time) {
	t.Helper()
	if _, err := e.store.SetStatus(context.Background(), e.tenant.ID, models.StatusChange{AccountID: account,
		ProjectIDs: []int64{e.project.ID}, Online: true, Until: &until, Source: models.SourceManual}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) onlineCount(t *testing.T) int {
	t.Helper()
	n, err := e.store.OnlineCount(context.Background(), e.tenant.ID, e.project.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSchedulesRunsBatchesUntilNothingIsDue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		sch := schedule.Schedule{Timezone: "UTC", Enabled: true, Rules: []schedule.Rule{
			{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "10:00", End: "18:00"}}}
		for i := range 5 {
			acct := fmt.Sprintf("agent-%d", i)
			if err := e.store.SetMemberships(ctx, e.tenant.ID, acct, []int64{e.project.ID}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.SaveSchedule(ctx, e.tenant.ID, acct, sch, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Advance(time.Hour)
		job := &jobs.Schedules{Store: e.store, Now: e.clock.Now, Batch: 2}
		if err := job.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.onlineCount(t); n != 5 {
			t.Fatalf("%d agents online after one run, want 5", n)
		}
	})
}

func TestExpiryInactivityRetentionFlushJobs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		e := newEnv(t, dialect)
		ctx := context.Background()

		e.onlineUntil(t, "ann", e.clock.Now().Add(time.Minute))
		e.clock.Advance(time.Minute)
		if err := (&jobs.Expiry{Store: e.store, Now: e.clock.Now}).Run(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.onlineCount(t); n != 0 {
			t.Fatalf("expiry: %d online", n)
		}

		buf := &models.ActivityBuffer{}
		buf.Touch(e.tenant.ID, "ann", e.clock.Now())
		if err := (&jobs.ActivityFlush{Store: e.store, Buffer: buf}).Run(ctx); err != nil {
			t.Fatal(err)
		}
		if last, err := e.store.LastActivity(ctx, e.tenant.ID, "ann"); err != nil || last == nil || !last.Equal(e.clock.Now()) {
			t.Fatalf("flush: last activity %v err %v", last, err)
		}

		if err := e.store.SetAutoOffline(ctx, e.tenant.ID, 5); err != nil {
			t.Fatal(err)
		}
		e.onlineUntil(t, "bo", e.clock.Now().Add(24*time.Hour))
		e.clock.Advance(6 * time.Minute)
		if err := (&jobs.Inactivity{Store: e.store, Now: e.clock.Now}).Run(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.onlineCount(t); n != 0 {
			t.Fatalf("inactivity: %d online", n)
		}

		if err := e.store.MarkUninstalled(ctx, e.tenant.ID); err != nil {
			t.Fatal(err)
		}
		retention := &jobs.Retention{Store: e.store, Now: e.clock.Now, Keep: 30 * 24 * time.Hour}
		e.clock.Advance(29 * 24 * time.Hour)
		if err := retention.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Tenant(ctx, e.tenant.ID); err != nil {
			t.Fatalf("purged inside retention: %v", err)
		}
		e.clock.Advance(2 * 24 * time.Hour)
		if err := retention.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Tenant(ctx, e.tenant.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("not purged after retention: %v", err)
		}
	})
}

// waitFor polls cond until it holds or a generous deadline passes; the
// jobs run on gocron's goroutines, so the test cannot step them itself.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunnerOnFakeClock: advancing the clock by a second runs the expiry
// job; Shutdown stops every goroutine (goleak checks) and flushes the
// activity buffer.
func TestRunnerOnFakeClock(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		buf := &models.ActivityBuffer{}
		r, err := jobs.NewRunner(jobs.Config{Store: e.store, Activity: buf, Clock: e.clock, Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		r.Start()
		stopped := false
		t.Cleanup(func() {
			if !stopped {
				_ = r.Shutdown(context.Background())
			}
		})
		e.onlineUntil(t, "cy", e.clock.Now().Add(time.Second))

		// Five jobs wait on the clock.
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := e.clock.BlockUntilContext(bctx, 5); err != nil {
			t.Fatalf("jobs not scheduled: %v", err)
		}
		if n := e.onlineCount(t); n != 1 {
			t.Fatalf("expired before the clock moved: %d online", n)
		}
		e.clock.Advance(time.Second)
		waitFor(t, "the expiry job", func() bool { return e.onlineCount(t) == 0 })

		buf.Touch(e.tenant.ID, "cy", e.clock.Now())
		stopped = true
		if err := r.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if buf.Pending() != 0 {
			t.Fatal("Shutdown left activity unflushed")
		}
		if last, err := e.store.LastActivity(ctx, e.tenant.ID, "cy"); err != nil || last == nil || !last.Equal(e.clock.Now()) {
			t.Fatalf("last activity after shutdown %v err %v", last, err)
		}
	})
}

// TestLockerExcludesOtherSessions: on PostgreSQL a job's lock is held by
// one session at a time, other jobs' locks are independent, and releasing
// works even when the job's context is cancelled.
func TestLockerExcludesOtherSessions(t *testing.T) {
	if len(dbtest.Dialects(t)) < 2 {
		t.Skip("no PostgreSQL (TEST_DATABASE_URL): advisory locks are PostgreSQL's")
	}
	url := dbtest.URL(t, models.DialectPostgres)
	open := func() *jobs.Locker {
		db, err := dbtest.OpenURL(t, url, time.Now).SQL()
		if err != nil {
			t.Fatal(err)
		}
		return &jobs.Locker{DB: db}
	}
	a, b := open(), open()
	ctx := context.Background()
	la, err := a.Lock(ctx, "expiry")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "expiry"); !errors.Is(err, jobs.ErrLocked) {
		t.Fatalf("second replica took a held lock: %v", err)
	}
	if _, err := a.Lock(ctx, "expiry"); !errors.Is(err, jobs.ErrLocked) {
		t.Fatalf("a second session of the same replica took a held lock: %v", err)
	}
	lb, err := b.Lock(ctx, "schedules")
	if err != nil {
		t.Fatalf("another job's lock: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := la.Unlock(cancelled); err != nil {
		t.Fatalf("unlock on a cancelled context: %v", err)
	}
	lb2, err := b.Lock(ctx, "expiry")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	for _, l := range []interface{ Unlock(context.Context) error }{lb, lb2} {
		if err := l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if jobs.LockID("expiry") == jobs.LockID("schedules") {
		t.Fatal("two jobs share a lock id")
	}
}
