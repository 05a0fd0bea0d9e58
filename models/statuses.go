package models

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Source says why an agent's status last changed.
type Source string

// The sources of a status change.
const (
	SourceManual     Source = "manual"
	SourceSchedule   Source = "schedule"
	SourceAdmin      Source = "admin"
	SourceInactivity Source = "inactivity"
	SourceExpiry     Source = "expiry"
)

// Valid reports whether s is one of the known sources.
func (s Source) Valid() bool {
	switch s {
	case SourceManual, SourceSchedule, SourceAdmin, SourceInactivity, SourceExpiry:
		return true
	}
	return false
}

// Status is an agent's chosen state in one project. A missing row means
// offline, the default for everyone.
type Status struct {
	// ix_statuses_tenant_account finds an account's rows in every project
	// (going offline everywhere, a schedules tick) without reading the
	// whole tenant's.
	TenantID  TenantID `gorm:"primaryKey;autoIncrement:false;index:ix_statuses_tenant_account,priority:1"`
	ProjectID int64    `gorm:"primaryKey;autoIncrement:false;index:ix_statuses_project_online,priority:1"`
	AccountID string   `gorm:"primaryKey;size:128;index:ix_statuses_tenant_account,priority:2"`
	Online    bool     `gorm:"not null;index:ix_statuses_project_online,priority:2"`
	Since     time.Time
	// Until ends an online period ("online for 1 h"); nil means until the
	// agent (or a job) changes it.
	Until  *time.Time `gorm:"index"`
	Source Source     `gorm:"size:16;not null"`
}

// StatusChange asks for an account's status to become Online (or not) in
// some of its projects.
type StatusChange struct {
	AccountID  string
	ProjectIDs []int64
	Online     bool
	// Until ends the online period; only with Online.
	Until  *time.Time
	Source Source
	// Actor is who made the change when it is not the agent (an admin).
	Actor  string
	Reason string
}

// SetStatus applies a change at at in one transaction. Each project's row is
// switched by a conditional update (WHERE online = old state), so two tabs
// toggling at once, or a toggle racing a job, end in one state with one
// event per effective change. It returns the events written; a no-op
// writes none.
func (s *Store) SetStatus(ctx context.Context, tenant TenantID, ch StatusChange, at time.Time) ([]Event, error) {
	if !ch.Source.Valid() || ch.AccountID == "" {
		return nil, fmt.Errorf("set status: %w: account and a known source are required", ErrInvalid)
	}
	if !ch.Online && ch.Until != nil {
		return nil, fmt.Errorf("set status: %w: an end time goes only with online", ErrInvalid)
	}
	now := at.UTC()
	var (
		events     []Event
		untilMoved bool
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.ensureAgent(tx, tenant, ch.AccountID); err != nil {
			return err
		}
		if ch.Online && ch.Source == SourceManual {
			// Going online is activity: the inactivity limit counts from now.
			// Written first so that, like the schedule job, this transaction
			// locks the agent's row before its statuses: no deadlock.
			if err := tx.Model(&Agent{}).Where("tenant_id = ? AND account_id = ?", tenant, ch.AccountID).
				Update("last_activity_at", now).Error; err != nil {
				return err
			}
		}
		var err error
		events, untilMoved, err = switchProjects(tx, []transition{{tenant: tenant, change: ch, when: switchAt{at: now}}})
		return err
	})
	if err != nil {
		return nil, translate("set status", err)
	}
	switch {
	case len(events) > 0:
		s.changed(ctx, tenant, eventProjects(events))
	case untilMoved:
		// No switch, but the end of the online period moved: copies of the
		// agent's state (answer caches) must hear of it.
		s.changed(ctx, tenant, slices.Clone(ch.ProjectIDs))
	}
	return events, nil
}

// switchedRow is a status row a bulk job switched off.
type switchedRow struct {
	TenantID  TenantID
	ProjectID int64
	AccountID string
}

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

// Statuses returns an account's status rows (online or not) in the tenant.
func (s *Store) Statuses(ctx context.Context, tenant TenantID, accountID string) ([]Status, error) {
	var st []Status
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND account_id = ?", tenant, accountID).Find(&st).Error; err != nil {
		return nil, translate("statuses", err)
	}
	return st, nil
}

// OnlineAgents lists who is online in a project, longest online first.
func (s *Store) OnlineAgents(ctx context.Context, tenant TenantID, projectID int64) ([]Status, error) {
	var st []Status
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND project_id = ? AND online = ?", tenant, projectID, true).
		Order("since, account_id").Find(&st).Error; err != nil {
		return nil, translate("online agents", err)
	}
	return st, nil
}

// AllOnline lists everyone online in any of the tenant's projects.
func (s *Store) AllOnline(ctx context.Context, tenant TenantID) ([]Status, error) {
	var st []Status
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND online = ?", tenant, true).
		Order("project_id, since, account_id").Find(&st).Error; err != nil {
		return nil, translate("all online", err)
	}
	return st, nil
}

// OnlineCount counts who is online in a project.
func (s *Store) OnlineCount(ctx context.Context, tenant TenantID, projectID int64) (int, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Status{}).Where("tenant_id = ? AND project_id = ? AND online = ?", tenant, projectID, true).
		Count(&n).Error; err != nil {
		return 0, translate("online count", err)
	}
	return int(n), nil
}

// ProjectCount is how many agents are online in one project.
type ProjectCount struct {
	ProjectID int64
	Key       string
	Online    int
}

// ProjectCounts counts who is online in some of the tenant's projects (all
// of them when projectIDs is nil), by project key, in one query: live
// updates ask it once per change, whoever listens.
func (s *Store) ProjectCounts(ctx context.Context, tenant TenantID, projectIDs []int64) ([]ProjectCount, error) {
	if projectIDs != nil && len(projectIDs) == 0 {
		return []ProjectCount{}, nil
	}
	q := s.db.WithContext(ctx).Table("projects AS p").
		Select("p.id AS project_id, p.key AS key, COUNT(st.account_id) AS online").
		Joins("LEFT JOIN statuses st ON st.tenant_id = p.tenant_id AND st.project_id = p.id AND st.online = ?", true).
		Where("p.tenant_id = ?", tenant)
	if projectIDs != nil {
		q = q.Where("p.id IN ?", projectIDs)
	}
	counts := []ProjectCount{}
	if err := q.Group("p.id, p.key").Order("p.key").Scan(&counts).Error; err != nil {
		return nil, translate("project counts", err)
	}
	return counts, nil
}
