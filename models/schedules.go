package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"agentpresence/models/schedule"
)

// SaveSchedule validates and stores an agent's weekly schedule (creating
// the agent if needed) and plans its first switch after now. Saving
// switches nothing now: the schedule acts from its next transition, like a
// manual change that wins until then. An invalid schedule is an ErrInvalid
// that wraps the *schedule.ValidationError naming the field.
func (s *Store) SaveSchedule(ctx context.Context, tenant TenantID, accountID string, sch schedule.Schedule, now time.Time) (Agent, error) {
	if accountID == "" {
		return Agent{}, fmt.Errorf("save schedule: %w: account is required", ErrInvalid)
	}
	if err := sch.Validate(); err != nil {
		return Agent{}, fmt.Errorf("save schedule: %w: %w", ErrInvalid, err)
	}
	// Empty lists, not null, so that what is stored reads back the same.
	if sch.Rules == nil {
		sch.Rules = []schedule.Rule{}
	}
	if sch.Exceptions == nil {
		sch.Exceptions = []schedule.Exception{}
	}
	now = now.UTC()
	next, nextOnline, err := nextSwitch(sch, nil, now)
	if err != nil {
		return Agent{}, fmt.Errorf("save schedule: %w", err)
	}
	var a Agent
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row := Agent{TenantID: tenant, AccountID: accountID, Schedule: &sch, NextSwitchAt: next, NextSwitchOnline: nextOnline,
			CreatedAt: now, UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "tenant_id"}, {Name: "account_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"schedule", "next_switch_at", "next_switch_online", "updated_at"}),
		}).Create(&row).Error; err != nil {
			return err
		}
		return tx.Where("tenant_id = ? AND account_id = ?", tenant, accountID).Take(&a).Error
	})
	if err != nil {
		return Agent{}, translate("save schedule", err)
	}
	a.NextSwitchAt = utcPtr(a.NextSwitchAt)
	// The agent's projects may now be "back at" another time.
	s.changed(ctx, tenant, nil)
	return a, nil
}

// ScheduleOf returns an agent's schedule and its next planned switch (nil:
// none). An agent without a schedule is ErrNotFound. It reads no clock:
// the plan was made when the schedule was saved or last applied.
func (s *Store) ScheduleOf(ctx context.Context, tenant TenantID, accountID string) (*schedule.Schedule, *time.Time, error) {
	var a Agent
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND account_id = ?", tenant, accountID).Take(&a).Error; err != nil {
		return nil, nil, translate("schedule", err)
	}
	if a.Schedule == nil {
		return nil, nil, fmt.Errorf("schedule: %w", ErrNotFound)
	}
	return a.Schedule, utcPtr(a.NextSwitchAt), nil
}

// nextSwitch is the first transition of sch after `after`, nil when the
// schedule is disabled or never changes. loc, when not nil, is the
// schedule's zone, already loaded.
func nextSwitch(sch schedule.Schedule, loc *time.Location, after time.Time) (*time.Time, bool, error) {
	var (
		at         time.Time
		online, ok bool
		err        error
	)
	if loc != nil {
		at, online, ok, err = sch.NextTransitionIn(loc, after)
	} else {
		at, online, ok, err = sch.NextTransition(after)
	}
	if err != nil || !ok {
		return nil, false, err
	}
	at = at.UTC()
	return &at, online, nil
}

// DefaultScheduleBatch is how many due agents ApplyDueSchedules takes when
// the caller gives no limit: a tick's worth at the busiest minute of a
// large installation (10,000 of 100,000 agents at 09:00).
const DefaultScheduleBatch = 10_000

// scheduleTxBatch is how many due agents one transaction of
// ApplyDueSchedules takes and switches. It bounds the plans in memory (a
// schedule with a year of exceptions is 15 KB of JSON) and how long rows
// stay locked against agents' own toggles.
const scheduleTxBatch = 1000

// dueAgent is an agent whose next scheduled switch has come.
type dueAgent struct {
	ID               int64
	TenantID         TenantID
	AccountID        string
	Schedule         *string // as stored, to detect a concurrent save
	NextSwitchAt     time.Time
	NextSwitchOnline bool
	Installed        bool
	Enabled          bool
}

// duePlan is what a tick does with one due agent, worked out in Go before
// any row is written.
type duePlan struct {
	agent dueAgent
	// at and online are the latest transition up to now: the one applied.
	at     time.Time
	online bool
	// next and nextOnline are the first transition after now (nil: none),
	// the agent's new plan.
	next       *time.Time
	nextOnline bool
	// err says why the schedule cannot be evaluated; the plan is dropped
	// and nothing switched.
	err error
}

// switches tells whether the plan switches the agent's status: a schedule
// that can be evaluated, of an installed and enabled tenant.
func (p duePlan) switches() bool { return p.err == nil && p.agent.Installed && p.agent.Enabled }

// ApplyDueSchedules carries out the scheduled switches that are due at now,
// at most limit agents (earliest first), across tenants. One query streams
// the due agents; each is planned in Go as it arrives: the state the
// schedule has at its latest transition up to now (a runner that fell
// behind applies only that), and its next transition. The plans are
// carried out by batches of 1,000 while the next batch is read and
// planned (on PostgreSQL two batches at once), each batch one transaction
// of a fixed number of statements, whatever its size:
//
//   - one conditional update moves every plan on (WHERE next_switch_at =
//     the planned instant AND the schedule is the one planned), so that of
//     replicas racing on the same tick only the runner whose update took a
//     row switches that agent, and a schedule saved meanwhile is left to
//     the next tick; on PostgreSQL rows another transaction holds are
//     skipped, not waited for;
//   - the transition primitive (switchProjects) switches the taken agents:
//     going online in every project of their stored memberships, going
//     offline in every project where they are online, leaving alone a row
//     changed after the transition's instant; rows and events carry that
//     instant, and the events are inserted in bulk.
//
// Tenants that are uninstalled or disabled have their plans moved on
// without switching; a schedule that cannot be evaluated loses its plan.
// The listeners hear one change per tenant once every batch is committed.
//
// applied counts the switches taken, effective or not. A batch that fails
// stops the call; what it held stays due for the next tick. Plans dropped
// are reported in the returned error, with the failure if any.
func (s *Store) ApplyDueSchedules(ctx context.Context, now time.Time, limit int) (applied int, events []Event, err error) {
	if limit <= 0 {
		limit = DefaultScheduleBatch
	}
	now = now.UTC()
	// A failed batch stops the reading; batches under way finish.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var (
		batches = make(chan dueBatch, 1)
		readErr error
		reader  sync.WaitGroup
	)
	reader.Go(func() {
		defer close(batches)
		readErr = s.planDue(readCtx, now, limit, batches)
	})
	appliers := 1
	if s.dialect == DialectPostgres {
		// Batches hold disjoint agents, hence disjoint rows: two
		// transactions at once keep two server processes busy.
		appliers = scheduleAppliers
	}
	var (
		mu      sync.Mutex
		results []dueResult
		failed  atomic.Bool
		workers sync.WaitGroup
	)
	for range appliers {
		workers.Go(func() {
			for b := range batches {
				if failed.Load() {
					continue // left due for the next tick
				}
				r := dueResult{seq: b.seq}
				r.taken, r.events, r.err = s.applyDue(ctx, b.plans, now)
				if r.err != nil {
					failed.Store(true)
					stopReading()
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	workers.Wait()
	reader.Wait()
	// Events in the order the agents were read.
	slices.SortFunc(results, func(a, b dueResult) int { return a.seq - b.seq })
	var dropped, failures []error
	for _, r := range results {
		if r.err != nil {
			failures = append(failures, translate("apply schedules", r.err))
			continue
		}
		applied += len(r.taken)
		events = append(events, r.events...)
		for _, p := range r.taken {
			if p.err != nil {
				dropped = append(dropped, fmt.Errorf("apply schedule of agent %d: plan dropped: %w", p.agent.ID, p.err))
			}
		}
	}
	if len(failures) == 0 && readErr != nil {
		failures = append(failures, translate("apply schedules", readErr))
	}
	s.changedBy(ctx, events)
	s.plansMoved(ctx, results, events)
	if len(dropped) > maxReportedFailures {
		n := len(dropped)
		dropped = append(dropped[:maxReportedFailures], fmt.Errorf("apply schedules: %d more plans dropped", n-maxReportedFailures))
	}
	return applied, events, errors.Join(append(dropped, failures...)...)
}

// scheduleAppliers is how many batches of a tick PostgreSQL writes at
// once.
const scheduleAppliers = 2

// dueBatch is a batch of plans and its place in the tick.
type dueBatch struct {
	seq   int
	plans []duePlan
}

// dueResult is what applying a dueBatch did.
type dueResult struct {
	seq    int
	taken  []duePlan
	events []Event
	err    error
}

// planDue reads the agents due at now, at most limit, plans them and
// sends the plans on by batches of scheduleTxBatch.
func (s *Store) planDue(ctx context.Context, now time.Time, limit int, out chan<- dueBatch) error {
	// Loading a zone costs microseconds; a tick evaluates many schedules of
	// few zones.
	zones := map[string]*time.Location{}
	batch := dueBatch{plans: make([]duePlan, 0, min(limit, scheduleTxBatch))}
	send := func() error {
		select {
		case out <- batch:
			batch = dueBatch{seq: batch.seq + 1, plans: make([]duePlan, 0, min(limit, scheduleTxBatch))}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := scanRows(s.db.WithContext(ctx), `SELECT a.id, a.tenant_id, a.account_id, a.schedule, a.next_switch_at,
  a.next_switch_online, t.installed, t.enabled
FROM agents a JOIN tenants t ON t.id = a.tenant_id
WHERE a.next_switch_at <= ? ORDER BY a.next_switch_at LIMIT ?`, []any{now, limit}, func(rows *sql.Rows) error {
		var a dueAgent
		if err := rows.Scan(&a.ID, &a.TenantID, &a.AccountID, &a.Schedule, &a.NextSwitchAt, &a.NextSwitchOnline, &a.Installed, &a.Enabled); err != nil {
			return err
		}
		if batch.plans = append(batch.plans, planAgent(a, zones, now)); len(batch.plans) == scheduleTxBatch {
			return send()
		}
		return nil
	})
	if err != nil || len(batch.plans) == 0 {
		return err
	}
	return send()
}

// maxReportedFailures bounds the failures one tick reports in detail, so
// that its error stays one readable log line.
const maxReportedFailures = 3

// planAgent walks an agent's schedule from its due transition to the
// latest one up to now, and finds the first one after now.
func planAgent(a dueAgent, zones map[string]*time.Location, now time.Time) duePlan {
	p := duePlan{agent: a, at: a.NextSwitchAt.UTC(), online: a.NextSwitchOnline}
	if a.Schedule == nil {
		p.err = errors.New("no schedule stored")
		return p
	}
	var sch schedule.Schedule
	if err := json.Unmarshal([]byte(*a.Schedule), &sch); err != nil {
		p.err = fmt.Errorf("read schedule: %w", err)
		return p
	}
	if !sch.Enabled {
		p.err = errors.New("schedule disabled")
		return p
	}
	loc, ok := zones[sch.Timezone]
	if !ok {
		var err error
		if loc, err = schedule.LoadLocation(sch.Timezone); err != nil {
			p.err = err
			return p
		}
		zones[sch.Timezone] = loc
	}
	for {
		next, nextOnline, err := nextSwitch(sch, loc, p.at)
		if err != nil {
			p.err = err
			return p
		}
		if next == nil || next.After(now) {
			p.next, p.nextOnline = next, nextOnline
			return p
		}
		p.at, p.online = *next, nextOnline
	}
}

// applyDue carries out one batch of plans in one transaction and returns
// the plans this runner took (see ApplyDueSchedules) and the events
// written.
func (s *Store) applyDue(ctx context.Context, plans []duePlan, now time.Time) ([]duePlan, []Event, error) {
	var (
		taken  []duePlan
		events []Event
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			// Plan each statement for the batch it gets: a plan cached for
			// the ten rows PostgreSQL assumes an array parameter holds can
			// take seconds over a thousand.
			if err := tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error; err != nil {
				return err
			}
		}
		ids, err := s.takeDue(tx, plans, now)
		if err != nil {
			return err
		}
		var online []int64
		for _, p := range plans {
			if !ids[p.agent.ID] {
				continue
			}
			taken = append(taken, p)
			if p.switches() && p.online {
				online = append(online, p.agent.ID)
			}
		}
		projects, err := s.dueMemberships(tx, online)
		if err != nil {
			return err
		}
		ts := make([]transition, 0, len(taken))
		for _, p := range taken {
			if !p.switches() {
				continue
			}
			ts = append(ts, transition{
				tenant: p.agent.TenantID,
				change: StatusChange{AccountID: p.agent.AccountID, ProjectIDs: projects[p.agent.ID], To: StateFor(p.online), Source: SourceSchedule},
				when:   switchAt{at: p.at, everywhere: !p.online, notChangedAfter: true},
			})
		}
		events, _, err = switchProjects(tx, ts)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return taken, events, nil
}

// takeDue moves the plans on with one conditional update and returns the
// agents whose row it took: those still planned as read (next_switch_at
// and schedule unchanged) and, on PostgreSQL, not locked by another
// transaction. Skipping locked rows rather than waiting for them, the
// tick never waits on, nor deadlocks with, another runner, an activity
// flush or an agent's toggle; the rows it skips stay due.
func (s *Store) takeDue(tx *gorm.DB, plans []duePlan, now time.Time) (map[int64]bool, error) {
	set := rowSet{name: "p", columns: []rowColumn{
		{"agent_id", "bigint"}, {"due_at", "timestamptz"}, {"schedule", "text"}, {"next_at", "timestamptz"}, {"next_online", "boolean"},
	}}
	for _, p := range plans {
		set.add(p.agent.ID, p.agent.NextSwitchAt.UTC(), p.agent.Schedule, p.next, p.nextOnline)
	}
	const unchanged = "agents.id = p.agent_id AND agents.next_switch_at = p.due_at AND agents.schedule IS NOT DISTINCT FROM p.schedule"
	taken := make(map[int64]bool, len(plans))
	for _, piece := range set.pieces(s.dialect) {
		with, args := piece.cte(s.dialect)
		q := "WITH " + with + " UPDATE agents SET next_switch_at = p.next_at, next_switch_online = p.next_online, updated_at = ? FROM p WHERE " + unchanged
		if s.dialect == DialectPostgres {
			q = "WITH " + with + `, taken AS (SELECT agents.id AS taken_id FROM agents JOIN p ON ` + unchanged + `
  ORDER BY agents.id FOR UPDATE OF agents SKIP LOCKED)
UPDATE agents SET next_switch_at = p.next_at, next_switch_online = p.next_online, updated_at = ?
FROM p JOIN taken ON taken.taken_id = p.agent_id WHERE ` + unchanged
		}
		if err := scanRows(tx, q+" RETURNING id", append(args, now), func(rows *sql.Rows) error {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			taken[id] = true
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return taken, nil
}

// dueMemberships reads the projects of the agents in one query, keyed by
// agent id.
func (s *Store) dueMemberships(tx *gorm.DB, agents []int64) (map[int64][]int64, error) {
	out := make(map[int64][]int64, len(agents))
	if len(agents) == 0 {
		return out, nil
	}
	set := rowSet{name: "d", columns: []rowColumn{{"agent_id", "bigint"}}}
	for _, id := range agents {
		set.add(id)
	}
	for _, piece := range set.pieces(s.dialect) {
		with, args := piece.cte(s.dialect)
		if err := scanRows(tx, "WITH "+with+` SELECT d.agent_id, m.project_id FROM d
JOIN agents a ON a.id = d.agent_id
JOIN memberships m ON m.tenant_id = a.tenant_id AND m.account_id = a.account_id
ORDER BY m.project_id`, args, func(rows *sql.Rows) error {
			var agent, project int64
			if err := rows.Scan(&agent, &project); err != nil {
				return err
			}
			out[agent] = append(out[agent], project)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
