package models

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Event is one effective status change: the audit trail and the raw
// material of reports.
type Event struct {
	ID        int64    `gorm:"primaryKey"`
	TenantID  TenantID `gorm:"not null;index:ix_events_tenant_at,priority:1"`
	ProjectID int64    `gorm:"not null"`
	AccountID string   `gorm:"size:128;not null"`
	// FromOnline and ToOnline say whether the agent was and is online:
	// FromState and ToState said in two booleans, as the API gave them
	// before away existed and a replica of that release writes them.
	FromOnline bool `gorm:"not null"`
	ToOnline   bool `gorm:"not null"`
	// FromState and ToState are the states before and after. Events
	// written before away existed have none stored; reading fills them in
	// from FromOnline and ToOnline.
	FromState      State  `gorm:"size:8;not null;default:''"`
	ToState        State  `gorm:"size:8;not null;default:''"`
	Source         Source `gorm:"size:16;not null"`
	ActorAccountID string `gorm:"size:128"`
	// Reason is the admin's reason for putting the agent offline, or the
	// agent's for going away.
	Reason string    `gorm:"size:500"`
	At     time.Time `gorm:"not null;index:ix_events_tenant_at,priority:2;index:ix_events_at"` // alone too: the retention job's cut-off
}

// AfterFind fills in the states of an event written before away existed.
func (e *Event) AfterFind(*gorm.DB) error {
	e.fillStates()
	return nil
}

func (e *Event) fillStates() {
	if e.FromState == "" {
		e.FromState = effectiveState(e.FromOnline, "")
	}
	if e.ToState == "" {
		e.ToState = effectiveState(e.ToOnline, "")
	}
}

// EventFilter narrows the audit log.
type EventFilter struct {
	ProjectID int64
	AccountID string
	Source    Source
	From, To  time.Time
	Limit     int
	// BeforeID pages backwards: events with a smaller id.
	BeforeID int64
}

// Events lists the tenant's status changes, newest first.
func (s *Store) Events(ctx context.Context, tenant TenantID, f EventFilter) ([]Event, error) {
	q := s.db.WithContext(ctx).Where("tenant_id = ?", tenant)
	if f.ProjectID != 0 {
		q = q.Where("project_id = ?", f.ProjectID)
	}
	if f.AccountID != "" {
		q = q.Where("account_id = ?", f.AccountID)
	}
	if f.Source != "" {
		q = q.Where("source = ?", f.Source)
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From)
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To)
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 10000
	}
	var evs []Event
	if err := q.Order("id DESC").Limit(f.Limit).Find(&evs).Error; err != nil {
		return nil, translate("events", err)
	}
	return evs, nil
}

// insertEventSet inserts the events of one transition set in one statement
// on PostgreSQL and sets their ids. An event is the only one of its
// account and project in the set, which ties each id returned to its
// event.
func insertEventSet(tx *gorm.DB, d Dialect, events []Event) error {
	set := rowSet{name: "e", columns: []rowColumn{
		{"tenant_id", "bigint"}, {"project_id", "bigint"}, {"account_id", "text"}, {"from_online", "boolean"},
		{"to_online", "boolean"}, {"from_state", "text"}, {"to_state", "text"}, {"source", "text"}, {"actor_account_id", "text"},
		{"reason", "text"}, {"at", "timestamptz"},
	}}
	type key struct {
		tenant  TenantID
		project int64
		account string
	}
	index := make(map[key]int, len(events))
	for i, e := range events {
		index[key{e.TenantID, e.ProjectID, e.AccountID}] = i
		set.add(int64(e.TenantID), e.ProjectID, e.AccountID, e.FromOnline, e.ToOnline, string(e.FromState), string(e.ToState),
			string(e.Source), e.ActorAccountID, e.Reason, e.At)
	}
	for _, p := range set.pieces(d) {
		with, args := p.cte(d)
		if err := scanRows(tx, "WITH "+with+` INSERT INTO events (tenant_id, project_id, account_id, from_online, to_online, from_state, to_state, source, actor_account_id, reason, at)
SELECT tenant_id, project_id, account_id, from_online, to_online, from_state, to_state, source, actor_account_id, reason, at FROM e
RETURNING id, tenant_id, project_id, account_id`, args, func(rows *sql.Rows) error {
			var (
				id int64
				k  key
			)
			if err := rows.Scan(&id, &k.tenant, &k.project, &k.account); err != nil {
				return err
			}
			events[index[k]].ID = id
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func eventProjects(events []Event) []int64 {
	ids := make([]int64, 0, len(events))
	for _, e := range events {
		ids = append(ids, e.ProjectID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
