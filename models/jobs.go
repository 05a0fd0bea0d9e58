package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SaveSchedule validates and stores an agent's weekly schedule (creating
// the agent if needed) and plans its next switch. Saving switches nothing
// now: the schedule acts from its next transition, like a manual change
// that wins until then. An invalid schedule is an ErrInvalid that wraps
// the *ValidationError naming the field.
func (s *Store) SaveSchedule(ctx context.Context, tenant TenantID, accountID string, sch Schedule) (Agent, error) {
	if accountID == "" {
		return Agent{}, fmt.Errorf("save schedule: %w: account is required", ErrInvalid)
	}
	if err := sch.Validate(); err != nil {
		return Agent{}, fmt.Errorf("save schedule: %w: %w", ErrInvalid, err)
	}
	// Empty lists, not null, so that what is stored reads back the same.
	if sch.Rules == nil {
		sch.Rules = []ScheduleRule{}
	}
	if sch.Exceptions == nil {
		sch.Exceptions = []ScheduleException{}
	}
	now := s.Now()
	next, nextOnline, err := nextSwitch(sch, nil, now)
	if err != nil {
		return Agent{}, fmt.Errorf("save schedule: %w", err)
	}
	var a Agent
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row := Agent{TenantID: tenant, AccountID: accountID, Schedule: &sch, NextSwitchAt: next, NextSwitchOnline: nextOnline}
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
	return a, nil
}

// ScheduleOf returns an agent's schedule and its next planned switch (nil:
// none). An agent without a schedule is ErrNotFound.
func (s *Store) ScheduleOf(ctx context.Context, tenant TenantID, accountID string) (*Schedule, *time.Time, error) {
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
func nextSwitch(sch Schedule, loc *time.Location, after time.Time) (*time.Time, bool, error) {
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
// the caller gives no limit.
const DefaultScheduleBatch = 1000

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

// errScheduleMoved rolls back one agent's switch: another runner took it,
// or the schedule was saved again meanwhile; the next tick sees the truth.
var errScheduleMoved = errors.New("schedule switch taken or replanned")

// ApplyDueSchedules carries out the scheduled switches that are due at now,
// at most limit agents (earliest first), across tenants. Each agent is one
// transaction that first moves its planned switch on with a conditional
// update (WHERE next_switch_at = the planned instant): only the runner
// whose update took the row switches the agent, so replicas racing on the
// same tick apply every transition once. The state applied is the one the
// schedule has at its latest transition up to now (a runner that fell
// behind applies only that), in every project of the agent's stored
// memberships when going online and in every project where it is online
// when going offline; a status changed after that transition is left
// alone. Rows and events carry the transition's instant. Tenants that are
// uninstalled or disabled have their plans moved on without switching.
//
// applied counts the switches taken, effective or not. A failure of one
// agent does not stop the others; the failures are returned joined.
func (s *Store) ApplyDueSchedules(ctx context.Context, now time.Time, limit int) (applied int, events []Event, err error) {
	if limit <= 0 {
		limit = DefaultScheduleBatch
	}
	now = now.UTC()
	var due []dueAgent
	if err := s.db.WithContext(ctx).Raw(`SELECT a.id, a.tenant_id, a.account_id, a.schedule, a.next_switch_at,
  a.next_switch_online, t.installed, t.enabled
FROM agents a JOIN tenants t ON t.id = a.tenant_id
WHERE a.next_switch_at <= ? ORDER BY a.next_switch_at LIMIT ?`, now, limit).Scan(&due).Error; err != nil {
		return 0, nil, translate("apply schedules", err)
	}
	if len(due) == 0 {
		return 0, nil, nil
	}
	members, err := s.dueMemberships(ctx, due)
	if err != nil {
		return 0, nil, err
	}
	// Loading a zone costs microseconds; a tick evaluates many schedules
	// of few zones.
	zones := map[string]*time.Location{}
	var (
		errs   []error
		failed int
	)
	for _, a := range due {
		if ctx.Err() != nil {
			errs = append(errs, translate("apply schedules", ctx.Err()))
			break
		}
		evs, took, err := s.applyDue(ctx, a, members[a.ID], zones, now)
		if took {
			applied++
		}
		events = append(events, evs...)
		if err == nil {
			continue
		}
		if failed++; failed <= maxReportedFailures {
			errs = append(errs, err)
		}
		if errors.Is(err, ErrUnavailable) {
			break // the database is gone: the next tick tries again
		}
	}
	if failed > maxReportedFailures {
		errs = append(errs, fmt.Errorf("apply schedules: %d more agents failed", failed-maxReportedFailures))
	}
	s.changedBy(ctx, events)
	return applied, events, errors.Join(errs...)
}

// maxReportedFailures bounds the failures one tick reports in detail, so
// that its error stays one readable log line.
const maxReportedFailures = 3

// dueMemberships reads the projects of the due agents of active tenants in
// one query, keyed by agent id.
func (s *Store) dueMemberships(ctx context.Context, due []dueAgent) (map[int64][]int64, error) {
	ids := make([]int64, 0, len(due))
	for _, a := range due {
		if a.Installed && a.Enabled {
			ids = append(ids, a.ID)
		}
	}
	out := make(map[int64][]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		AgentID   int64
		ProjectID int64
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT a.id AS agent_id, m.project_id FROM memberships m
JOIN agents a ON a.tenant_id = m.tenant_id AND a.account_id = m.account_id
WHERE a.id IN ? ORDER BY m.project_id`, ids).Scan(&rows).Error; err != nil {
		return nil, translate("apply schedules", err)
	}
	for _, r := range rows {
		out[r.AgentID] = append(out[r.AgentID], r.ProjectID)
	}
	return out, nil
}

// applyDue takes one due agent's switch in its own transaction. took tells
// whether this runner moved the plan on.
func (s *Store) applyDue(ctx context.Context, a dueAgent, projects []int64, zones map[string]*time.Location, now time.Time) (events []Event, took bool, err error) {
	op := fmt.Sprintf("apply schedule of agent %d", a.ID)
	at, online := a.NextSwitchAt.UTC(), a.NextSwitchOnline
	next, nextOnline, planErr := s.plan(a, zones, &at, &online, now)
	// A schedule that cannot be evaluated any more (bad data, a zone gone
	// from the zone database) loses its plan and switches nothing, rather
	// than failing on every tick; the error is reported once.
	switchNow := planErr == nil && a.Installed && a.Enabled
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var stored []*string
		if err := tx.Raw(`UPDATE agents SET next_switch_at = ?, next_switch_online = ?, updated_at = ?
WHERE id = ? AND next_switch_at = ? RETURNING schedule`, next, nextOnline, now, a.ID, a.NextSwitchAt.UTC()).
			Scan(&stored).Error; err != nil {
			return err
		}
		if len(stored) == 0 || !sameSchedule(stored[0], a.Schedule) {
			return errScheduleMoved
		}
		if !switchNow {
			return nil
		}
		ch := StatusChange{AccountID: a.AccountID, ProjectIDs: projects, Online: online, Source: SourceSchedule}
		var err error
		events, _, err = switchProjects(tx, a.TenantID, ch, switchAt{at: at, everywhere: !online, notChangedAfter: true})
		return err
	})
	switch {
	case errors.Is(err, errScheduleMoved):
		return nil, false, nil
	case err != nil:
		return nil, false, translate(op, err)
	case planErr != nil:
		return nil, true, fmt.Errorf("%s: plan dropped: %w", op, planErr)
	}
	return events, true, nil
}

// plan walks the schedule from the due transition (*at, *online) to the
// latest one up to now, leaving it in *at and *online, and returns the
// first one after now (nil: none).
func (s *Store) plan(a dueAgent, zones map[string]*time.Location, at *time.Time, online *bool, now time.Time) (*time.Time, bool, error) {
	if a.Schedule == nil {
		return nil, false, errors.New("no schedule stored")
	}
	var sch Schedule
	if err := json.Unmarshal([]byte(*a.Schedule), &sch); err != nil {
		return nil, false, fmt.Errorf("read schedule: %w", err)
	}
	if !sch.Enabled {
		return nil, false, errors.New("schedule disabled")
	}
	loc, ok := zones[sch.Timezone]
	if !ok {
		var err error
		if loc, err = LoadScheduleLocation(sch.Timezone); err != nil {
			return nil, false, err
		}
		zones[sch.Timezone] = loc
	}
	for {
		next, nextOnline, err := nextSwitch(sch, loc, *at)
		if err != nil || next == nil || next.After(now) {
			return next, nextOnline, err
		}
		*at, *online = *next, nextOnline
	}
}

func sameSchedule(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// switchedRow is a status row a bulk job switched off.
type switchedRow struct {
	TenantID  TenantID
	ProjectID int64
	AccountID string
}

// eventBatch keeps each multi-row event insert well under SQLite's and
// PostgreSQL's parameter limits.
const eventBatch = 1000

// ExpireOnline ends the online periods that are over: rows online with
// until <= now go offline with source expiry, since = until, and one event
// per (project, agent) at until. The switch is one conditional update
// (WHERE online AND until <= now), so two runners never double it.
func (s *Store) ExpireOnline(ctx context.Context, now time.Time) ([]Event, error) {
	now = now.UTC()
	var events []Event
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []struct {
			TenantID  TenantID
			ProjectID int64
			AccountID string
			Since     time.Time
		}
		if err := tx.Raw(`UPDATE statuses SET online = ?, since = until, until = NULL, source = ?
WHERE online = ? AND until <= ? RETURNING tenant_id, project_id, account_id, since`,
			false, SourceExpiry, true, now).Scan(&rows).Error; err != nil {
			return err
		}
		events = make([]Event, 0, len(rows))
		for _, r := range rows {
			events = append(events, Event{TenantID: r.TenantID, ProjectID: r.ProjectID, AccountID: r.AccountID,
				FromOnline: true, ToOnline: false, Source: SourceExpiry, At: r.Since.UTC()})
		}
		return insertEvents(tx, events)
	})
	if err != nil {
		return nil, translate("expire online", err)
	}
	s.changedBy(ctx, events)
	return events, nil
}

// SweepInactive puts offline, with source inactivity, the online rows of
// agents silent for longer than their tenant's auto_offline_minutes (0:
// never). Silence counts from the later of the agent's last activity and
// the row's since, so someone who has just gone online gets the whole
// grace period. Tenants are grouped by their limit and each cut-off is a
// parameter, which keeps the SQL the same on both dialects. Rows and
// events carry now: the sweep runs often enough for that to be the
// moment the limit was noticed.
func (s *Store) SweepInactive(ctx context.Context, now time.Time) ([]Event, error) {
	now = now.UTC()
	var events []Event
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var limits []int
		if err := tx.Model(&Tenant{}).Where("auto_offline_minutes > ?", 0).
			Distinct().Order("auto_offline_minutes").Pluck("auto_offline_minutes", &limits).Error; err != nil {
			return err
		}
		events = events[:0]
		for _, minutes := range limits {
			cutoff := now.Add(-time.Duration(minutes) * time.Minute)
			var rows []switchedRow
			if err := tx.Raw(`UPDATE statuses SET online = ?, since = ?, until = NULL, source = ?
WHERE online = ? AND since < ?
  AND tenant_id IN (SELECT id FROM tenants WHERE auto_offline_minutes = ?)
  AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.tenant_id = statuses.tenant_id
    AND a.account_id = statuses.account_id AND a.last_activity_at >= ?)
RETURNING tenant_id, project_id, account_id`,
				false, now, SourceInactivity, true, cutoff, minutes, cutoff).Scan(&rows).Error; err != nil {
				return err
			}
			for _, r := range rows {
				events = append(events, Event{TenantID: r.TenantID, ProjectID: r.ProjectID, AccountID: r.AccountID,
					FromOnline: true, ToOnline: false, Source: SourceInactivity, At: now})
			}
		}
		return insertEvents(tx, events)
	})
	if err != nil {
		return nil, translate("sweep inactive", err)
	}
	s.changedBy(ctx, events)
	return events, nil
}

func insertEvents(tx *gorm.DB, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	return tx.CreateInBatches(&events, eventBatch).Error
}

// changedBy tells the listeners about the projects of committed events,
// once per tenant.
func (s *Store) changedBy(ctx context.Context, events []Event) {
	byTenant := map[TenantID][]Event{}
	for _, e := range events {
		byTenant[e.TenantID] = append(byTenant[e.TenantID], e)
	}
	for tenant, evs := range byTenant {
		s.changed(ctx, tenant, eventProjects(evs))
	}
}
