package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/models"
)

// LicenseStore is what license enforcement needs of the store.
type LicenseStore interface {
	SeeLicense(ctx context.Context, tenant models.TenantID, state models.LicenseState, at time.Time) (bool, error)
}

// License keeps sites' licenses (LICENSING=on): it records what Jira says
// of a site's license (a Connect page's signed lic parameter, a Forge
// invocation token's app.license) and refuses agents and admins of a site
// whose license is not active: their pages show what to do, the agent API
// answers 402 license_inactive. Customers are never refused: the widget
// board shows such a site's chat offline (models.AvailabilityOf). Nothing
// is deleted. With licenses not enforced it does nothing at all.
type License struct {
	Licensing models.Licensing
	Store     LicenseStore
	Tenants   *TenantCache
	// Pages serves the page shown instead of an agent's or admin's page.
	Pages *Pages
	Now   func() time.Time
	Log   *slog.Logger
}

// licensePage is static/pages/license.html: what agents and admins of an
// unlicensed site see instead of the app's pages.
const licensePage = "license"

// licenseSeenEvery matches the store's: a state seen again is sent to the
// store no more often, so that page loads and invocations cost no write.
const licenseSeenEvery = time.Hour

// licenseSaid is what this request says of the site's license: a Connect page
// load's lic (active or none; the edge checked its shape and the page's
// token covers it), or a Forge invocation's app.license when the token
// has one (it has none for free apps, development and staging: nothing
// said). ok is false when the request says nothing.
func licenseSaid(c echo.Context) (models.LicenseState, bool) {
	if inv := invocationOf(c); inv != nil {
		if inv.LicenseActive == nil {
			return models.LicenseUnknown, false
		}
		if *inv.LicenseActive {
			return models.LicenseActive, true
		}
		return models.LicenseInactive, true
	}
	switch c.QueryParam("lic") {
	case "active":
		return models.LicenseActive, true
	case "none":
		return models.LicenseInactive, true
	}
	return models.LicenseUnknown, false
}

// observe records what the request says of the license and returns the
// state to decide by: what it says, else the state last seen (Connect's
// context tokens and Forge's calls without a license say nothing).
func (l *License) observe(c echo.Context) models.LicenseState {
	t := tenantOf(c)
	state, ok := licenseSaid(c)
	if !ok {
		return t.License.State
	}
	now := l.Now()
	if state == t.License.State && t.License.SeenAt != nil && now.Sub(*t.License.SeenAt) < licenseSeenEvery {
		return state
	}
	changed, err := l.Store.SeeLicense(c.Request().Context(), t.ID, state, now)
	switch {
	case err != nil:
		// The request's own word still decides; the next one records it.
		l.Log.WarnContext(c.Request().Context(), "license state not kept", "tenant", t.ID, "err", err)
	case changed:
		l.Log.InfoContext(c.Request().Context(), "license state changed", "tenant", t.ID, "license", string(state))
	}
	l.Tenants.Forget(t.ClientKey)
	return state
}

// Gate guards the agent API: a site whose license is not active answers
// 402 license_inactive, which the pages explain.
func (l *License) Gate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if l.Licensing.Enforced && !l.Licensing.Allows(l.observe(c)) {
			return fmt.Errorf("agent api: %w", models.ErrLicenseInactive)
		}
		return next(c)
	}
}

// Observe records the license Forge's own calls carry (the hourly
// trigger, events, the installed event), and never refuses them: the
// app must keep learning about an unlicensed installation.
func (l *License) Observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if l.Licensing.Enforced && tenantOf(c).ID != 0 {
			l.observe(c)
		}
		return next(c)
	}
}

// Page guards a Connect page: it records the page's lic and, when the
// site's license is not active, serves agents and admins the license page
// (what happened, what an administrator does) instead. The portal
// footer, which customers see, is served as ever: its widget shows the
// chat offline.
func (l *License) Page(name string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !l.Licensing.Enforced {
				return next(c)
			}
			state := l.observe(c)
			if name == "portal-footer" || l.Licensing.Allows(state) {
				return next(c)
			}
			return l.Pages.Serve(licensePage)(c)
		}
	}
}

// manageAppsURL is where a site's administrators manage its apps and
// their subscriptions (Jira settings → Apps → Manage apps).
func manageAppsURL(t models.Tenant) string {
	site := t.BaseURL
	if t.IsForge() {
		site = t.DisplayURL
	}
	return strings.TrimRight(site, "/") + "/plugins/servlet/upm"
}
