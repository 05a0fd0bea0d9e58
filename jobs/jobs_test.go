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
	url     string
	store   *models.Store
	clock   *clockwork.FakeClock
	tenant  models.Tenant
	project models.Project
}

func newEnv(t *testing.T, dialect models.Dialect) *env {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)) // a Wednesday
	url := dbtest.URL(t, dialect)
	store := dbtest.OpenURL(t, url, clock.Now)
	ctx := context.Background()
	tenant, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := store.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "10000", Key: "HELP"}}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &env{url: url, store: store, clock: clock, tenant: tenant, project: ps[0]}
}

func (e *env) onlineUntil(t *testing.T, account string, until time.Time) {
	t.Helper()
	if _, err := e.store.SetStatus(context.Background(), e.tenant.ID, models.StatusChange{AccountID: account,
		ProjectIDs: []int64{e.project.ID}, To: models.StateOnline, Until: &until, Source: models.SourceManual}, e.clock.Now()); err != nil {
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
			if err := e.store.SetMemberships(ctx, e.tenant.ID, acct, []int64{e.project.ID}, e.clock.Now()); err != nil {
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
		if err := (&jobs.ActivityFlush{Store: e.store, Buffer: buf, Now: e.clock.Now}).Run(ctx); err != nil {
			t.Fatal(err)
		}
		if last, err := e.store.LastActivity(ctx, e.tenant.ID, "ann"); err != nil || last == nil || !last.Equal(e.clock.Now()) {
			t.Fatalf("flush: last activity %v err %v", last, err)
		}

		if err := e.store.SetAutoOffline(ctx, e.tenant.ID, 5, e.clock.Now()); err != nil {
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

		if err := e.store.MarkUninstalled(ctx, e.tenant.ID, e.clock.Now()); err != nil {
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

		// Six jobs wait on the clock.
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := e.clock.BlockUntilContext(bctx, 6); err != nil {
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

// TestRetentionForgetsExpiredUsedTokens: the retention job keeps a used
// lifecycle token's digest while the token could still be accepted, and
// deletes it after.
func TestRetentionForgetsExpiredUsedTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		e.clock.Advance(time.Second)
		tok := &models.LifecycleToken{Digest: fmt.Sprintf("%064x", 42), IssuedAt: e.clock.Now(), KeepUntil: e.clock.Now().Add(3*time.Minute + 30*time.Second)}
		if _, err := e.store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s2"), BaseURL: "https://acme.atlassian.net", Token: tok}, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		db, err := e.store.SQL()
		if err != nil {
			t.Fatal(err)
		}
		used := func() int {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM used_tokens").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		retention := &jobs.Retention{Store: e.store, Now: e.clock.Now, Keep: 30 * 24 * time.Hour}
		e.clock.Advance(3 * time.Minute)
		if err := retention.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if n := used(); n != 1 {
			t.Fatalf("%d used tokens kept while the token lives, want 1", n)
		}
		e.clock.Advance(time.Minute)
		if err := retention.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if n := used(); n != 0 {
			t.Fatalf("%d used tokens kept after expiry, want 0", n)
		}
	})
}

// eventCount counts a tenant's audit events.
func (e *env) eventCount(t *testing.T) int {
	t.Helper()
	evs, err := e.store.Events(context.Background(), e.tenant.ID, models.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestRunnerDeletesEventsPastRetention: the runner's event retention job
// (default: a year) deletes the audit events older than that, in batches,
// and keeps the younger ones, for installed tenants too.
func TestRunnerDeletesEventsPastRetention(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		for range 3 { // six old events
			e.onlineUntil(t, "old", e.clock.Now().Add(time.Hour))
			if _, err := e.store.SetStatus(ctx, e.tenant.ID, models.StatusChange{AccountID: "old", ProjectIDs: []int64{e.project.ID}, Source: models.SourceManual}, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Advance(200 * 24 * time.Hour)
		e.onlineUntil(t, "young", e.clock.Now().Add(365*24*time.Hour)) // no expiry during the test
		e.clock.Advance(166 * 24 * time.Hour)                          // the first six are a year and a day old now
		if n := e.eventCount(t); n != 7 {
			t.Fatalf("%d events before the job, want 7", n)
		}
		r, err := jobs.NewRunner(jobs.Config{Store: e.store, Activity: &models.ActivityBuffer{}, Clock: e.clock, Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		r.Start()
		t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := e.clock.BlockUntilContext(bctx, 6); err != nil {
			t.Fatalf("jobs not scheduled: %v", err)
		}
		e.clock.Advance(jobs.RetentionInterval)
		waitFor(t, "the event retention job", func() bool { return e.eventCount(t) == 1 })
	})
}

// TestEventRetentionWorksInBatches: one run deletes every event past
// retention however many there are, a batch (one short transaction) at a
// time, and none younger; two replicas running it at once do no harm.
func TestEventRetentionWorksInBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		for i := range 25 {
			e.onlineUntil(t, fmt.Sprintf("a%d", i), e.clock.Now().Add(time.Hour))
		}
		e.clock.Advance(48 * time.Hour)
		e.onlineUntil(t, "young", e.clock.Now().Add(time.Hour))
		if n, err := e.store.PurgeEvents(ctx, e.clock.Now().Add(-24*time.Hour), 10); err != nil || n != 10 {
			t.Fatalf("one batch: %d %v, want 10", n, err)
		}
		other := dbtest.OpenURL(t, e.url, e.clock.Now)
		errs := make(chan error, 2)
		for _, s := range []*models.Store{e.store, other} {
			job := &jobs.EventRetention{Store: s, Now: e.clock.Now, Keep: 24 * time.Hour, Batch: 4}
			go func() { errs <- job.Run(ctx) }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n := e.eventCount(t); n != 1 {
			t.Fatalf("%d events left, want the young one", n)
		}
	})
}
