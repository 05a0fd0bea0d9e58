package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"agentpresence/models"
)

// How often each job runs. Schedules and expiry are exact to the second
// because they act on instants stored in the rows, not on when they run.
const (
	ScheduleInterval   = time.Second
	ExpiryInterval     = time.Second
	FlushInterval      = 5 * time.Second
	InactivityInterval = 15 * time.Second
	RetentionInterval  = time.Hour
)

// Config is what a Runner needs.
type Config struct {
	Store    *models.Store
	Activity *models.ActivityBuffer
	// Clock drives the scheduler and is the jobs' now; tests pass a fake.
	Clock clockwork.Clock
	// Retention is how long an uninstalled tenant's data is kept.
	Retention time.Duration
	// EventRetention is how long audit events are kept; zero means
	// DefaultEventRetention.
	EventRetention time.Duration
	Log            *slog.Logger
	// Observer hears every run and how late it started (observe.go);
	// nil: nobody.
	Observer RunObserver
}

// Runner runs the jobs on a gocron scheduler. On PostgreSQL, replicas
// share an advisory lock per job so that a tick runs on one of them at a
// time; the activity flush runs on every replica, each having its own
// buffer.
type Runner struct {
	sched gocron.Scheduler
	flush *ActivityFlush
	log   *slog.Logger

	mu      sync.Mutex
	failing map[string]failure

	observer RunObserver
	now      func() time.Time
}

// failure is a job's current series of failed runs: count runs in a row,
// the last failing with msg.
type failure struct {
	msg   string
	count int
}

// NewRunner builds the scheduler and registers the jobs; nothing runs
// until Start. A Runner that was built must be shut down.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Activity == nil {
		return nil, errors.New("new job runner: a store and an activity buffer are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	opts := []gocron.SchedulerOption{
		gocron.WithClock(cfg.Clock),
		gocron.WithLocation(time.UTC),
		gocron.WithLogger(cfg.Log.With("component", "gocron")),
	}
	if cfg.Store.Dialect() == models.DialectPostgres {
		db, err := cfg.Store.SQL()
		if err != nil {
			return nil, fmt.Errorf("new job runner: %w", err)
		}
		opts = append(opts, gocron.WithDistributedLocker(&Locker{DB: db}))
	}
	// SQLite is one process: no locker.
	if cfg.Observer != nil {
		opts = append(opts, gocron.WithSchedulerMonitor(&lagMonitor{observer: cfg.Observer, now: cfg.Clock.Now}))
	}
	sched, err := gocron.NewScheduler(opts...)
	if err != nil {
		return nil, fmt.Errorf("new job runner: %w", err)
	}
	now := cfg.Clock.Now
	eventRetention := cfg.EventRetention
	if eventRetention <= 0 {
		eventRetention = DefaultEventRetention
	}
	r := &Runner{
		sched:   sched,
		flush:   &ActivityFlush{Store: cfg.Store, Buffer: cfg.Activity, Now: now},
		log:     cfg.Log,
		failing: map[string]failure{},

		observer: cfg.Observer,
		now:      cfg.Clock.Now,
	}
	for _, j := range []struct {
		name     string
		every    time.Duration
		job      Job
		everyone bool // runs on every replica, without the shared lock
	}{
		{"schedules", ScheduleInterval, &Schedules{Store: cfg.Store, Now: now}, false},
		{"expiry", ExpiryInterval, &Expiry{Store: cfg.Store, Now: now}, false},
		{"activity-flush", FlushInterval, r.flush, true},
		{"inactivity", InactivityInterval, &Inactivity{Store: cfg.Store, Now: now}, false},
		{"retention", RetentionInterval, &Retention{Store: cfg.Store, Now: now, Keep: cfg.Retention}, false},
		{"event-retention", RetentionInterval, &EventRetention{Store: cfg.Store, Now: now, Keep: eventRetention}, false},
	} {
		if _, err := sched.NewJob(gocron.DurationJob(j.every), gocron.NewTask(r.task(j.name, j.every, j.job)),
			gocron.WithName(j.name),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
			gocron.WithDisabledDistributedJobLocker(j.everyone),
		); err != nil {
			_ = sched.Shutdown()
			return nil, fmt.Errorf("new job runner: register %s: %w", j.name, err)
		}
	}
	return r, nil
}

// minRunTimeout is the least time one run may take before its context is
// cancelled; a hung database must not hold a job for ever.
const minRunTimeout = time.Minute

// task wraps a job for gocron: each run gets a deadline, and its error (or
// panic) is logged here and nowhere else, once per run of identical
// failures, so that a database that is down does not flood the log.
func (r *Runner) task(name string, every time.Duration, j Job) func(ctx context.Context) {
	timeout := max(minRunTimeout, 10*every)
	return func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := r.now()
		defer func() {
			if p := recover(); p != nil {
				err := fmt.Errorf("panic: %v", p)
				r.report(name, err)
				r.observe(name, start, err)
			}
		}()
		err := j.Run(ctx)
		if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return // shutting down
		}
		r.report(name, err)
		r.observe(name, start, err)
	}
}

// report logs the first of a series of identical failures and the
// recovery after them.
func (r *Runner) report(name string, err error) {
	r.mu.Lock()
	prev, wasFailing := r.failing[name]
	switch {
	case err == nil && wasFailing:
		delete(r.failing, name)
	case err == nil:
	case wasFailing && prev.msg == err.Error():
		prev.count++
		r.failing[name] = prev
	default:
		r.failing[name] = failure{msg: err.Error(), count: prev.count + 1}
	}
	r.mu.Unlock()
	switch {
	case err == nil && wasFailing:
		r.log.Info("job recovered", "job", name, "failed_runs", prev.count)
	case err != nil && (!wasFailing || prev.msg != err.Error()):
		r.log.Error("job failed", "job", name, "err", err)
	}
}

// Start begins running the jobs.
func (r *Runner) Start() { r.sched.Start() }

// Shutdown stops the scheduler, waiting for the runs in progress (whose
// contexts are cancelled), then flushes the activity buffer one last time
// so that no heartbeat received by this replica is lost.
func (r *Runner) Shutdown(ctx context.Context) error {
	var errs []error
	if err := r.sched.ShutdownWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop jobs: %w", err))
	}
	if err := r.flush.Run(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
