package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
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
// writes nothing.
func (s *Store) SyncProjects(ctx context.Context, tenant TenantID, refs []ProjectRef) ([]Project, error) {
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
		announce, err = syncProjects(tx, tenant, refs, s.Now())
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

// UpdateProjectSettings replaces a project's widget settings.
func (s *Store) UpdateProjectSettings(ctx context.Context, tenant TenantID, projectID int64, ps ProjectSettings) (Project, error) {
	origins := ps.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return s.updateProject(ctx, "update project settings", tenant, projectID, func(q *gorm.DB) *gorm.DB {
		return q.Select("widget_enabled", "unavailable_message", "allowed_origins", "updated_at").
			Updates(&Project{WidgetEnabled: ps.WidgetEnabled, UnavailableMessage: ps.UnavailableMessage,
				AllowedOrigins: origins, UpdatedAt: s.Now()})
	})
}

// RotateWidget gives the project a new widget id; the old one stops working.
func (s *Store) RotateWidget(ctx context.Context, tenant TenantID, projectID int64) (Project, error) {
	wid, err := newWidgetID()
	if err != nil {
		return Project{}, err
	}
	return s.updateProject(ctx, "rotate widget", tenant, projectID, func(q *gorm.DB) *gorm.DB {
		return q.Updates(map[string]any{"widget_id": wid, "updated_at": s.Now()})
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
// as Jira just told us, and remembers when.
func (s *Store) SetMemberships(ctx context.Context, tenant TenantID, accountID string, projectIDs []int64) error {
	now := s.Now()
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

// SetStatus applies a change in one transaction. Each project's row is
// switched by a conditional update (WHERE online = old state), so two tabs
// toggling at once, or a toggle racing a job, end in one state with one
// event per effective change. It returns the events written; a no-op
// writes none.
func (s *Store) SetStatus(ctx context.Context, tenant TenantID, ch StatusChange) ([]Event, error) {
	if !ch.Source.Valid() || ch.AccountID == "" {
		return nil, fmt.Errorf("set status: %w: account and a known source are required", ErrInvalid)
	}
	if !ch.Online && ch.Until != nil {
		return nil, fmt.Errorf("set status: %w: an end time goes only with online", ErrInvalid)
	}
	now := s.Now()
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
		events, untilMoved, err = switchProjects(tx, tenant, ch, switchAt{at: now})
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

// switchProjects switches an account's rows in the change's projects with
// conditional updates (WHERE online = old state), so two writers racing on
// one row produce one effective change and one event. It costs a fixed
// number of statements whatever the number of projects, and returns the
// events in the order of ch.ProjectIDs, then whether an online row kept its
// state but got a new period end.
func switchProjects(tx *gorm.DB, tenant TenantID, ch StatusChange, w switchAt) ([]Event, bool, error) {
	at := w.at.UTC()
	if ch.Until != nil {
		u := ch.Until.UTC()
		ch.Until = &u
	}
	moved := false
	all := w.everywhere && !ch.Online
	if len(ch.ProjectIDs) == 0 && !all {
		return nil, false, nil
	}
	scope := func(q string) (string, []any) {
		args := []any{tenant, ch.AccountID}
		q += " WHERE tenant_id = ? AND account_id = ?"
		if !all {
			q += " AND project_id IN ?"
			args = append(args, ch.ProjectIDs)
		}
		if w.notChangedAfter {
			q += " AND since <= ?"
			args = append(args, at)
		}
		return q, args
	}
	if ch.Online {
		// The row exists from the first change on; offline is the default.
		rows := make([]Status, 0, len(ch.ProjectIDs))
		for _, pid := range ch.ProjectIDs {
			rows = append(rows, Status{TenantID: tenant, ProjectID: pid, AccountID: ch.AccountID, Online: false, Since: at, Source: ch.Source})
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
			return nil, false, err
		}
		// Already online: a new period end replaces the old one, without
		// an event (the state did not switch).
		q, args := scope("UPDATE statuses SET until = ?")
		res := tx.Exec(q+" AND online = ? AND until IS DISTINCT FROM ?", append(append([]any{ch.Until}, args...), true, ch.Until)...)
		if res.Error != nil {
			return nil, false, res.Error
		}
		moved = res.RowsAffected > 0
	}
	q, args := scope("UPDATE statuses SET online = ?, since = ?, until = ?, source = ?")
	var switched []int64
	if err := tx.Raw(q+" AND online = ? RETURNING project_id",
		append(append([]any{ch.Online, at, ch.Until, ch.Source}, args...), !ch.Online)...).Scan(&switched).Error; err != nil {
		return nil, false, err
	}
	if len(switched) == 0 {
		return nil, moved, nil
	}
	order := ch.ProjectIDs
	if all {
		order = switched
		slices.Sort(order)
	}
	pending := make(map[int64]bool, len(switched))
	for _, pid := range switched {
		pending[pid] = true
	}
	events := make([]Event, 0, len(switched))
	for _, pid := range order {
		if !pending[pid] {
			continue // not switched, or a repeated id
		}
		delete(pending, pid)
		events = append(events, Event{TenantID: tenant, ProjectID: pid, AccountID: ch.AccountID, FromOnline: !ch.Online,
			ToOnline: ch.Online, Source: ch.Source, ActorAccountID: ch.Actor, Reason: ch.Reason, At: at})
	}
	if err := tx.Create(&events).Error; err != nil {
		return nil, false, err
	}
	return events, moved, nil
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
