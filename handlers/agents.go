package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
	"agentpresence/models"
)

// PresenceStore is what the agent API needs of the store.
type PresenceStore interface {
	ProjectByKey(ctx context.Context, tenant models.TenantID, key string) (models.Project, error)
	SetOwnStatus(ctx context.Context, tenant models.TenantID, ch models.OwnChange, at time.Time) ([]models.Event, error)
	PutOffline(ctx context.Context, tenant models.TenantID, ch models.AdminOffline, at time.Time) ([]models.Event, error)
	Statuses(ctx context.Context, tenant models.TenantID, accountID string) ([]models.Status, error)
	OnlineAgents(ctx context.Context, tenant models.TenantID, projectID int64) ([]models.Status, error)
	AwayAgents(ctx context.Context, tenant models.TenantID, projectID int64) ([]models.Status, error)
	ProjectCounts(ctx context.Context, tenant models.TenantID, projectIDs []int64) ([]models.ProjectCount, error)
	Memberships(ctx context.Context, tenant models.TenantID, accountID string) ([]models.Project, *time.Time, error)
	LastActivity(ctx context.Context, tenant models.TenantID, accountID string) (*time.Time, error)
}

// ActivityRecorder takes note that an agent is active now; it coalesces
// the notes in memory and writes them in batches.
type ActivityRecorder interface {
	Touch(tenant models.TenantID, accountID string, at time.Time)
}

// Agents is the agent-facing API, called by our pages with context tokens.
type Agents struct {
	Store     PresenceStore
	Directory *jira.Directory
	Activity  ActivityRecorder
	Now       func() time.Time
	Log       *slog.Logger

	// cache holds recent GET /me answers; nil turns it off.
	cache *MeCache
	// statusChanges bounds each agent's status changes; nil: no bound.
	statusChanges *statusLimiter
}

// projectState is one project as the caller sees it.
type projectState struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	// Online is State == "online", as the API said it before away.
	Online     bool       `json:"online"`
	State      string     `json:"state"`
	AwayReason string     `json:"awayReason,omitempty"`
	Since      *time.Time `json:"since,omitempty"`
	Until      *time.Time `json:"until,omitempty"`
	Source     string     `json:"source,omitempty"`
	// ChangedBy and ChangeReason say who (an administrator) and why the
	// last change (at Since, by Source) happened, for the agent to be told.
	ChangedBy    string `json:"changedBy,omitempty"`
	ChangeReason string `json:"changeReason,omitempty"`
	// OnlineCount and AwayCount count the project's agents online and away.
	OnlineCount int `json:"onlineCount"`
	AwayCount   int `json:"awayCount"`
}

// meResponse answers GET /api/v1/me and PUT /api/v1/me/status.
type meResponse struct {
	AccountID string `json:"accountId"`
	// Project is the page's current project (null when not given).
	Project *projectState `json:"project"`
	// IsAgent tells whether the caller is a support agent of Project.
	IsAgent  bool           `json:"isAgent"`
	Projects []projectState `json:"projects"`
	// CanPutOthersOffline is true for Jira admins who administer Project.
	CanPutOthersOffline bool `json:"canPutOthersOffline"`
	// AutoOfflineAt is when inactivity puts the caller offline, as of the
	// answer (null: the tenant has no limit, or the caller is online and
	// away nowhere); AutoOfflineMinutes is the tenant's limit (0: never).
	// The pages warn a minute before; the answer's Date header is the
	// server's clock, against which they read it.
	AutoOfflineAt      *time.Time `json:"autoOfflineAt"`
	AutoOfflineMinutes int        `json:"autoOfflineMinutes"`
}

// statusRequest is the body of PUT /api/v1/me/status: online (true or
// false), or state ("online", "away", "offline"), which says more; both
// may be given when they agree.
type statusRequest struct {
	Online          *bool   `json:"online"`
	State           string  `json:"state"`
	Reason          *string `json:"reason"`
	Scope           string  `json:"scope"`
	Project         string  `json:"project"`
	DurationMinutes *int    `json:"durationMinutes"`
}

// state is the state asked for, checked at the edge.
func (r statusRequest) state() (models.State, error) {
	if r.State == "" {
		if r.Online == nil {
			return "", fieldError("online", "field.required_bool_unless_state", nil)
		}
		return models.StateFor(*r.Online), nil
	}
	s := models.State(r.State)
	if !s.Valid() {
		return "", fieldError("state", "field.state", nil)
	}
	if r.Online != nil && models.StateFor(*r.Online) != s && (*r.Online || s == models.StateOnline) {
		return "", fieldError("online", "field.disagrees_with_state", nil)
	}
	return s, nil
}

// maxDurationMinutes is the longest "online for" period: one day.
const maxDurationMinutes = 1440

// Me answers the caller's state, from the answer cache when nothing of the
// tenant changed since it was computed.
func (a *Agents) Me(c echo.Context) error {
	t, account := tenantOf(c), accountOf(c)
	if account == "" {
		return unauthorized("no_user", "the token does not name a user")
	}
	key := meKey{tenant: t.ID, account: account, project: c.QueryParam("project")}
	if a.cache != nil {
		if body, ok := a.cache.get(key); ok {
			return c.JSONBlob(http.StatusOK, body)
		}
	}
	var stamp meStamp
	if a.cache != nil {
		stamp = a.cache.stamp(t.ID)
	}
	resp, err := a.me(c, key.project)
	if err != nil {
		return err
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode me: %w", err)
	}
	if a.cache != nil {
		a.cache.put(key, stamp, body)
	}
	return c.JSONBlob(http.StatusOK, body)
}

// renderMe answers the caller's state computed now.
func (a *Agents) renderMe(c echo.Context, projectKey string) error {
	resp, err := a.me(c, projectKey)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func (a *Agents) me(c echo.Context, projectKey string) (meResponse, error) {
	ctx, t, account := c.Request().Context(), tenantOf(c), accountOf(c)
	if account == "" {
		return meResponse{}, unauthorized("no_user", "the token does not name a user")
	}
	mine, err := a.Directory.AgentProjects(ctx, t, account)
	if err != nil {
		return meResponse{}, err
	}
	statuses, err := a.Store.Statuses(ctx, t.ID, account)
	if err != nil {
		return meResponse{}, err
	}
	byProject := make(map[int64]models.Status, len(statuses))
	for _, s := range statuses {
		byProject[s.ProjectID] = s
	}
	// The page's project, when it is not one of the caller's, is looked up
	// too; then every count comes from one grouped query.
	var current *models.Project
	for i := range mine {
		if mine[i].Key == projectKey {
			current = &mine[i]
		}
	}
	if current == nil && projectKey != "" {
		p, err := a.Store.ProjectByKey(ctx, t.ID, projectKey)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return meResponse{}, err
		}
		if err == nil {
			current = &p
		}
	}
	ids := make([]int64, 0, len(mine)+1)
	for _, p := range mine {
		ids = append(ids, p.ID)
	}
	if current != nil {
		ids = append(ids, current.ID)
	}
	counts, err := a.Store.ProjectCounts(ctx, t.ID, ids)
	if err != nil {
		return meResponse{}, err
	}
	count := make(map[int64]models.ProjectCount, len(counts))
	for _, pc := range counts {
		count[pc.ProjectID] = pc
	}
	resp := meResponse{AccountID: account, Projects: make([]projectState, 0, len(mine))}
	for _, p := range mine {
		resp.Projects = append(resp.Projects, state(p, count[p.ID], byProject))
		if p.Key == projectKey {
			resp.IsAgent = true
		}
	}
	if current != nil {
		ps := state(*current, count[current.ID], byProject)
		resp.Project = &ps
		jiraAdmin, projectAdmin, err := a.Directory.Admin(ctx, t, account, *current)
		if err != nil {
			// The state is still worth showing; without an answer from
			// Jira the door stays closed.
			a.Log.WarnContext(ctx, "admin check failed", "tenant", t.ID, "err", err)
		}
		resp.CanPutOthersOffline = err == nil && jiraAdmin && projectAdmin
	}
	if resp.AutoOfflineMinutes = t.AutoOfflineMinutes; t.AutoOfflineMinutes > 0 && present(statuses) {
		last, err := a.Store.LastActivity(ctx, t.ID, account)
		if err != nil {
			return meResponse{}, err
		}
		resp.AutoOfflineAt = models.AutoOfflineAt(statuses, last, time.Duration(t.AutoOfflineMinutes)*time.Minute)
	}
	return resp, nil
}

// present tells whether any of the rows is online or away: only then can
// inactivity switch anything, and is the last activity worth reading.
func present(statuses []models.Status) bool {
	for _, s := range statuses {
		if s.State != models.StateOffline {
			return true
		}
	}
	return false
}

// state is one project as the caller sees it.
func state(p models.Project, count models.ProjectCount, byProject map[int64]models.Status) projectState {
	ps := projectState{Key: p.Key, Name: p.Name, State: string(models.StateOffline), OnlineCount: count.Online, AwayCount: count.Away}
	if s, ok := byProject[p.ID]; ok {
		since := s.Since.UTC()
		ps.Online, ps.State, ps.AwayReason = s.State == models.StateOnline, string(s.State), s.AwayReason
		ps.Since, ps.Until, ps.Source = &since, utcPtr(s.Until), string(s.Source)
		c := s.LastChange()
		ps.ChangedBy, ps.ChangeReason = c.By, c.Reason
	}
	return ps
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// SetStatus switches the caller online, away or offline, in one project or
// in all the projects where they are an agent.
func (a *Agents) SetStatus(c echo.Context) error {
	var req statusRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	to, err := req.state()
	if err != nil {
		return err
	}
	ch := models.OwnChange{To: to, AllProjects: req.Scope == "all"}
	if req.Reason != nil {
		// Characters, as a page's field counts them; one line.
		switch r := *req.Reason; {
		case to != models.StateAway:
			return fieldError("reason", "field.reason_away_only", nil)
		case utf8.RuneCountInString(r) > models.MaxAwayReasonLen:
			return fieldError("reason", "problem.max_chars", args{"Max": models.MaxAwayReasonLen})
		case !validText(r) || strings.ContainsAny(r, "\r\n\t"):
			return fieldError("reason", "field.one_line", nil)
		}
		ch.Reason = *req.Reason
	}
	if req.Project != "" && !validProjectKey(req.Project) {
		return fieldError("project", "field.project_key", nil)
	}
	switch req.Scope {
	case "", "project":
		if req.Project == "" {
			return fieldError("project", "field.project_required", nil)
		}
	case "all":
		// A project, if given, only names the current project of the answer.
	default:
		return fieldError("scope", "field.scope", nil)
	}
	if req.DurationMinutes != nil {
		if to == models.StateOffline {
			return fieldError("durationMinutes", "field.duration_not_offline", nil)
		}
		if *req.DurationMinutes < 1 || *req.DurationMinutes > maxDurationMinutes {
			return fieldError("durationMinutes", "problem.between", args{"Min": 1, "Max": maxDurationMinutes})
		}
		ch.For = time.Duration(*req.DurationMinutes) * time.Minute
	}
	ctx, t, account := c.Request().Context(), tenantOf(c), accountOf(c)
	if account == "" {
		return unauthorized("no_user", "the token does not name a user")
	}
	if wait, ok := a.statusChanges.allow(t.ID, account); !ok {
		return tooManyStatusChanges(wait)
	}
	// The facts the domain decides on: the caller's projects (going online
	// or away is a right, granted on a recent list only; going offline must
	// work whatever Jira says) and the project named.
	agentProjects := a.Directory.AgentProjects
	if to != models.StateOffline {
		agentProjects = a.Directory.AgentProjectsToGoOnline
	}
	ch.AccountID = account
	if ch.Memberships, err = agentProjects(ctx, t, account); err != nil {
		return err
	}
	if !ch.AllProjects {
		if ch.Project, err = a.projectForCaller(c, req.Project); err != nil {
			return err
		}
	}
	if _, err := a.Store.SetOwnStatus(ctx, t.ID, ch, a.Now()); err != nil {
		return err
	}
	return a.renderMe(c, req.Project)
}

func containsProject(ps []models.Project, id int64) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}

// onlineAgent is one entry of the online (or away) list; names and avatars
// are fetched by the page from Jira, so we keep nothing personal.
type onlineAgent struct {
	AccountID  string     `json:"accountId"`
	State      string     `json:"state"`
	AwayReason string     `json:"awayReason,omitempty"`
	Since      time.Time  `json:"since"`
	Until      *time.Time `json:"until,omitempty"`
	Source     string     `json:"source"`
}

func toOnlineAgent(s models.Status) onlineAgent {
	return onlineAgent{AccountID: s.AccountID, State: string(s.State), AwayReason: s.AwayReason, Since: s.Since.UTC(),
		Until: utcPtr(s.Until), Source: string(s.Source)}
}

// onlineAgentsResponse lists who is online (Count of them) and, apart,
// who is away.
type onlineAgentsResponse struct {
	Count  int           `json:"count"`
	Agents []onlineAgent `json:"agents"`
	Away   []onlineAgent `json:"away"`
}

// projectForCaller resolves a project key in the caller's tenant; an
// unknown key is a 404.
func (a *Agents) projectForCaller(c echo.Context, key string) (models.Project, error) {
	p, err := a.Directory.Project(c.Request().Context(), tenantOf(c), key)
	if errors.Is(err, models.ErrNotFound) {
		return models.Project{}, said(http.StatusNotFound, "unknown_project", "error.unknown_project", nil)
	}
	return p, err
}

// OnlineAgents lists who is online in a project; for its agents and admins.
func (a *Agents) OnlineAgents(c echo.Context) error {
	p, err := a.projectForCaller(c, c.Param("key"))
	if err != nil {
		return err
	}
	ctx, t, account := c.Request().Context(), tenantOf(c), accountOf(c)
	mine, err := a.Directory.AgentProjects(ctx, t, account)
	if err != nil {
		return err
	}
	if !containsProject(mine, p.ID) {
		jiraAdmin, projectAdmin, err := a.Directory.Admin(ctx, t, account, p)
		if err != nil {
			return err
		}
		if !jiraAdmin && !projectAdmin {
			return said(http.StatusForbidden, "forbidden", "forbidden.online_list", nil)
		}
	}
	st, err := a.Store.OnlineAgents(ctx, t.ID, p.ID)
	if err != nil {
		return err
	}
	away, err := a.Store.AwayAgents(ctx, t.ID, p.ID)
	if err != nil {
		return err
	}
	resp := onlineAgentsResponse{Count: len(st), Agents: make([]onlineAgent, 0, len(st)), Away: make([]onlineAgent, 0, len(away))}
	for _, s := range st {
		resp.Agents = append(resp.Agents, toOnlineAgent(s))
	}
	for _, s := range away {
		resp.Away = append(resp.Away, toOnlineAgent(s))
	}
	return c.JSON(http.StatusOK, resp)
}

// putOfflineRequest is the optional body of the admin's put-offline.
type putOfflineRequest struct {
	Reason string `json:"reason"`
	// Scope "all" puts the agent offline in every project; default "project".
	Scope string `json:"scope"`
}

// PutOffline lets a user who is both Jira administrator and administrator
// of the project put another agent offline. Both permissions are checked
// with Jira on the server; the page's word counts for nothing.
func (a *Agents) PutOffline(c echo.Context) error {
	var req putOfflineRequest
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	// Characters, as the dialog's field counts them, not bytes.
	if utf8.RuneCountInString(req.Reason) > models.MaxReasonLen {
		return fieldError("reason", "problem.max_chars", args{"Max": models.MaxReasonLen})
	}
	if !validText(req.Reason) {
		return fieldError("reason", "field.plain_text", nil)
	}
	if req.Scope != "" && req.Scope != "project" && req.Scope != "all" {
		return fieldError("scope", "field.scope", nil)
	}
	// Account ids hold a colon ("557058:…"), which clients escape; echo
	// hands path parameters over as they came.
	target, err := url.PathUnescape(c.Param("accountId"))
	if err != nil || target == "" {
		return said(http.StatusBadRequest, "invalid_account", "error.invalid_account", nil)
	}
	p, err := a.projectForCaller(c, c.Param("key"))
	if err != nil {
		return err
	}
	// The actor's rights are Jira's, asked as the domain needs them: both
	// permissions, checked on the server; the page's word counts for nothing.
	ctx, t, actor := c.Request().Context(), tenantOf(c), accountOf(c)
	if actor == "" {
		return unauthorized("no_user", "the token does not name a user")
	}
	administers := func(ctx context.Context, p models.Project) (bool, error) {
		jiraAdmin, projectAdmin, err := a.Directory.Admin(ctx, t, actor, p)
		return jiraAdmin && projectAdmin, err
	}
	evs, err := a.Store.PutOffline(ctx, t.ID, models.AdminOffline{Actor: actor, AccountID: target, Project: p,
		AllProjects: req.Scope == "all", Reason: req.Reason, Administers: administers}, a.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"accountId": target, "changed": len(evs)})
}

// Heartbeat records that the caller is active now.
func (a *Agents) Heartbeat(c echo.Context) error {
	account := accountOf(c)
	if account == "" {
		return unauthorized("no_user", "the token does not name a user")
	}
	a.Activity.Touch(tenantOf(c).ID, account, a.Now())
	return c.NoContent(http.StatusNoContent)
}
