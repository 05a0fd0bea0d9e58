package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/models"
)

// ForgeLifecycleStore is what the Forge lifecycle needs of the store.
type ForgeLifecycleStore interface {
	RenewForge(ctx context.Context, id models.TenantID, in models.ForgeInstall, at time.Time) error
	MarkUninstalled(ctx context.Context, id models.TenantID, at time.Time) error
}

// ForgeLifecycle receives what Forge itself sends the remote: lifecycle
// events, the preUninstall call, the hourly trigger and the product events
// that mark agents active. Every route takes a FIT of Forge's own calls
// (RequireForge), which has registered an unseen installation and kept
// the call's system token before a handler runs. Forge waits 5 s and
// retries a failure up to 4 times, so the handlers do one short write and
// answer; tenant and user come from the FIT only, and bodies are read
// defensively (their envelope is not documented).
type ForgeLifecycle struct {
	Store    ForgeLifecycleStore
	Tenants  *TenantCache
	Activity ActivityRecorder
	Now      func() time.Time
	Log      *slog.Logger
	// Projects hears the tenant's project events (projectevents.go).
	Projects *ProjectEvents
}

// Forge events the service acts on.
const (
	forgeEventInstalled = "avi:forge:installed:app"
	forgeEventUpgraded  = "avi:forge:upgraded:app"
	forgeEventCommented = "avi:jira:commented:issue"
	forgeEventUpdated   = "avi:jira:updated:issue"
)

// maxForgeEventBody bounds an event body: issue payloads can be large.
const maxForgeEventBody = 4 << 20

// forgeEvent holds what the service reads of an event body, which comes
// unwrapped or under "payload".
type forgeEvent struct {
	EventType     string      `json:"eventType"`
	AtlassianID   string      `json:"atlassianId"`
	SelfGenerated bool        `json:"selfGenerated"`
	Payload       *forgeEvent `json:"payload"`
}

// readForgeEvent reads an event body; an unreadable one is the zero event.
func readForgeEvent(c echo.Context) forgeEvent {
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, maxForgeEventBody))
	var ev forgeEvent
	if err != nil || json.Unmarshal(raw, &ev) != nil {
		return forgeEvent{}
	}
	if ev.EventType == "" && ev.Payload != nil {
		return forgeEvent{EventType: ev.Payload.EventType, AtlassianID: ev.Payload.AtlassianID, SelfGenerated: ev.Payload.SelfGenerated}
	}
	return ev
}

// Installed receives avi:forge:installed:app and avi:forge:upgraded:app:
// the installation is registered (by the middleware, if new) or renewed.
// Nothing depends on it: Forge sends neither on automatic upgrades.
func (l *ForgeLifecycle) Installed(c echo.Context) error {
	t, inv := tenantOf(c), invocationOf(c)
	ev := readForgeEvent(c)
	if err := l.Store.RenewForge(c.Request().Context(), t.ID, forgeInstallOf(inv), l.Now()); err != nil {
		return fmt.Errorf("forge installed: %w", err)
	}
	l.Tenants.Forget(t.ClientKey)
	what := "forge installation renewed"
	switch ev.EventType {
	case forgeEventInstalled:
		what = "forge app installed"
	case forgeEventUpgraded:
		what = "forge app upgraded"
	}
	l.Log.InfoContext(c.Request().Context(), what, "tenant", t.ID, "app_version", inv.AppVersion)
	return c.NoContent(http.StatusNoContent)
}

// Uninstalling receives the preUninstall call, Forge's only signal of an
// uninstall: the installation stops at once (its FITs are refused, its
// widgets answer 404) and its data waits for the retention job, as a
// Connect tenant's does. A retry, or an installation never seen, is done
// already.
func (l *ForgeLifecycle) Uninstalling(c echo.Context) error {
	t := tenantOf(c)
	if t.ID == 0 || !t.Installed {
		return c.NoContent(http.StatusNoContent)
	}
	if err := l.Store.MarkUninstalled(c.Request().Context(), t.ID, l.Now()); err != nil {
		return fmt.Errorf("forge uninstalling: %w", err)
	}
	l.Tenants.Forget(t.ClientKey)
	l.Log.InfoContext(c.Request().Context(), "forge app uninstalled", "tenant", t.ID)
	return c.NoContent(http.StatusNoContent)
}

// Refresh receives the hourly scheduled trigger: the middleware kept its
// system token; the installation was seen now.
func (l *ForgeLifecycle) Refresh(c echo.Context) error {
	t := tenantOf(c)
	err := l.Store.RenewForge(c.Request().Context(), t.ID, forgeInstallOf(invocationOf(c)), l.Now())
	if err != nil && !errors.Is(err, models.ErrTenantClosed) {
		return fmt.Errorf("forge refresh: %w", err)
	}
	return c.NoContent(http.StatusNoContent)
}

// Event receives the product events of comments and issue updates and
// records their author as active, as the Connect webhooks do. It answers
// 204 for events it cannot use: a retry would not make them usable.
func (l *ForgeLifecycle) Event(c echo.Context) error {
	ev := readForgeEvent(c)
	if (ev.EventType == forgeEventCommented || ev.EventType == forgeEventUpdated) && !ev.SelfGenerated &&
		validAccountID(ev.AtlassianID) {
		l.Activity.Touch(tenantOf(c).ID, ev.AtlassianID, l.Now())
	}
	if l.Projects != nil && isForgeProjectEvent(ev.EventType) {
		l.Projects.invalidate(tenantOf(c).ID)
	}
	return c.NoContent(http.StatusNoContent)
}
