package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"agentpresence/models"
)

// SettingsStore is what the settings API needs of the store.
type SettingsStore interface {
	UpdateProjectSettings(ctx context.Context, tenant models.TenantID, projectID int64, ps models.ProjectSettings, at time.Time) (models.Project, error)
	RotateWidget(ctx context.Context, tenant models.TenantID, projectID int64, at time.Time) (models.Project, error)
	SetAutoOffline(ctx context.Context, tenant models.TenantID, minutes int, at time.Time) error
	Tenant(ctx context.Context, id models.TenantID) (models.Tenant, error)
}

// Settings is the API of the project admin tab and the Jira admin page.
type Settings struct {
	Store  SettingsStore
	Agents *Agents
}

// projectSettings is the JSON of a project's widget settings.
type projectSettings struct {
	WidgetID           string   `json:"widgetId"`
	WidgetEnabled      bool     `json:"widgetEnabled"`
	UnavailableMessage string   `json:"unavailableMessage"`
	DefaultMessage     string   `json:"defaultMessage"`
	AllowedOrigins     []string `json:"allowedOrigins"`
	// CanEdit tells whether the caller may change them (a project
	// administrator); the page shows them read-only otherwise.
	CanEdit bool `json:"canEdit"`
}

// projectSettingsRequest is the body of PUT …/settings; every field is
// required so that a partial body cannot silently reset the others.
type projectSettingsRequest struct {
	WidgetEnabled      *bool    `json:"widgetEnabled"`
	UnavailableMessage *string  `json:"unavailableMessage"`
	AllowedOrigins     []string `json:"allowedOrigins"`
}

// Limits of the project settings.
const (
	maxMessageLen = 1000
	maxOrigins    = 20
)

func toProjectSettings(p models.Project) projectSettings {
	origins := p.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return projectSettings{WidgetID: p.WidgetID, WidgetEnabled: p.WidgetEnabled, UnavailableMessage: p.UnavailableMessage,
		DefaultMessage: models.DefaultUnavailableMessage, AllowedOrigins: origins}
}

// ProjectSettings shows a project's widget settings to its agents and admins.
func (s *Settings) ProjectSettings(c echo.Context) error {
	p, err := s.Agents.projectForCaller(c, c.Param("key"))
	if err != nil {
		return err
	}
	ctx, t, account := c.Request().Context(), tenantOf(c), accountOf(c)
	mine, err := s.Agents.Directory.AgentProjects(ctx, t, account)
	if err != nil {
		return err
	}
	_, admin, err := s.Agents.Directory.Admin(ctx, t, account, p)
	if err != nil {
		return err
	}
	if !admin && !containsProject(mine, p.ID) {
		return apiError(http.StatusForbidden, "forbidden", "only the project's agents and admins see its settings")
	}
	resp := toProjectSettings(p)
	resp.CanEdit = admin
	return c.JSON(http.StatusOK, resp)
}

// requireProjectAdmin resolves {key} and checks ADMINISTER_PROJECTS.
func (s *Settings) requireProjectAdmin(c echo.Context) (models.Project, error) {
	p, err := s.Agents.projectForCaller(c, c.Param("key"))
	if err != nil {
		return models.Project{}, err
	}
	_, admin, err := s.Agents.Directory.Admin(c.Request().Context(), tenantOf(c), accountOf(c), p)
	if err != nil {
		return models.Project{}, err
	}
	if !admin {
		return models.Project{}, apiError(http.StatusForbidden, "forbidden", "only project administrators change the project's settings")
	}
	return p, nil
}

// UpdateProjectSettings replaces a project's widget settings.
func (s *Settings) UpdateProjectSettings(c echo.Context) error {
	var req projectSettingsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.WidgetEnabled == nil {
		return fieldError("widgetEnabled", "is required")
	}
	if req.UnavailableMessage == nil {
		return fieldError("unavailableMessage", "is required (empty for the default text)")
	}
	msg := strings.TrimSpace(*req.UnavailableMessage)
	if len([]rune(msg)) > maxMessageLen {
		return fieldError("unavailableMessage", fmt.Sprintf("must be at most %d characters", maxMessageLen))
	}
	if strings.IndexFunc(msg, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 {
		return fieldError("unavailableMessage", "must be plain text without control characters")
	}
	if req.AllowedOrigins == nil {
		return fieldError("allowedOrigins", "is required (an empty list allows only the portal)")
	}
	if len(req.AllowedOrigins) > maxOrigins {
		return fieldError("allowedOrigins", fmt.Sprintf("at most %d sites", maxOrigins))
	}
	origins := make([]string, 0, len(req.AllowedOrigins))
	for i, o := range req.AllowedOrigins {
		norm, err := normalizeOrigin(o)
		if err != nil {
			return fieldError(fmt.Sprintf("allowedOrigins[%d]", i), err.Error())
		}
		origins = append(origins, norm)
	}
	p, err := s.requireProjectAdmin(c)
	if err != nil {
		return err
	}
	p, err = s.Store.UpdateProjectSettings(c.Request().Context(), tenantOf(c).ID, p.ID,
		models.ProjectSettings{WidgetEnabled: *req.WidgetEnabled, UnavailableMessage: msg, AllowedOrigins: origins}, s.Agents.Now())
	if err != nil {
		return err
	}
	resp := toProjectSettings(p)
	resp.CanEdit = true // requireProjectAdmin let the caller in
	return c.JSON(http.StatusOK, resp)
}

// normalizeOrigin accepts "https://example.com[:port]" and nothing else:
// an origin has no path, query, user or wildcard.
func normalizeOrigin(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("%q is not an origin like https://www.example.com", raw)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// RotateWidget gives the project a new widget id; the old one stops at once.
func (s *Settings) RotateWidget(c echo.Context) error {
	p, err := s.requireProjectAdmin(c)
	if err != nil {
		return err
	}
	p, err = s.Store.RotateWidget(c.Request().Context(), tenantOf(c).ID, p.ID, s.Agents.Now())
	if err != nil {
		return err
	}
	resp := toProjectSettings(p)
	resp.CanEdit = true
	return c.JSON(http.StatusOK, resp)
}

// tenantSettings is the JSON of the tenant-wide settings.
type tenantSettings struct {
	AutoOfflineMinutes *int `json:"autoOfflineMinutes"`
}

// maxAutoOfflineMinutes is one week.
const maxAutoOfflineMinutes = 7 * 24 * 60

// TenantSettings shows the tenant-wide settings.
func (s *Settings) TenantSettings(c echo.Context) error {
	t, err := s.Store.Tenant(c.Request().Context(), tenantOf(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tenantSettings{AutoOfflineMinutes: &t.AutoOfflineMinutes})
}

// UpdateTenantSettings changes them; Jira administrators only.
func (s *Settings) UpdateTenantSettings(c echo.Context) error {
	var req tenantSettings
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.AutoOfflineMinutes == nil {
		return fieldError("autoOfflineMinutes", "is required (0 turns auto-offline off)")
	}
	if m := *req.AutoOfflineMinutes; m < 0 || m > maxAutoOfflineMinutes {
		return fieldError("autoOfflineMinutes", fmt.Sprintf("must be between 0 and %d", maxAutoOfflineMinutes))
	}
	admin, err := s.Agents.Directory.JiraAdmin(c.Request().Context(), tenantOf(c), accountOf(c))
	if err != nil {
		return err
	}
	if !admin {
		return apiError(http.StatusForbidden, "forbidden", "only Jira administrators change these settings")
	}
	if err := s.Store.SetAutoOffline(c.Request().Context(), tenantOf(c).ID, *req.AutoOfflineMinutes, s.Agents.Now()); err != nil {
		return err
	}
	return s.TenantSettings(c)
}
