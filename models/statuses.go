package models

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

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

// State is an agent's status in one project.
type State string

// The states of an agent in a project.
const (
	// StateOffline is everyone's default: a missing row, and the zero
	// State of a change, are offline.
	StateOffline State = "offline"
	// StateOnline answers chats: customers see the project online.
	StateOnline State = "online"
	// StateAway is there but not answering chats (lunch, a meeting), with
	// an optional reason; customers see nobody online.
	StateAway State = "away"
)

// Valid reports whether s is one of the states.
func (s State) Valid() bool {
	switch s {
	case StateOffline, StateOnline, StateAway:
		return true
	}
	return false
}

// StateFor is online for true and offline for false: the state that an
// online flag (of the API, or of a schedule's transition) names.
func StateFor(online bool) State {
	if online {
		return StateOnline
	}
	return StateOffline
}

// orOffline is s, offline when zero.
func (s State) orOffline() State {
	if s == "" {
		return StateOffline
	}
	return s
}

// MaxAwayReasonLen bounds the reason of an away status, in characters.
const MaxAwayReasonLen = 100

// Status is an agent's chosen state in one project. A missing row means
// offline, the default for everyone.
type Status struct {
	// ix_statuses_tenant_account finds an account's rows in every project
	// (going offline everywhere, a schedules tick) without reading the
	// whole tenant's.
	TenantID  TenantID `gorm:"primaryKey;autoIncrement:false;index:ix_statuses_tenant_account,priority:1"`
	ProjectID int64    `gorm:"primaryKey;autoIncrement:false;index:ix_statuses_project_online,priority:1"`
	AccountID string   `gorm:"primaryKey;size:128;index:ix_statuses_tenant_account,priority:2"`
	// Online is State == StateOnline, kept as a column of its own: what
	// customers see, the counts and their index read it, and a replica of
	// the release before away writes only it. Where the two disagree
	// (such a replica switched the row), Online wins (see effectiveState).
	Online bool `gorm:"not null;index:ix_statuses_project_online,priority:2"`
	// State is online, away or offline (read through effectiveState).
	State State `gorm:"size:8;not null;default:offline"`
	// PreviousState is the state before the last switch: the same
	// conditional update that switches the row keeps it, so that the event
	// says what the row held when it switched, even when another writer
	// switched it a moment before.
	PreviousState State `gorm:"size:8;not null;default:offline"`
	Since         time.Time
	// Until ends an online or away period ("online for 1 h", "away for 30
	// minutes"); nil means until the agent (or a job) changes it.
	Until  *time.Time `gorm:"index"`
	Source Source     `gorm:"size:16;not null"`
	// AwayReason says why the agent is away ("lunch"); empty otherwise.
	AwayReason string `gorm:"size:100;not null;default:''"`
	// ChangedBy and ChangeReason are the last switch's actor (an admin who
	// put the agent offline; empty when the agent, a schedule, a timer or
	// inactivity switched the row) and reason (the admin's, or the away
	// reason), written by the same conditional update that switches the
	// row, so that the agent can be told why (LastChange). A replica of a
	// release before them leaves them as they were: they are read only
	// with Source admin and a reason-bearing state (see LastChange).
	ChangedBy    string `gorm:"size:128;not null;default:''"`
	ChangeReason string `gorm:"size:500;not null;default:''"`
}

// AfterFind makes State the row's effective state (see effectiveState).
func (s *Status) AfterFind(*gorm.DB) error {
	s.State = effectiveState(s.Online, s.State)
	return nil
}

// effectiveState reads a row's state from its two columns: online when
// Online (whoever wrote it), away when State says so, else offline (a
// replica of the release before away switched an online row off without
// touching State).
func effectiveState(online bool, state State) State {
	switch {
	case online:
		return StateOnline
	case state == StateAway:
		return StateAway
	}
	return StateOffline
}

// stateSQL is effectiveState over the statuses table's columns, and
// presentSQL the condition that it is online or away.
const (
	stateSQL   = "CASE WHEN statuses.online THEN 'online' WHEN statuses.state = 'away' THEN 'away' ELSE 'offline' END"
	presentSQL = "(statuses.online OR statuses.state = 'away')"
)

// plainText reports whether s is valid UTF-8 without control characters:
// text one user types and others read.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// StatusChange asks for an account's status to become To in some of its
// projects.
type StatusChange struct {
	AccountID  string
	ProjectIDs []int64
	// To is the state asked for; the zero State is offline.
	To State
	// Until ends the online or away period; only with those.
	Until  *time.Time
	Source Source
	// Actor is who made the change when it is not the agent (an admin).
	Actor string
	// Reason is an admin's reason for putting the agent offline, or the
	// agent's for being away (at most MaxAwayReasonLen characters).
	Reason string
}

// The use cases below are every way an agent's status changes. Each takes
// the facts it decides on as arguments (the agent's memberships, what the
// actor administers, the time) and goes through the one transition
// primitive, switchProjects, which writes the conditional update and the
// events. ApplyDueSchedules (schedules.go) is the schedule's.

// OwnChange is what an agent asks of their own status.
type OwnChange struct {
	// AccountID is the agent, as the verified token names them.
	AccountID string
	// To is online, away or offline (the zero State).
	To State
	// Reason says why the agent is away (at most MaxAwayReasonLen
	// characters of plain text); only with away, and optional.
	Reason string
	// AllProjects asks for every project in Memberships; otherwise Project
	// alone.
	AllProjects bool
	Project     Project
	// Memberships are the projects where the agent is a support agent, as
	// the directory knows them: recently enough to grant going online or
	// away.
	Memberships []Project
	// For is how long an online or away period lasts; zero: until it is
	// changed. At its end the agent goes offline (ExpireOnline).
	For time.Duration
}

// SetOwnStatus applies an agent's change of their own status at at, with
// the rules of who may be where: online or away only in projects where the
// agent is a support agent (ErrNotAnAgent otherwise), offline anywhere, so
// that a former agent can still leave; AllProjects means the projects of
// ch.Memberships; a period (For) only with online or away, ending at at +
// For; a reason only with away. Going online or away is activity: the
// inactivity limit counts from at. It returns the events written; a change
// that changes nothing writes none.
func (s *Store) SetOwnStatus(ctx context.Context, tenant TenantID, ch OwnChange, at time.Time) ([]Event, error) {
	to := ch.To.orOffline()
	switch {
	case !to.Valid():
		return nil, fmt.Errorf("set own status: %w: unknown state %q", ErrInvalid, ch.To)
	case ch.For < 0 || (ch.For > 0 && to == StateOffline):
		return nil, fmt.Errorf("set own status: %w: a period goes only with online or away", ErrInvalid)
	case ch.Reason != "" && to != StateAway:
		return nil, fmt.Errorf("set own status: %w: a reason goes only with away", ErrInvalid)
	}
	var ids []int64
	if ch.AllProjects {
		for _, p := range ch.Memberships {
			ids = append(ids, p.ID)
		}
	} else {
		member := slices.ContainsFunc(ch.Memberships, func(p Project) bool { return p.ID == ch.Project.ID })
		if ch.Project.ID == 0 || (to != StateOffline && !member) {
			return nil, fmt.Errorf("set own status: %w: %s", ErrNotAnAgent, ch.Project.Key)
		}
		ids = []int64{ch.Project.ID}
	}
	change := StatusChange{AccountID: ch.AccountID, ProjectIDs: ids, To: to, Reason: ch.Reason, Source: SourceManual}
	if ch.For > 0 {
		until := at.Add(ch.For).UTC()
		change.Until = &until
	}
	events, err := s.setStatus(ctx, tenant, change, at)
	if err != nil {
		return nil, fmt.Errorf("set own status: %w", err)
	}
	return events, nil
}

// AdminOffline is an administrator putting an agent offline.
type AdminOffline struct {
	// Actor is the administrator, as the verified token names them.
	Actor string
	// AccountID is the agent put offline.
	AccountID string
	// Project is where the administrator acts; with AllProjects, also every
	// other project where the agent is online or away and the actor
	// administers.
	Project     Project
	AllProjects bool
	// Reason is kept in the events (at most MaxReasonLen characters).
	Reason string
	// Administers tells whether the actor is Jira administrator and
	// administrator of a project, as Jira says now: asked of Project first,
	// then of each other project where the agent is online or away.
	Administers func(ctx context.Context, p Project) (bool, error)
}

// MaxReasonLen bounds an administrator's reason, in characters.
const MaxReasonLen = 500

// PutOffline applies an administrator's putting an agent offline (from
// online or away) at at. The actor must administer ch.Project
// (ErrNotAnAdmin otherwise); with AllProjects the agent also goes offline
// in every other project where they are online or away and the actor
// administers it, and stays as they are in the rest. It returns the events
// written (none when the agent was offline already).
func (s *Store) PutOffline(ctx context.Context, tenant TenantID, ch AdminOffline, at time.Time) ([]Event, error) {
	if ch.AccountID == "" || ch.Actor == "" || ch.Administers == nil {
		return nil, fmt.Errorf("put offline: %w: the agent, the actor and their rights are required", ErrInvalid)
	}
	if utf8.RuneCountInString(ch.Reason) > MaxReasonLen {
		return nil, fmt.Errorf("put offline: %w: the reason is longer than %d characters", ErrInvalid, MaxReasonLen)
	}
	admin, err := ch.Administers(ctx, ch.Project)
	if err != nil {
		return nil, fmt.Errorf("put offline: %w", err)
	}
	if !admin {
		return nil, fmt.Errorf("put offline: %w: %s", ErrNotAnAdmin, ch.Project.Key)
	}
	ids := []int64{ch.Project.ID}
	if ch.AllProjects {
		// The rights are Jira's answers: asked before the write, outside
		// its transaction.
		var others []Project
		if err := s.db.WithContext(ctx).Where("tenant_id = ? AND id <> ? AND id IN (?)", tenant, ch.Project.ID,
			s.db.Model(&Status{}).Select("project_id").Where("tenant_id = ? AND account_id = ? AND "+presentSQL, tenant, ch.AccountID)).
			Order("id").Find(&others).Error; err != nil {
			return nil, translate("put offline", err)
		}
		for _, p := range others {
			admin, err := ch.Administers(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("put offline: %w", err)
			}
			if admin {
				ids = append(ids, p.ID)
			}
		}
	}
	events, err := s.setStatus(ctx, tenant, StatusChange{AccountID: ch.AccountID, ProjectIDs: ids, Source: SourceAdmin,
		Actor: ch.Actor, Reason: ch.Reason}, at)
	if err != nil {
		return nil, fmt.Errorf("put offline: %w", err)
	}
	return events, nil
}

// SetStatus applies a change as given at at, with no rule about who may
// make it: the door of seeds (the demo's history) and tests. Requests go
// through SetOwnStatus and PutOffline, jobs through ApplyDueSchedules,
// ExpireOnline and SweepInactive.
func (s *Store) SetStatus(ctx context.Context, tenant TenantID, ch StatusChange, at time.Time) ([]Event, error) {
	events, err := s.setStatus(ctx, tenant, ch, at)
	if err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	return events, nil
}

// setStatus applies one account's change at at in one transaction. Each
// project's row is switched by a conditional update (WHERE state <> the
// new state), so two tabs toggling at once, or a toggle racing a job, end
// in one state with one event per effective change. It returns the events
// written; a no-op writes none.
func (s *Store) setStatus(ctx context.Context, tenant TenantID, ch StatusChange, at time.Time) ([]Event, error) {
	to := ch.To.orOffline()
	switch {
	case !ch.Source.Valid() || ch.AccountID == "":
		return nil, fmt.Errorf("%w: account and a known source are required", ErrInvalid)
	case !to.Valid():
		return nil, fmt.Errorf("%w: unknown state %q", ErrInvalid, ch.To)
	case to == StateOffline && ch.Until != nil:
		return nil, fmt.Errorf("%w: an end time goes only with online or away", ErrInvalid)
	case to == StateAway && (utf8.RuneCountInString(ch.Reason) > MaxAwayReasonLen || !plainText(ch.Reason)):
		return nil, fmt.Errorf("%w: an away reason is plain text of at most %d characters", ErrInvalid, MaxAwayReasonLen)
	case ch.Reason != "" && to != StateAway && ch.Source != SourceAdmin:
		return nil, fmt.Errorf("%w: a reason goes only with away or an admin", ErrInvalid)
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
		if to != StateOffline && ch.Source == SourceManual {
			// Going online or away is activity: the inactivity limit counts
			// from now.
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
		return nil, translate("switch", err)
	}
	switch {
	case len(events) > 0:
		s.changed(ctx, tenant, eventProjects(events))
	case untilMoved:
		// No switch, but the end of the period or the away reason moved:
		// copies of the agent's state (answer caches) must hear of it.
		s.changed(ctx, tenant, slices.Clone(ch.ProjectIDs))
	}
	return events, nil
}

// ExpireOnline ends the online and away periods that are over at now:
// rows online or away with until <= now go offline through the transition
// primitive with source expiry, each at its until (the rows' since and the
// events' At). An agent back from "away for 30 minutes" says so: until
// then, offline is what customers can rely on.
// The rows are read and switched in one transaction; on PostgreSQL the
// read locks them and skips rows another transaction holds, which stay
// due for the next run, so replicas racing on one tick neither wait on
// each other nor switch a row twice.
func (s *Store) ExpireOnline(ctx context.Context, now time.Time) ([]Event, error) {
	now = now.UTC()
	var events []Event
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := `SELECT tenant_id, account_id, project_id, until FROM statuses WHERE ` + presentSQL + ` AND until <= ?
ORDER BY tenant_id, account_id, project_id`
		if s.dialect == DialectPostgres {
			q += " FOR UPDATE SKIP LOCKED"
		}
		var ts []transition
		if err := scanRows(tx, q, []any{now}, func(rows *sql.Rows) error {
			var (
				t     transition
				pid   int64
				until time.Time
			)
			if err := rows.Scan(&t.tenant, &t.change.AccountID, &pid, &until); err != nil {
				return err
			}
			t.change.ProjectIDs, t.change.Source, t.when.at = []int64{pid}, SourceExpiry, until.UTC()
			ts = append(ts, t)
			return nil
		}); err != nil {
			return err
		}
		var err error
		events, _, err = switchProjects(tx, ts)
		return err
	})
	if err != nil {
		return nil, translate("expire online", err)
	}
	s.changedBy(ctx, events)
	return events, nil
}

// SweepInactive puts offline, with source inactivity, the online and away
// rows of agents silent for longer than their tenant's
// auto_offline_minutes (0: never), through the transition primitive: an
// agent away and silent that long has left. Silence counts from the later
// of the agent's last activity (as flushed) and the row's since, so
// someone who has just gone online gets the whole grace period. Tenants
// are grouped by their limit and each cut-off is a parameter, which keeps
// the SQL the same on both dialects. Rows and events carry now: the sweep
// runs often enough for that to be the moment the limit was noticed. As in
// ExpireOnline, the rows are read and switched in one transaction, locked
// and skipped if held elsewhere on PostgreSQL.
func (s *Store) SweepInactive(ctx context.Context, now time.Time) ([]Event, error) {
	now = now.UTC()
	var events []Event
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var limits []int
		if err := tx.Model(&Tenant{}).Where("auto_offline_minutes > ?", 0).
			Distinct().Order("auto_offline_minutes").Pluck("auto_offline_minutes", &limits).Error; err != nil {
			return err
		}
		q := `SELECT statuses.tenant_id, statuses.account_id, statuses.project_id FROM statuses
WHERE ` + presentSQL + ` AND statuses.since < ?
  AND statuses.tenant_id IN (SELECT id FROM tenants WHERE auto_offline_minutes = ?)
  AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.tenant_id = statuses.tenant_id
    AND a.account_id = statuses.account_id AND a.last_activity_at >= ?)
ORDER BY statuses.tenant_id, statuses.account_id, statuses.project_id`
		if s.dialect == DialectPostgres {
			q += " FOR UPDATE OF statuses SKIP LOCKED"
		}
		var ts []transition
		for _, minutes := range limits {
			cutoff := now.Add(-time.Duration(minutes) * time.Minute)
			if err := scanRows(tx, q, []any{cutoff, minutes, cutoff}, func(rows *sql.Rows) error {
				var (
					tenant  TenantID
					account string
					pid     int64
				)
				if err := rows.Scan(&tenant, &account, &pid); err != nil {
					return err
				}
				// One transition per account, its projects in order.
				if n := len(ts); n > 0 && ts[n-1].tenant == tenant && ts[n-1].change.AccountID == account {
					ts[n-1].change.ProjectIDs = append(ts[n-1].change.ProjectIDs, pid)
					return nil
				}
				ts = append(ts, transition{tenant: tenant, when: switchAt{at: now},
					change: StatusChange{AccountID: account, ProjectIDs: []int64{pid}, Source: SourceInactivity}})
				return nil
			}); err != nil {
				return err
			}
		}
		var err error
		events, _, err = switchProjects(tx, ts)
		return err
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

// AwayAgents lists who is away in a project, longest away first.
func (s *Store) AwayAgents(ctx context.Context, tenant TenantID, projectID int64) ([]Status, error) {
	var st []Status
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND project_id = ? AND state = ? AND online = ?", tenant, projectID, StateAway, false).
		Order("since, account_id").Find(&st).Error; err != nil {
		return nil, translate("away agents", err)
	}
	return st, nil
}

// AllAway lists everyone away in any of the tenant's projects.
func (s *Store) AllAway(ctx context.Context, tenant TenantID) ([]Status, error) {
	var st []Status
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND state = ? AND online = ?", tenant, StateAway, false).
		Order("project_id, since, account_id").Find(&st).Error; err != nil {
		return nil, translate("all away", err)
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

// ProjectCount is how many agents are online, and away, in one project.
type ProjectCount struct {
	ProjectID int64
	Key       string
	Online    int
	Away      int
}

// ProjectCounts counts who is online and away in some of the tenant's projects (all
// of them when projectIDs is nil), by project key, in one query: live
// updates ask it once per change, whoever listens.
func (s *Store) ProjectCounts(ctx context.Context, tenant TenantID, projectIDs []int64) ([]ProjectCount, error) {
	if projectIDs != nil && len(projectIDs) == 0 {
		return []ProjectCount{}, nil
	}
	q := s.db.WithContext(ctx).Table("projects AS p").
		Select("p.id AS project_id, p.key AS key, COUNT(CASE WHEN st.online THEN 1 END) AS online, "+
			"COUNT(CASE WHEN NOT st.online THEN 1 END) AS away").
		Joins("LEFT JOIN statuses st ON st.tenant_id = p.tenant_id AND st.project_id = p.id AND (st.online OR st.state = ?)", StateAway).
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
