package handlers

import (
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// Pages serves the HTML pages Jira shows in iframes and the static files
// they load.
type Pages struct {
	Assets fs.FS
}

// PageNames lists the pages the descriptor points at; each is
// static/pages/<name>.html.
func PageNames() []string {
	return []string{"presence", "schedule", "admin", "project-settings", "portal-footer"}
}

// Serve returns the handler of one page. Pages are loaded by Jira with a
// request-signed JWT, checked by the middleware before this runs.
func (p *Pages) Serve(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, err := fs.ReadFile(p.Assets, "static/pages/"+name+".html")
		if err != nil {
			return echo.NewHTTPError(http.StatusNotFound, "page not found")
		}
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Only Jira may frame the pages.
		h.Set("Content-Security-Policy", "frame-ancestors https://*.atlassian.net https://*.jira.com 'self'")
		return c.HTMLBlob(http.StatusOK, body)
	}
}

// Static serves static/ (scripts, styles, icons), with no listing.
func (p *Pages) Static(c echo.Context) error {
	name := path.Clean("/" + c.Param("*"))
	if strings.HasSuffix(name, "/") || name == "/" {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	body, err := fs.ReadFile(p.Assets, "static"+name)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
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
