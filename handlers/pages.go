package handlers

import (
	"context"
	"errors"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
	"agentpresence/models"
)

// Pages serves the HTML pages Jira shows in iframes and the static files
// they load.
type Pages struct {
	Assets fs.FS
	// ConnectScript, when set, replaces Atlassian's all.js in every page:
	// the demo host serves a local stand-in.
	ConnectScript string
	// FrameAncestors are origins allowed to frame the pages besides Jira's
	// (the demo host on loopback).
	FrameAncestors []string
	// Portals finds the project behind a portal footer.
	Portals PortalStore
	// Directory lists the site's projects when a portal is not known yet.
	Directory *jira.Directory
	// Messages words the portal footer in the customer's language.
	Messages *Messages
}

// PortalStore is what the portal footer needs of the store.
type PortalStore interface {
	ProjectByServiceDesk(ctx context.Context, tenant models.TenantID, serviceDeskID string) (models.Project, error)
}

// ConnectScriptURL is Atlassian's Connect JavaScript API, loaded by every page.
const ConnectScriptURL = "https://connect-cdn.atl-paas.net/all.js"

// pagePolicy is the Content-Security-Policy of the pages, before frame-ancestors.
const pagePolicy = "default-src 'self'; script-src 'self' https://connect-cdn.atl-paas.net; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: https:; connect-src 'self'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors https://*.atlassian.net https://*.jira.com 'self'"

// PageNames lists the pages the descriptor points at; each is
// static/pages/<name>.html.
func PageNames() []string {
	return []string{"presence", "schedule", "admin", "project-settings", "portal-footer", "background", "status-panel"}
}

// Serve returns the handler of one page. Pages are loaded by Jira with a
// request-signed JWT, checked by the middleware before this runs.
func (p *Pages) Serve(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, err := fs.ReadFile(p.Assets, "static/pages/"+name+".html")
		if err != nil {
			return echo.NewHTTPError(http.StatusNotFound, "page not found")
		}
		page := string(body)
		if p.ConnectScript != "" {
			page = strings.ReplaceAll(page, ConnectScriptURL, html.EscapeString(p.ConnectScript))
		}
		if name == "portal-footer" {
			if page, err = p.portalFooter(c, page); err != nil {
				return err
			}
		}
		if name == licensePage {
			page = strings.ReplaceAll(page, "{{manageAppsUrl}}", html.EscapeString(manageAppsURL(tenantOf(c))))
		}
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		// Only Jira may frame the pages.
		h.Set("Content-Security-Policy", strings.Join(append([]string{pagePolicy}, p.FrameAncestors...), " "))
		return c.HTMLBlob(http.StatusOK, []byte(page))
	}
}

// serviceDeskIDPattern is what Jira puts in {servicedesk.serviceDeskId}.
var serviceDeskIDPattern = regexp.MustCompile(`^[0-9]{1,18}$`)

// portalFooter renders the footer of the portal of the token's tenant: the
// widget of the service desk's project (none when unknown or switched off),
// the portal's login link, whether the customer is logged in (the token
// names them: sub) and their language (Jira's loc, else the browser's).
func (p *Pages) portalFooter(c echo.Context, page string) (string, error) {
	t, deskID := tenantOf(c), c.QueryParam("serviceDeskId")
	var widget, login string
	if serviceDeskIDPattern.MatchString(deskID) {
		ctx := c.Request().Context()
		proj, err := p.Portals.ProjectByServiceDesk(ctx, t.ID, deskID)
		if errors.Is(err, models.ErrNotFound) && p.Directory != nil {
			// A portal seen before any agent asked about projects.
			if err = p.Directory.RefreshOnMiss(ctx, t); err == nil {
				proj, err = p.Portals.ProjectByServiceDesk(ctx, t.ID, deskID)
			}
		}
		switch {
		case err == nil && proj.WidgetEnabled:
			widget = proj.WidgetID
		case err != nil && !errors.Is(err, models.ErrNotFound):
			return "", err
		}
		login = strings.TrimRight(t.BaseURL, "/") + "/servicedesk/customer/user/login?destination=" + url.QueryEscape("portal/"+deskID)
	}
	l := p.Messages.callerLocale(c)
	title, _ := p.Messages.Text(l, "widget.title", nil)
	return strings.NewReplacer("{{widgetId}}", html.EscapeString(widget), "{{loginUrl}}", html.EscapeString(login),
		"{{lang}}", l.String(), "{{title}}", html.EscapeString(title),
		"{{signedIn}}", strconv.FormatBool(accountOf(c) != "")).Replace(page), nil
}

// Static serves static/ (scripts, styles, icons), with no listing.
func (p *Pages) Static(c echo.Context) error {
	name := path.Clean("/" + c.Param("*"))
	if strings.HasSuffix(name, "/") || name == "/" {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	body, err := fs.ReadFile(p.Assets, "static"+name)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	if name == "/widget.js" {
		// Loaded by <script> on customers' own sites.
		c.Response().Header().Set("Access-Control-Allow-Origin", "*")
		c.Response().Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(body)
	}
	return c.Blob(http.StatusOK, ctype, body)
}

// OpenAPI serves the API's OpenAPI 3 document.
func (p *Pages) OpenAPI(c echo.Context) error {
	body, err := fs.ReadFile(p.Assets, "static/openapi.yaml")
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/yaml", body)
}
