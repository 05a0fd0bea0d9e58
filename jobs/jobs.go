package jobs

import (
	"context"
	"fmt"
	"time"

	"agentpresence/models"
)

// Job is one piece of background work. Run does one pass and returns; a
// pass may be repeated or run on several replicas at once without harm.
type Job interface {
	Run(ctx context.Context) error
}

// ScheduleStore carries out due scheduled switches.
type ScheduleStore interface {
	ApplyDueSchedules(ctx context.Context, now time.Time, limit int) (int, []models.Event, error)
}

// ExpiryStore ends online and away periods that are over.
type ExpiryStore interface {
	ExpireOnline(ctx context.Context, now time.Time) ([]models.Event, error)
}

// InactivityStore puts silent agents offline.
type InactivityStore interface {
	SweepInactive(ctx context.Context, now time.Time) ([]models.Event, error)
}

// ActivityStore writes buffered activity.
type ActivityStore interface {
	FlushActivity(ctx context.Context, b *models.ActivityBuffer, now time.Time) (int, error)
}

// RetentionStore deletes what uninstalled tenants left, and the used
// lifecycle tokens that expired.
type RetentionStore interface {
	PurgeUninstalled(ctx context.Context, before time.Time) (int, error)
	PurgeUsedTokens(ctx context.Context, now time.Time) (int, error)
}

// EventStore deletes audit events past their retention.
type EventStore interface {
	PurgeEvents(ctx context.Context, before time.Time, batch int) (int, error)
}

// maxScheduleBatches bounds one Schedules pass, so that a backlog (a
// runner back after a pause, thousands due at 09:00) is worked off in a few
// seconds without one pass running for ever.
const maxScheduleBatches = 10

// Schedules switches agents whose weekly schedule reached a transition.
type Schedules struct {
	Store ScheduleStore
	Now   func() time.Time
	// Batch is how many due agents one store call takes; 0 means
	// models.DefaultScheduleBatch.
	Batch int
}

// Run applies the due switches, batch after batch while batches come back
// full.
func (j *Schedules) Run(ctx context.Context) error {
	batch := j.Batch
	if batch <= 0 {
		batch = models.DefaultScheduleBatch
	}
	for range maxScheduleBatches {
		applied, _, err := j.Store.ApplyDueSchedules(ctx, j.Now(), batch)
		if err != nil {
			return fmt.Errorf("apply schedules: %w", err)
		}
		// Fewer than a batch: nothing more is due, or other replicas have
		// the rest.
		if applied < batch {
			return nil
		}
	}
	return nil
}

// Expiry ends "online for …" and "away for …" periods at their end.
type Expiry struct {
	Store ExpiryStore
	Now   func() time.Time
}

// Run expires the periods that are over.
func (j *Expiry) Run(ctx context.Context) error {
	if _, err := j.Store.ExpireOnline(ctx, j.Now()); err != nil {
		return fmt.Errorf("expire online: %w", err)
	}
	return nil
}

// Inactivity puts agents offline after their tenant's auto-offline limit.
type Inactivity struct {
	Store InactivityStore
	Now   func() time.Time
}

// Run sweeps the silent agents.
func (j *Inactivity) Run(ctx context.Context) error {
	if _, err := j.Store.SweepInactive(ctx, j.Now()); err != nil {
		return fmt.Errorf("sweep inactive: %w", err)
	}
	return nil
}

// ActivityFlush writes the replica's buffered heartbeats. Each replica has
// its own buffer, so this job runs on every replica, never under the
// shared lock.
type ActivityFlush struct {
	Store  ActivityStore
	Buffer *models.ActivityBuffer
	Now    func() time.Time
}

// Run flushes the buffer; what fails to be written stays for the next run.
func (j *ActivityFlush) Run(ctx context.Context) error {
	if _, err := j.Store.FlushActivity(ctx, j.Buffer, j.Now()); err != nil {
		return fmt.Errorf("flush activity: %w", err)
	}
	return nil
}

// Retention purges tenants uninstalled longer ago than Keep, and forgets
// the used lifecycle tokens that expired (the verifier refuses them by
// their exp from then on).
type Retention struct {
	Store RetentionStore
	Now   func() time.Time
	Keep  time.Duration
}

// Run purges the tenants past retention and the expired used tokens.
func (j *Retention) Run(ctx context.Context) error {
	now := j.Now()
	if _, err := j.Store.PurgeUninstalled(ctx, now.Add(-j.Keep)); err != nil {
		return fmt.Errorf("purge uninstalled: %w", err)
	}
	if _, err := j.Store.PurgeUsedTokens(ctx, now); err != nil {
		return fmt.Errorf("purge used tokens: %w", err)
	}
	return nil
}

// DefaultEventRetention is how long audit events are kept when
// Config.EventRetention is zero: a year, as the README says.
const DefaultEventRetention = 365 * 24 * time.Hour

// DefaultEventBatch is how many events one delete removes: a short
// transaction, so that writers of new events never wait long.
const DefaultEventBatch = 5000

// maxEventBatches bounds one EventRetention run (5 million events with the
// default batch); a larger backlog is worked off over the next runs.
const maxEventBatches = 1000

// EventRetention deletes audit events (status changes) older than Keep,
// for every tenant, installed or not, batch after batch. Deleting is
// idempotent, so replicas may run it at once; the runner's lock makes one
// of them do it.
type EventRetention struct {
	Store EventStore
	Now   func() time.Time
	Keep  time.Duration
	// Batch is how many events one delete removes; 0 means
	// DefaultEventBatch.
	Batch int
}

// Run deletes the events past retention.
func (j *EventRetention) Run(ctx context.Context) error {
	batch := j.Batch
	if batch <= 0 {
		batch = DefaultEventBatch
	}
	before := j.Now().Add(-j.Keep)
	for range maxEventBatches {
		n, err := j.Store.PurgeEvents(ctx, before, batch)
		if err != nil {
			return fmt.Errorf("purge events: %w", err)
		}
		if n < batch {
			return nil
		}
	}
	return nil
}
