package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// newWidgetID makes a public widget id: 128 random bits, URL-safe.
func newWidgetID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("widget id: %w", err)
	}
	return "w_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// SyncProjects records the tenant's service desk projects as Jira lists
// them: new ones get a widget id, known ones keep theirs and their settings.
// The Jira id is a project's identity and the key follows it: renamed,
// swapped and reused keys are applied in one transaction, and a project no
// longer listed gives up a key (or service desk id) that a listed one now
// has. New and re-keyed projects are announced, so that every replica's
// board and answer caches learn the keys; a sync that changes nothing
// writes nothing. at is when Jira listed them.
func (s *Store) SyncProjects(ctx context.Context, tenant TenantID, refs []ProjectRef, at time.Time) ([]Project, error) {
	announce := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			// Two requests of one tenant syncing at once take turns on the
			// tenant's row, so the second reads what the first wrote
			// (SQLite's immediate transactions already take turns).
			if err := tx.Exec("SELECT id FROM tenants WHERE id = ? FOR UPDATE", tenant).Error; err != nil {
				return err
			}
		}
		var err error
		announce, err = syncProjects(tx, tenant, refs, at.UTC())
		return err
	})
	if err != nil {
		return nil, translate("sync projects", err)
	}
	if announce {
		s.changed(ctx, tenant, nil)
	}
	return s.Projects(ctx, tenant)
}

// parkedKey is the key a project holds while its own is taken by another:
// "~" and the Jira id, unique in the tenant and never a Jira key (keys are
// letters, digits and "_"), so no request can name it.
func parkedKey(jiraID string) string { return "~" + jiraID }

// syncProjects does SyncProjects' work in tx and tells whether a project
// was added or changed key: what the board and the answer caches, which
// find projects by key, must hear at once (a new name reaches them within
// their TTL). Keys are unique per tenant at every statement,
// so a project whose key must change first moves to its parked key; only
// then do the listed projects take their keys. That makes renames, swaps
// and rotations work in any listing order, on both dialects, without
// deferred constraints.
func syncProjects(tx *gorm.DB, tenant TenantID, refs []ProjectRef, now time.Time) (bool, error) {
	var known []Project
	if err := tx.Where("tenant_id = ?", tenant).Find(&known).Error; err != nil {
		return false, err
	}
	byJira := make(map[string]Project, len(known))
	for _, p := range known {
		byJira[p.JiraID] = p
	}
	// The listed projects, one per Jira id and per key (Jira lists each
	// once; a repeat would only make the sync fail).
	want := make(map[string]ProjectRef, len(refs))
	wantKey := make(map[string]string, len(refs)) // key → Jira id
	wantDesk := make(map[string]bool, len(refs))
	listed := make([]ProjectRef, 0, len(refs))
	for _, r := range refs {
		if r.JiraID == "" || r.Key == "" {
			continue
		}
		if _, dup := want[r.JiraID]; dup {
			continue
		}
		if _, dup := wantKey[r.Key]; dup {
			continue
		}
		want[r.JiraID], wantKey[r.Key] = r, r.JiraID
		if r.ServiceDeskID != "" {
			wantDesk[r.ServiceDeskID] = true
		}
		listed = append(listed, r)
	}
	rekeyed := false
	// Step 1: every known project whose key must change, and every
	// unlisted one holding a key a listed one wants, moves aside.
	for _, p := range known {
		r, isListed := want[p.JiraID]
		holder, wanted := wantKey[p.Key]
		move := (isListed && r.Key != p.Key) || (!isListed && wanted && holder != p.JiraID)
		fields := map[string]any{}
		if move && p.Key != parkedKey(p.JiraID) {
			fields["key"] = parkedKey(p.JiraID)
		}
		if !isListed && p.ServiceDeskID != "" && wantDesk[p.ServiceDeskID] {
			// A desk id is Jira's too: the portal footer finds a project
			// by it, so the listed project must be the only one with it.
			fields["service_desk_id"] = ""
		}
		if len(fields) == 0 {
			continue
		}
		fields["updated_at"] = now
		if err := tx.Model(&Project{}).Where("tenant_id = ? AND id = ?", tenant, p.ID).Updates(fields).Error; err != nil {
			return false, err
		}
		rekeyed = rekeyed || fields["key"] != nil
	}
	// Step 2: the listed projects take their keys, names and desks; new
	// ones are created with a widget id of their own.
	for _, r := range listed {
		p, isKnown := byJira[r.JiraID]
		if !isKnown {
			wid, err := newWidgetID()
			if err != nil {
				return false, err
			}
			if err := tx.Create(&Project{TenantID: tenant, JiraID: r.JiraID, ServiceDeskID: r.ServiceDeskID, Key: r.Key,
				Name: r.Name, WidgetID: wid, WidgetEnabled: true, AllowedOrigins: []string{}}).Error; err != nil {
				return false, err
			}
			rekeyed = true
			continue
		}
		if p.Key == r.Key && p.Name == r.Name && p.ServiceDeskID == r.ServiceDeskID {
			continue
		}
		if err := tx.Model(&Project{}).Where("tenant_id = ? AND id = ?", tenant, p.ID).
			Updates(map[string]any{"key": r.Key, "name": r.Name, "service_desk_id": r.ServiceDeskID, "updated_at": now}).Error; err != nil {
			return false, err
		}
		rekeyed = rekeyed || p.Key != r.Key
	}
	return rekeyed, nil
}

// Projects lists the tenant's projects by key.
func (s *Store) Projects(ctx context.Context, tenant TenantID) ([]Project, error) {
	var ps []Project
	if err := s.db.WithContext(ctx).Where("tenant_id = ?", tenant).Order("key").Find(&ps).Error; err != nil {
		return nil, translate("list projects", err)
	}
	return ps, nil
}

// ProjectByKey finds one of the tenant's projects by its Jira key.
func (s *Store) ProjectByKey(ctx context.Context, tenant TenantID, key string) (Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND key = ?", tenant, key).Take(&p).Error; err != nil {
		return Project{}, translate("find project", err)
	}
	return p, nil
}

// ProjectByServiceDesk finds one of the tenant's projects by service desk id.
func (s *Store) ProjectByServiceDesk(ctx context.Context, tenant TenantID, serviceDeskID string) (Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND service_desk_id = ?", tenant, serviceDeskID).Take(&p).Error; err != nil {
		return Project{}, translate("find project", err)
	}
	return p, nil
}

// ProjectSettings are the settings a project admin edits.
type ProjectSettings struct {
	WidgetEnabled      bool
	UnavailableMessage string
	AllowedOrigins     []string
}

// UpdateProjectSettings replaces a project's widget settings at at.
func (s *Store) UpdateProjectSettings(ctx context.Context, tenant TenantID, projectID int64, ps ProjectSettings, at time.Time) (Project, error) {
	origins := ps.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return s.updateProject(ctx, "update project settings", tenant, projectID, func(q *gorm.DB) *gorm.DB {
		return q.Select("widget_enabled", "unavailable_message", "allowed_origins", "updated_at").
			Updates(&Project{WidgetEnabled: ps.WidgetEnabled, UnavailableMessage: ps.UnavailableMessage,
				AllowedOrigins: origins, UpdatedAt: at.UTC()})
	})
}

// RotateWidget gives the project a new widget id at at; the old one stops
// working.
func (s *Store) RotateWidget(ctx context.Context, tenant TenantID, projectID int64, at time.Time) (Project, error) {
	wid, err := newWidgetID()
	if err != nil {
		return Project{}, err
	}
	return s.updateProject(ctx, "rotate widget", tenant, projectID, func(q *gorm.DB) *gorm.DB {
		return q.Updates(map[string]any{"widget_id": wid, "updated_at": at.UTC()})
	})
}

// updateProject applies one update to one of the tenant's projects,
// announces it and answers the project as it is now.
func (s *Store) updateProject(ctx context.Context, op string, tenant TenantID, projectID int64, update func(*gorm.DB) *gorm.DB) (Project, error) {
	res := update(s.db.WithContext(ctx).Model(&Project{}).Where("tenant_id = ? AND id = ?", tenant, projectID))
	if res.Error != nil {
		return Project{}, translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return Project{}, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	s.changed(ctx, tenant, []int64{projectID})
	return s.projectByID(ctx, tenant, projectID)
}

func (s *Store) projectByID(ctx context.Context, tenant TenantID, id int64) (Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND id = ?", tenant, id).Take(&p).Error; err != nil {
		return Project{}, translate("find project", err)
	}
	return p, nil
}

// SetMemberships replaces the projects an account is a support agent of,
// as Jira told us at at, and remembers when.
func (s *Store) SetMemberships(ctx context.Context, tenant TenantID, accountID string, projectIDs []int64, at time.Time) error {
	now := at.UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.ensureAgent(tx, tenant, accountID); err != nil {
			return err
		}
		if err := tx.Model(&Agent{}).Where("tenant_id = ? AND account_id = ?", tenant, accountID).
			Updates(map[string]any{"membership_checked_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		del := tx.Where("tenant_id = ? AND account_id = ?", tenant, accountID)
		if len(projectIDs) > 0 {
			del = del.Where("project_id NOT IN ?", projectIDs)
		}
		if err := del.Delete(&Membership{}).Error; err != nil {
			return err
		}
		if len(projectIDs) == 0 {
			return nil
		}
		rows := make([]Membership, 0, len(projectIDs))
		for _, id := range projectIDs {
			rows = append(rows, Membership{TenantID: tenant, AccountID: accountID, ProjectID: id})
		}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error
	})
	return translate("set memberships", err)
}

// Memberships returns the projects an account is an agent of, as last
// known, and when Jira last told us (nil: never).
func (s *Store) Memberships(ctx context.Context, tenant TenantID, accountID string) ([]Project, *time.Time, error) {
	var a Agent
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND account_id = ?", tenant, accountID).Take(&a).Error
	if err != nil {
		if isNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, translate("memberships", err)
	}
	var ps []Project
	err = s.db.WithContext(ctx).Where("tenant_id = ? AND id IN (?)", tenant,
		s.db.Model(&Membership{}).Select("project_id").Where("tenant_id = ? AND account_id = ?", tenant, accountID)).
		Order("key").Find(&ps).Error
	if err != nil {
		return nil, nil, translate("memberships", err)
	}
	return ps, a.MembershipCheckedAt, nil
}

func (s *Store) ensureAgent(tx *gorm.DB, tenant TenantID, accountID string) error {
	return tx.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&Agent{TenantID: tenant, AccountID: accountID}).Error
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

// switchAt says when a switch happens and which rows it may touch.
type switchAt struct {
	// at is the instant of the change: the rows' since and the events' At.
	at time.Time
	// everywhere, going offline only, switches every project where the
	// account is online, ignoring the change's ProjectIDs.
	everywhere bool
	// notChangedAfter leaves alone rows changed after at: a scheduled switch
	// applied late must not undo a manual change made after its instant.
	notChangedAfter bool
}

// transition is one account's status change as switchProjects applies it.
type transition struct {
	tenant TenantID
	change StatusChange
	when   switchAt
}

// switchProjects is the transition primitive: it switches the accounts'
// rows in their changes' projects with conditional writes (WHERE online =
// old state), so two writers racing on one row produce one effective
// change and one event. One account's change (an agent's toggle) and a
// thousand (a schedules tick) cost the same few statements on PostgreSQL:
// the changes travel as one set of rows (see rowSet). An account may
// appear once only. It returns the events in the order of the
// transitions, each's in the order of its ProjectIDs (everywhere: by
// project), then whether an online row kept its state but got a new
// period end.
func switchProjects(tx *gorm.DB, ts []transition) ([]Event, bool, error) {
	d := Dialect(tx.Dialector.Name())
	// One row per account and project, with what to write and whether rows
	// changed after the instant are left alone (guard).
	columns := []rowColumn{
		{"tenant_id", "bigint"}, {"account_id", "text"}, {"project_id", "bigint"}, {"online", "boolean"},
		{"switch_at", "timestamptz"}, {"until", "timestamptz"}, {"source", "text"}, {"guard", "boolean"},
	}
	var (
		// Going online, without and with the guard, which an upsert holds
		// in its text.
		online = [2]rowSet{{name: "t", columns: columns}, {name: "t", columns: columns}}
		// Going offline in the projects named, and everywhere (project
		// NULL: every row of the account); apart, so that the first are
		// found by primary key.
		offline    = rowSet{name: "t", columns: columns}
		everywhere = rowSet{name: "t", columns: columns}
	)
	type account struct {
		tenant TenantID
		id     string
	}
	index := make(map[account]int, len(ts))
	for i, t := range ts {
		k := account{t.tenant, t.change.AccountID}
		if _, dup := index[k]; dup {
			return nil, false, fmt.Errorf("switch projects: account %q given twice", t.change.AccountID)
		}
		index[k] = i
		ch, at, guard := t.change, t.when.at.UTC(), t.when.notChangedAfter
		var until *time.Time
		if ch.Until != nil {
			u := ch.Until.UTC()
			until = &u
		}
		if t.when.everywhere && !ch.Online {
			everywhere.add(int64(t.tenant), ch.AccountID, nil, false, at, until, string(ch.Source), guard)
			continue
		}
		set := &offline
		if ch.Online {
			set = &online[0]
			if guard {
				set = &online[1]
			}
		}
		// In project order, once each: writers that lock an account's rows
		// in the same order cannot deadlock on them.
		for _, pid := range slices.Compact(slices.Sorted(slices.Values(ch.ProjectIDs))) {
			set.add(int64(t.tenant), ch.AccountID, pid, ch.Online, at, until, string(ch.Source), guard)
		}
	}
	// The state is compared with t's column, never a constant, so that the
	// planner reaches rows by account (primary key, ix_statuses_tenant_account)
	// rather than through every online row of a project.
	const (
		byAccount = "statuses.tenant_id = t.tenant_id AND statuses.account_id = t.account_id" +
			" AND (NOT t.guard OR statuses.since <= t.switch_at)"
		byProject = byAccount + " AND statuses.project_id = t.project_id"
	)
	type switched struct {
		TenantID  TenantID
		AccountID string
		ProjectID int64
	}
	var (
		moved bool
		done  []switched
	)
	collect := func(q string, args []any) error {
		return scanRows(tx, q, args, func(rows *sql.Rows) error {
			var r switched
			if err := rows.Scan(&r.TenantID, &r.AccountID, &r.ProjectID); err != nil {
				return err
			}
			done = append(done, r)
			return nil
		})
	}
	for guard, set := range online {
		for _, p := range set.pieces(d) {
			with, args := p.cte(d)
			// Already online: a new period end replaces the old one,
			// without an event (the state did not switch).
			res := tx.Exec("WITH "+with+` UPDATE statuses SET until = t.until FROM t
WHERE `+byProject+` AND statuses.online = t.online AND statuses.until IS DISTINCT FROM t.until`, args...)
			if res.Error != nil {
				return nil, false, res.Error
			}
			moved = moved || res.RowsAffected > 0
			// Offline is the default: a missing row is created online, an
			// offline one switched. "WHERE true" settles SQLite's parse of
			// INSERT … SELECT … ON CONFLICT.
			cond := "statuses.online <> excluded.online"
			if guard == 1 {
				cond += " AND statuses.since <= excluded.since"
			}
			if err := collect("WITH "+with+` INSERT INTO statuses (tenant_id, project_id, account_id, online, since, until, source)
SELECT tenant_id, project_id, account_id, online, switch_at, until, source FROM t WHERE true
ON CONFLICT (tenant_id, project_id, account_id) DO UPDATE
SET online = excluded.online, since = excluded.since, until = excluded.until, source = excluded.source WHERE `+cond+`
RETURNING tenant_id, account_id, project_id`, args); err != nil {
				return nil, false, err
			}
		}
	}
	for _, set := range []struct {
		rows  rowSet
		match string
	}{{offline, byProject}, {everywhere, byAccount}} {
		for _, p := range set.rows.pieces(d) {
			with, args := p.cte(d)
			if err := collect("WITH "+with+` UPDATE statuses SET online = t.online, since = t.switch_at, until = t.until, source = t.source
FROM t WHERE `+set.match+` AND statuses.online <> t.online
RETURNING statuses.tenant_id, statuses.account_id, statuses.project_id`, args); err != nil {
				return nil, false, err
			}
		}
	}
	if len(done) == 0 {
		return nil, moved, nil
	}
	// Events in the order of the transitions, then of their projects.
	pending := make([]map[int64]bool, len(ts))
	for _, r := range done {
		i := index[account{r.TenantID, r.AccountID}]
		if pending[i] == nil {
			pending[i] = map[int64]bool{}
		}
		pending[i][r.ProjectID] = true
	}
	events := make([]Event, 0, len(done))
	for i, t := range ts {
		if len(pending[i]) == 0 {
			continue
		}
		ch := t.change
		order := ch.ProjectIDs
		if t.when.everywhere && !ch.Online {
			order = slices.Sorted(maps.Keys(pending[i]))
		}
		for _, pid := range order {
			if !pending[i][pid] {
				continue // not switched, or a repeated id
			}
			delete(pending[i], pid)
			events = append(events, Event{TenantID: t.tenant, ProjectID: pid, AccountID: ch.AccountID, FromOnline: !ch.Online,
				ToOnline: ch.Online, Source: ch.Source, ActorAccountID: ch.Actor, Reason: ch.Reason, At: t.when.at.UTC()})
		}
	}
	if err := insertEventSet(tx, d, events); err != nil {
		return nil, false, err
	}
	return events, moved, nil
}

// insertEventSet inserts the events of one transition set in one statement
// on PostgreSQL and sets their ids. An event is the only one of its
// account and project in the set, which ties each id returned to its
// event.
func insertEventSet(tx *gorm.DB, d Dialect, events []Event) error {
	set := rowSet{name: "e", columns: []rowColumn{
		{"tenant_id", "bigint"}, {"project_id", "bigint"}, {"account_id", "text"}, {"from_online", "boolean"},
		{"to_online", "boolean"}, {"source", "text"}, {"actor_account_id", "text"}, {"reason", "text"}, {"at", "timestamptz"},
	}}
	type key struct {
		tenant  TenantID
		project int64
		account string
	}
	index := make(map[key]int, len(events))
	for i, e := range events {
		index[key{e.TenantID, e.ProjectID, e.AccountID}] = i
		set.add(int64(e.TenantID), e.ProjectID, e.AccountID, e.FromOnline, e.ToOnline, string(e.Source), e.ActorAccountID, e.Reason, e.At)
	}
	for _, p := range set.pieces(d) {
		with, args := p.cte(d)
		if err := scanRows(tx, "WITH "+with+` INSERT INTO events (tenant_id, project_id, account_id, from_online, to_online, source, actor_account_id, reason, at)
SELECT tenant_id, project_id, account_id, from_online, to_online, source, actor_account_id, reason, at FROM e
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
