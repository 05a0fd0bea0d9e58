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
	// Messages words the built-in texts the page shows as defaults.
	Messages *Messages
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
	chatSettings
}

// projectSettingsRequest is the body of PUT …/settings; every field is
// required so that a partial body cannot silently reset the others.
type projectSettingsRequest struct {
	WidgetEnabled      *bool    `json:"widgetEnabled"`
	UnavailableMessage *string  `json:"unavailableMessage"`
	AllowedOrigins     []string `json:"allowedOrigins"`
	// The chat's settings (chat.go) are optional: absent keeps them.
	ChatURL       *string                    `json:"chatUrl"`
	OnlineMessage *string                    `json:"onlineMessage"`
	Translations  map[string]translationJSON `json:"translations"`
}

// Limits of the project settings.
const (
	maxMessageLen = 1000
	maxOrigins    = 20
)

// toProjectSettings shows p's settings, the built-in texts in the
// caller's language.
func (s *Settings) toProjectSettings(c echo.Context, p models.Project) projectSettings {
	origins := p.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	l := s.Messages.callerLocale(c)
	def, _ := s.Messages.Text(l, "widget.unavailable", nil)
	return projectSettings{WidgetID: p.WidgetID, WidgetEnabled: p.WidgetEnabled, UnavailableMessage: p.UnavailableMessage,
		DefaultMessage: def, AllowedOrigins: origins,
		chatSettings: toChatSettings(s.Messages, p, portalRequestForm(tenantOf(c), p), l)}
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
		return said(http.StatusForbidden, "forbidden", "forbidden.settings_view", nil)
	}
	resp := s.toProjectSettings(c, p)
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
		return models.Project{}, said(http.StatusForbidden, "forbidden", "forbidden.settings_change", nil)
	}
	return p, nil
}

// UpdateProjectSettings replaces a project's widget settings.
func (s *Settings) UpdateProjectSettings(c echo.Context) error {
	var req projectSettingsRequest
	if err := decodeJSONUpTo(c, &req, maxSettingsBody); err != nil {
		return err
	}
	if req.WidgetEnabled == nil {
		return fieldError("widgetEnabled", "field.required_bool", nil)
	}
	if req.UnavailableMessage == nil {
		return fieldError("unavailableMessage", "field.required_message", nil)
	}
	msg := strings.TrimSpace(*req.UnavailableMessage)
	if len([]rune(msg)) > maxMessageLen {
		return fieldError("unavailableMessage", "problem.max_chars", args{"Max": maxMessageLen})
	}
	if strings.IndexFunc(msg, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 {
		return fieldError("unavailableMessage", "field.plain_text", nil)
	}
	if req.AllowedOrigins == nil {
		return fieldError("allowedOrigins", "field.required_origins", nil)
	}
	if len(req.AllowedOrigins) > maxOrigins {
		return fieldError("allowedOrigins", "field.max_sites", args{"Max": maxOrigins})
	}
	origins := make([]string, 0, len(req.AllowedOrigins))
	for i, o := range req.AllowedOrigins {
		norm, err := normalizeOrigin(o)
		if err != nil {
			return fieldError(fmt.Sprintf("allowedOrigins[%d]", i), "field.not_origin", args{"Value": strings.TrimSpace(o)})
		}
		origins = append(origins, norm)
	}
	ps := models.ProjectSettings{WidgetEnabled: *req.WidgetEnabled, UnavailableMessage: msg, AllowedOrigins: origins}
	if err := applyChatSettings(&ps, req.ChatURL, req.OnlineMessage, req.Translations); err != nil {
		return err
	}
	p, err := s.requireProjectAdmin(c)
	if err != nil {
		return err
	}
	p, err = s.Store.UpdateProjectSettings(c.Request().Context(), tenantOf(c).ID, p.ID, ps, s.Agents.Now())
	if err != nil {
		return err
	}
	resp := s.toProjectSettings(c, p)
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
	resp := s.toProjectSettings(c, p)
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
		return fieldError("autoOfflineMinutes", "field.required_auto_offline", nil)
	}
	if m := *req.AutoOfflineMinutes; m < 0 || m > maxAutoOfflineMinutes {
		return fieldError("autoOfflineMinutes", "problem.between", args{"Min": 0, "Max": maxAutoOfflineMinutes})
	}
	admin, err := s.Agents.Directory.JiraAdmin(c.Request().Context(), tenantOf(c), accountOf(c))
	if err != nil {
		return err
	}
	if !admin {
		return said(http.StatusForbidden, "forbidden", "forbidden.tenant_settings", nil)
	}
	if err := s.Store.SetAutoOffline(c.Request().Context(), tenantOf(c).ID, *req.AutoOfflineMinutes, s.Agents.Now()); err != nil {
		return err
	}
	return s.TenantSettings(c)
}
