package jira

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"agentpresence/handlers/bounded"
	"agentpresence/models"
	"agentpresence/models/schedule"
)

// ErrCannotConfirmAgent: Jira cannot be asked now whether a user is a
// support agent, and the last list it gave is too old to grant going
// online. It wraps the ErrUnavailable that caused it, and comes first
// where errors are translated.
var ErrCannotConfirmAgent = errors.New("jira: cannot confirm agent")

// API is what the directory asks of a tenant's Jira; *Client is one.
type API interface {
	ServiceDesks(ctx context.Context, site Site) ([]ServiceDesk, error)
	CheckPermissions(ctx context.Context, site Site, accountID string, global []string, projectPerms []ProjectPermissionQuery) (PermissionResult, error)
	User(ctx context.Context, site Site, accountID string) (User, error)
}

// DirectoryStore is what the directory needs of the store.
type DirectoryStore interface {
	SyncProjects(ctx context.Context, tenant models.TenantID, refs []models.ProjectRef, at time.Time) ([]models.Project, error)
	ProjectByKey(ctx context.Context, tenant models.TenantID, key string) (models.Project, error)
	SetMemberships(ctx context.Context, tenant models.TenantID, accountID string, projectIDs []int64, at time.Time) error
	Memberships(ctx context.Context, tenant models.TenantID, accountID string) ([]models.Project, *time.Time, error)
}

// DirectoryConfig is what a Directory asks through, keeps, and for how long.
type DirectoryConfig struct {
	Jira  API
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
	// PermissionTTL is how long an admin check is trusted; zero: not kept.
	// While Jira cannot be asked, a check up to MaxStale old still answers
	// (the same bound as the membership lists').
	PermissionTTL time.Duration
	// MissInterval is how often a request naming a project the store does
	// not know may make us list the tenant's service desks; zero means
	// DefaultMissInterval.
	MissInterval time.Duration
}

// Defaults of the bound on stale membership lists: a revoked agent can go
// online for at most DefaultGrantTTL while Jira answers, DefaultMaxStale
// while it does not.
const (
	DefaultGrantTTL = time.Minute
	DefaultMaxStale = 15 * time.Minute
)

// DefaultMissInterval bounds the Jira calls that unknown project keys and
// desks cost: one listing per tenant and minute, however many arrive.
const DefaultMissInterval = time.Minute

// Bounds of the directory's memory: the admin checks by their bytes (an
// entry is under 300 bytes: some 50,000 or more), and one listing per
// tenant.
const (
	maxPermBytes   = 16 << 20
	maxMissEntries = 100_000
	permOverhead   = 96
)

// Directory answers "which projects is this user an agent of" and "may
// this user administer that project", asking Jira as the app and keeping
// the answers briefly. Memberships are stored too, so that jobs act on the
// last known list without a request.
//
// Its errors are the domain's: ErrUnavailable when Jira did not answer a
// question, ErrCannotConfirmAgent when that keeps an agent from going
// online, the store's sentinels, and the caller's cancellation as is.
type Directory struct {
	cfg DirectoryConfig

	perms  *bounded.Cache[permKey, permEntry] // nil when PermissionTTL is 0
	misses *bounded.Cache[models.TenantID, *missSync]

	// flight coalesces identical questions to Jira asked at once (per
	// tenant and call); inval and gen drop what a tenant's events or a
	// refusal by Jira made doubtful (directory_resilience.go).
	flight singleflight.Group
	inval  *bounded.Cache[models.TenantID, invalidation]
	gen    atomic.Uint64
}

// NewDirectory builds a directory; zero durations take their defaults.
func NewDirectory(cfg DirectoryConfig) *Directory {
	cfg.GrantTTL = orDefault(cfg.GrantTTL, DefaultGrantTTL)
	cfg.MaxStale = orDefault(cfg.MaxStale, DefaultMaxStale)
	cfg.MissInterval = orDefault(cfg.MissInterval, DefaultMissInterval)
	d := &Directory{cfg: cfg,
		misses: bounded.New(bounded.Config[models.TenantID, *missSync]{MaxWeight: maxMissEntries, TTL: cfg.MissInterval, Now: cfg.Now}),
		inval:  bounded.New(bounded.Config[models.TenantID, invalidation]{MaxWeight: maxInvalidations, TTL: invalidationTTL(cfg), Now: cfg.Now})}
	if cfg.PermissionTTL > 0 {
		weigh := func(k permKey, _ permEntry) uint32 { return uint32(len(k.account) + len(k.project) + permOverhead) }
		// Kept for MaxStale: the last answer serves while Jira is away.
		d.perms = bounded.New(bounded.Config[permKey, permEntry]{MaxWeight: maxPermBytes, Weigh: weigh,
			TTL: max(cfg.PermissionTTL, cfg.MaxStale), Now: cfg.Now})
	}
	return d
}

// missSync is the last listing of a tenant's service desks that a miss
// caused: when it started, and, once done is closed, how it ended.
type missSync struct {
	at   time.Time
	done chan struct{}
	err  error
}

// permKey's strings were checked: an account id from a verified token, a
// project's Jira id from the store.
type permKey struct {
	tenant  models.TenantID
	account string
	project string
}

type permEntry struct {
	jiraAdmin, projectAdmin bool
	// at is when Jira answered; gen orders it against invalidations.
	at  time.Time
	gen uint64
}

// Jira permission keys we ask about.
const (
	permAgent        = "SERVICEDESK_AGENT"
	permJiraAdmin    = "ADMINISTER"
	permProjectAdmin = "ADMINISTER_PROJECTS"
)

func siteOf(t models.Tenant) Site {
	if t.IsForge() {
		return forgeSiteOf(t)
	}
	return Site{BaseURL: t.BaseURL, SharedSecret: t.SharedSecret}
}

// AgentProjects returns the projects where the user is a support agent.
// A fresh stored answer is used as is; a stale one is refreshed from Jira,
// and kept when Jira cannot be reached.
func (d *Directory) AgentProjects(ctx context.Context, t models.Tenant, accountID string) ([]models.Project, error) {
	stored, checked, err := d.cfg.Store.Memberships(ctx, t.ID, accountID)
	if err != nil {
		return nil, err
	}
	if d.trusted(t.ID, checked, d.cfg.Now(), d.cfg.MembershipTTL) {
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
// still grants, an older one fails with ErrCannotConfirmAgent. Going
// offline and reading need no such bound and use AgentProjects.
func (d *Directory) AgentProjectsToGoOnline(ctx context.Context, t models.Tenant, accountID string) ([]models.Project, error) {
	stored, checked, err := d.cfg.Store.Memberships(ctx, t.ID, accountID)
	if err != nil {
		return nil, err
	}
	now := d.cfg.Now()
	if d.trusted(t.ID, checked, now, d.cfg.GrantTTL) {
		return stored, nil
	}
	fresh, err := d.refresh(ctx, t, accountID)
	switch {
	case err == nil:
		return fresh, nil
	case !errors.Is(err, ErrUnavailable):
		return nil, err // the store, or the client gone
	case d.trusted(t.ID, checked, now, d.cfg.MaxStale) && !errors.Is(err, ErrUnauthorized):
		return stored, nil // Jira is away briefly: the recent list still holds
	}
	return nil, fmt.Errorf("confirm agent: %w: %w", ErrCannotConfirmAgent, err)
}

// trusted tells whether a membership list checked with Jira at checked
// (nil: never) is younger than ttl at now and not in doubt.
func (d *Directory) trusted(tenant models.TenantID, checked *time.Time, now time.Time, ttl time.Duration) bool {
	return checked != nil && now.Sub(*checked) < ttl && !d.doubtful(tenant, *checked)
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
	desks, err := shared(ctx, d, flightKey("desks", t.ID), func(ctx context.Context) ([]ServiceDesk, error) {
		return d.cfg.Jira.ServiceDesks(ctx, siteOf(t))
	})
	if err != nil {
		d.refused(t.ID, err)
		return nil, nil, unanswered("list service desks", err)
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
	projects, err := d.cfg.Store.SyncProjects(ctx, t.ID, refs, d.cfg.Now())
	if err != nil {
		return nil, nil, err
	}
	return projects, ids, nil
}

// refresh asks Jira for the user's projects and stores the list; callers
// asking the same at once share one question.
func (d *Directory) refresh(ctx context.Context, t models.Tenant, accountID string) ([]models.Project, error) {
	return shared(ctx, d, flightKey("agent", t.ID, accountID), func(ctx context.Context) ([]models.Project, error) {
		// A caller that found the list old while an earlier refresh was on
		// its way can start this one just after that refresh ended: the
		// list it stored serves, if fresh enough for every caller.
		stored, checked, err := d.cfg.Store.Memberships(ctx, t.ID, accountID)
		if err != nil {
			return nil, err
		}
		if d.trusted(t.ID, checked, d.cfg.Now(), min(d.cfg.GrantTTL, d.cfg.MembershipTTL)) {
			return stored, nil
		}
		return d.refreshNow(ctx, t, accountID)
	})
}

func (d *Directory) refreshNow(ctx context.Context, t models.Tenant, accountID string) ([]models.Project, error) {
	projects, ids, err := d.SyncProjects(ctx, t)
	if err != nil {
		return nil, err
	}
	var agentOf []models.Project
	if len(ids) > 0 {
		res, err := d.cfg.Jira.CheckPermissions(ctx, siteOf(t), accountID, nil,
			[]ProjectPermissionQuery{{Permissions: []string{permAgent}, Projects: ids}})
		if err != nil {
			d.refused(t.ID, err)
			return nil, unanswered("check agent permission", err)
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
	if err := d.cfg.Store.SetMemberships(ctx, t.ID, accountID, pids, d.cfg.Now()); err != nil {
		return nil, err
	}
	return agentOf, nil
}

// Project finds one of the tenant's projects by key; a key we have not
// seen yet makes us ask Jira for the site's service desks, at most once per
// MissInterval per tenant (RefreshOnMiss).
func (d *Directory) Project(ctx context.Context, t models.Tenant, key string) (models.Project, error) {
	p, err := d.cfg.Store.ProjectByKey(ctx, t.ID, key)
	if !errors.Is(err, models.ErrNotFound) {
		return p, err
	}
	if err := d.RefreshOnMiss(ctx, t); err != nil {
		return models.Project{}, err
	}
	return d.cfg.Store.ProjectByKey(ctx, t.ID, key)
}

// RefreshOnMiss lists the tenant's service desks from Jira because a
// request named a project (by key or desk) the store does not know. A
// project created in Jira is found that way; but keys and desk ids come
// from requests, so a flood of unknown ones must not cost a Jira call each:
// within MissInterval of the last listing, a miss waits for that listing
// (if it is still running) and answers as it did, without asking again.
func (d *Directory) RefreshOnMiss(ctx context.Context, t models.Tenant) error {
	for {
		now := d.cfg.Now()
		var started *missSync
		m, _ := d.misses.Compute(t.ID, func(last *missSync, found bool) (*missSync, bounded.Op) {
			if found && now.Sub(last.at) < d.cfg.MissInterval {
				return last, bounded.Leave
			}
			started = &missSync{at: now, done: make(chan struct{})}
			return started, bounded.Write
		})
		if m == started {
			_, _, m.err = d.SyncProjects(ctx, t)
			if errors.Is(m.err, context.Canceled) {
				// This caller left; that says nothing about Jira, so the
				// next miss asks again.
				d.misses.Compute(t.ID, func(last *missSync, found bool) (*missSync, bounded.Op) {
					if found && last == m {
						return nil, bounded.Drop
					}
					return last, bounded.Leave
				})
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
	e, err := d.permissions(ctx, permKey{tenant: t.ID, account: accountID, project: p.JiraID}, func(ctx context.Context) (permEntry, error) {
		res, err := d.cfg.Jira.CheckPermissions(ctx, siteOf(t), accountID, []string{permJiraAdmin},
			[]ProjectPermissionQuery{{Permissions: []string{permProjectAdmin}, Projects: []int64{id}}})
		if err != nil {
			return permEntry{}, unanswered("check admin permissions", err)
		}
		return permEntry{jiraAdmin: res.HasGlobal(permJiraAdmin), projectAdmin: res.HasProject(permProjectAdmin, id)}, nil
	})
	return e.jiraAdmin, e.projectAdmin, err
}

// JiraAdmin tells whether the user is a Jira administrator.
func (d *Directory) JiraAdmin(ctx context.Context, t models.Tenant, accountID string) (bool, error) {
	e, err := d.permissions(ctx, permKey{tenant: t.ID, account: accountID}, func(ctx context.Context) (permEntry, error) {
		res, err := d.cfg.Jira.CheckPermissions(ctx, siteOf(t), accountID, []string{permJiraAdmin}, nil)
		if err != nil {
			return permEntry{}, unanswered("check admin permission", err)
		}
		return permEntry{jiraAdmin: res.HasGlobal(permJiraAdmin)}, nil
	})
	return e.jiraAdmin, err
}

// unanswered marks a failed question to Jira as ErrUnavailable: whatever
// went wrong (an outage, a refusal, an answer we cannot read), the client
// may retry; the cause is kept for the log. The caller's own cancellation
// is not Jira's doing and stays as it is.
func unanswered(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// UserZone is the time zone of the user's Jira profile, or "" when Jira
// does not say (or is not reachable: the caller then falls back).
func (d *Directory) UserZone(ctx context.Context, t models.Tenant, accountID string) string {
	u, err := d.cfg.Jira.User(ctx, siteOf(t), accountID)
	if err != nil {
		return ""
	}
	if _, err := schedule.LoadLocation(u.TimeZone); err != nil {
		return ""
	}
	return u.TimeZone
}
