package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"agentpresence/handlers/jira"
	"agentpresence/models"
	"agentpresence/models/schedule"
)

// JiraAPI is what the service asks of a tenant's Jira.
type JiraAPI interface {
	ServiceDesks(ctx context.Context, site jira.Site) ([]jira.ServiceDesk, error)
	CheckPermissions(ctx context.Context, site jira.Site, accountID string, global []string, projectPerms []jira.ProjectPermissionQuery) (jira.PermissionResult, error)
	User(ctx context.Context, site jira.Site, accountID string) (jira.User, error)
}

// DirectoryStore is what the directory needs of the store.
type DirectoryStore interface {
	SyncProjects(ctx context.Context, tenant models.TenantID, refs []models.ProjectRef, at time.Time) ([]models.Project, error)
	ProjectByKey(ctx context.Context, tenant models.TenantID, key string) (models.Project, error)
	Projects(ctx context.Context, tenant models.TenantID) ([]models.Project, error)
	SetMemberships(ctx context.Context, tenant models.TenantID, accountID string, projectIDs []int64, at time.Time) error
	Memberships(ctx context.Context, tenant models.TenantID, accountID string) ([]models.Project, *time.Time, error)
}

// Directory answers "which projects is this user an agent of" and "may
// this user administer that project", asking Jira as the app and keeping
// the answers briefly. Memberships are stored too, so that jobs act on the
// last known list without a request.
type Directory struct {
	Jira  JiraAPI
	Store DirectoryStore
	Now   func() time.Time
	// MembershipTTL is how long a stored membership list is trusted for
	// reading (counts, /me, streams); past it the list is asked of Jira
	// again, and kept when Jira cannot answer.
	MembershipTTL time.Duration
	// GrantTTL is how old a stored list may be and still let its agent go
	// online without asking Jira again; zero means DefaultGrantTTL.
	GrantTTL time.Duration
	// MaxStale is how old a stored list may be and still let its agent go
	// online while Jira cannot be asked; zero means DefaultMaxStale.
	MaxStale time.Duration
	// PermissionTTL is how long an admin check is trusted.
	PermissionTTL time.Duration
	// MissInterval is how often a request naming a project the store does
	// not know may make us list the tenant's service desks; zero means
	// DefaultMissInterval.
	MissInterval time.Duration

	mu     sync.Mutex
	perms  map[permKey]permEntry
	misses map[models.TenantID]*missSync
}

// missSync is the last listing of a tenant's service desks that a miss
// caused: when it started, and, once done is closed, how it ended.
type missSync struct {
	at   time.Time
	done chan struct{}
	err  error
}

// DefaultMissInterval bounds the Jira calls that unknown project keys and
// desks cost: one listing per tenant and minute, however many arrive.
const DefaultMissInterval = time.Minute

// maxMissEntries bounds the remembered listings (one per tenant); past it,
// they start afresh.
const maxMissEntries = 100_000

// Defaults of the bound on stale membership lists: a revoked agent can go
// online for at most DefaultGrantTTL while Jira answers, DefaultMaxStale
// while it does not.
const (
	DefaultGrantTTL = time.Minute
	DefaultMaxStale = 15 * time.Minute
)

type permKey struct {
	tenant  models.TenantID
	account string
	project string
}

type permEntry struct {
	jiraAdmin, projectAdmin bool
	expires                 time.Time
}

// Jira permission keys we ask about.
const (
	permAgent        = "SERVICEDESK_AGENT"
	permJiraAdmin    = "ADMINISTER"
	permProjectAdmin = "ADMINISTER_PROJECTS"
)

func site(t models.Tenant) jira.Site {
	return jira.Site{BaseURL: t.BaseURL, SharedSecret: t.SharedSecret}
}

// AgentProjects returns the projects where the user is a support agent.
// A fresh stored answer is used as is; a stale one is refreshed from Jira,
// and kept when Jira cannot be reached.
func (d *Directory) AgentProjects(ctx context.Context, t models.Tenant, accountID string) ([]models.Project, error) {
	stored, checked, err := d.Store.Memberships(ctx, t.ID, accountID)
	if err != nil {
		return nil, err
	}
	if checked != nil && d.Now().Sub(*checked) < d.MembershipTTL {
		return stored, nil
	}
	fresh, err := d.refresh(ctx, t, accountID)
	if err != nil {
		if checked != nil {
			return stored, nil // Jira is away: the last known list is the best answer
		}
		return nil, err
	}
	return fresh, nil
}

// AgentProjectsToGoOnline is AgentProjects for granting a right (going
// online): the list must have come from Jira less than GrantTTL ago, else
// it is asked again; when Jira cannot answer, a list younger than MaxStale
// still grants, an older one answers 503 cannot_confirm_agent. Going
// offline and reading need no such bound and use AgentProjects.
func (d *Directory) AgentProjectsToGoOnline(ctx context.Context, t models.Tenant, accountID string) ([]models.Project, error) {
	stored, checked, err := d.Store.Memberships(ctx, t.ID, accountID)
	if err != nil {
		return nil, err
	}
	now := d.Now()
	if checked != nil && now.Sub(*checked) < orDefault(d.GrantTTL, DefaultGrantTTL) {
		return stored, nil
	}
	fresh, err := d.refresh(ctx, t, accountID)
	var apiErr *APIError
	switch {
	case err == nil:
		return fresh, nil
	case !errors.As(err, &apiErr) || apiErr.Code != codeJiraUnavailable:
		return nil, err // the store, or the client gone
	case checked != nil && now.Sub(*checked) < orDefault(d.MaxStale, DefaultMaxStale):
		return stored, nil // Jira is away briefly: the recent list still holds
	}
	return nil, fmt.Errorf("confirm agent: %w: %w", &APIError{Status: http.StatusServiceUnavailable, Code: "cannot_confirm_agent",
		Message: "Jira cannot confirm now that you are a support agent, so you cannot go online; try again shortly",
		Header:  map[string]string{"Retry-After": "30"}}, err)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// SyncProjects records the tenant's service desk projects as Jira lists
// them now, and returns them with the ids Jira uses in permission checks.
func (d *Directory) SyncProjects(ctx context.Context, t models.Tenant) ([]models.Project, []int64, error) {
	desks, err := d.Jira.ServiceDesks(ctx, site(t))
	if err != nil {
		return nil, nil, jiraFailure("list service desks", err)
	}
	refs := make([]models.ProjectRef, 0, len(desks))
	ids := make([]int64, 0, len(desks))
	for _, sd := range desks {
		id, err := sd.NumericProjectID()
		if err != nil {
			continue
		}
		refs = append(refs, models.ProjectRef{JiraID: sd.ProjectID, ServiceDeskID: sd.ID, Key: sd.ProjectKey, Name: sd.ProjectName})
		ids = append(ids, id)
	}
	projects, err := d.Store.SyncProjects(ctx, t.ID, refs, d.Now())
	if err != nil {
		return nil, nil, err
	}
	return projects, ids, nil
}

func (d *Directory) refresh(ctx context.Context, t models.Tenant, accountID string) ([]models.Project, error) {
	projects, ids, err := d.SyncProjects(ctx, t)
	if err != nil {
		return nil, err
	}
	var agentOf []models.Project
	if len(ids) > 0 {
		res, err := d.Jira.CheckPermissions(ctx, site(t), accountID, nil,
			[]jira.ProjectPermissionQuery{{Permissions: []string{permAgent}, Projects: ids}})
		if err != nil {
			return nil, jiraFailure("check agent permission", err)
		}
		for _, p := range projects {
			if id, err := strconv.ParseInt(p.JiraID, 10, 64); err == nil && res.HasProject(permAgent, id) {
				agentOf = append(agentOf, p)
			}
		}
	}
	pids := make([]int64, 0, len(agentOf))
	for _, p := range agentOf {
		pids = append(pids, p.ID)
	}
	if err := d.Store.SetMemberships(ctx, t.ID, accountID, pids, d.Now()); err != nil {
		return nil, err
	}
	return agentOf, nil
}

// Project finds one of the tenant's projects by key; a key we have not
// seen yet makes us ask Jira for the site's service desks, at most once per
// MissInterval per tenant (RefreshOnMiss).
func (d *Directory) Project(ctx context.Context, t models.Tenant, key string) (models.Project, error) {
	p, err := d.Store.ProjectByKey(ctx, t.ID, key)
	if !errors.Is(err, models.ErrNotFound) {
		return p, err
	}
	if err := d.RefreshOnMiss(ctx, t); err != nil {
		return models.Project{}, err
	}
	return d.Store.ProjectByKey(ctx, t.ID, key)
}

// RefreshOnMiss lists the tenant's service desks from Jira because a
// request named a project (by key or desk) the store does not know. A
// project created in Jira is found that way; but keys and desk ids come
// from requests, so a flood of unknown ones must not cost a Jira call each:
// within MissInterval of the last listing, a miss waits for that listing
// (if it is still running) and answers as it did, without asking again.
func (d *Directory) RefreshOnMiss(ctx context.Context, t models.Tenant) error {
	for {
		now := d.Now()
		d.mu.Lock()
		m, ok := d.misses[t.ID]
		recent := ok && now.Sub(m.at) < orDefault(d.MissInterval, DefaultMissInterval)
		if !recent {
			if d.misses == nil || len(d.misses) >= maxMissEntries {
				d.misses = make(map[models.TenantID]*missSync)
			}
			m = &missSync{at: now, done: make(chan struct{})}
			d.misses[t.ID] = m
		}
		d.mu.Unlock()
		if !recent {
			_, _, m.err = d.SyncProjects(ctx, t)
			if errors.Is(m.err, context.Canceled) {
				// This caller left; that says nothing about Jira, so the
				// next miss asks again.
				d.mu.Lock()
				if d.misses[t.ID] == m {
					delete(d.misses, t.ID)
				}
				d.mu.Unlock()
			}
			close(m.done)
			return m.err
		}
		select {
		case <-m.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !errors.Is(m.err, context.Canceled) {
			return m.err
		}
		// The listing we waited for was given up by its caller: try anew.
	}
}

// Admin tells whether the user is Jira administrator and administrator of
// the project, as Jira says now (cached for PermissionTTL). Both are needed
// to put another agent offline.
func (d *Directory) Admin(ctx context.Context, t models.Tenant, accountID string, p models.Project) (jiraAdmin, projectAdmin bool, err error) {
	id, err := strconv.ParseInt(p.JiraID, 10, 64)
	if err != nil {
		return false, false, fmt.Errorf("admin check: project id %q: %w", p.JiraID, err)
	}
	e, err := d.permissions(permKey{tenant: t.ID, account: accountID, project: p.JiraID}, func() (permEntry, error) {
		res, err := d.Jira.CheckPermissions(ctx, site(t), accountID, []string{permJiraAdmin},
			[]jira.ProjectPermissionQuery{{Permissions: []string{permProjectAdmin}, Projects: []int64{id}}})
		if err != nil {
			return permEntry{}, jiraFailure("check admin permissions", err)
		}
		return permEntry{jiraAdmin: res.HasGlobal(permJiraAdmin), projectAdmin: res.HasProject(permProjectAdmin, id)}, nil
	})
	return e.jiraAdmin, e.projectAdmin, err
}

// JiraAdmin tells whether the user is a Jira administrator.
func (d *Directory) JiraAdmin(ctx context.Context, t models.Tenant, accountID string) (bool, error) {
	e, err := d.permissions(permKey{tenant: t.ID, account: accountID}, func() (permEntry, error) {
		res, err := d.Jira.CheckPermissions(ctx, site(t), accountID, []string{permJiraAdmin}, nil)
		if err != nil {
			return permEntry{}, jiraFailure("check admin permission", err)
		}
		return permEntry{jiraAdmin: res.HasGlobal(permJiraAdmin)}, nil
	})
	return e.jiraAdmin, err
}

// maxPermEntries bounds the permission cache; past it, it starts afresh.
const maxPermEntries = 100_000

// permissions answers from the cache while fresh, else asks Jira through
// ask and keeps the answer for PermissionTTL.
func (d *Directory) permissions(key permKey, ask func() (permEntry, error)) (permEntry, error) {
	now := d.Now()
	d.mu.Lock()
	e, ok := d.perms[key]
	d.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	e, err := ask()
	if err != nil {
		return permEntry{}, err
	}
	e.expires = now.Add(d.PermissionTTL)
	d.mu.Lock()
	if d.perms == nil || len(d.perms) >= maxPermEntries {
		d.perms = make(map[permKey]permEntry)
	}
	d.perms[key] = e
	d.mu.Unlock()
	return e, nil
}

// codeJiraUnavailable is the error code of a question Jira did not answer.
const codeJiraUnavailable = "jira_unavailable"

// jiraFailure turns a failed call to Jira into a 502 the client may retry;
// the cause is kept for the log.
func jiraFailure(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w: %w", op, &APIError{Status: http.StatusBadGateway, Code: codeJiraUnavailable,
		Message: "Jira did not answer our question about permissions; try again", Header: map[string]string{"Retry-After": "5"}}, err)
}

// UserZone is the time zone of the user's Jira profile, or "" when Jira
// does not say (or is not reachable: the caller then falls back).
func (d *Directory) UserZone(ctx context.Context, t models.Tenant, accountID string) string {
	u, err := d.Jira.User(ctx, site(t), accountID)
	if err != nil {
		return ""
	}
	if _, err := schedule.LoadLocation(u.TimeZone); err != nil {
		return ""
	}
	return u.TimeZone
}
