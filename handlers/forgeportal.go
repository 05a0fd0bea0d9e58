package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
	"agentpresence/models"
)

// ForgePortal serves the Forge portal footer (jiraServiceManagement:
// portalFooter). The Connect footer is a page the server fills in; a
// Forge page is static, so it asks for the same facts through the bridge:
// the widget of the portal's project, its status (from memory, as the
// public API answers it, in the visitor's language) and the portal's
// login link. The visitor may be anonymous, a customer or an agent; the
// only thing known of them is whether they are anonymous (the FIT's
// principal), which the login prompt needs.
type ForgePortal struct {
	Portals PortalStore
	// Directory lists the site's projects when a portal is not known yet.
	Directory *jira.Directory
	Board     WidgetBoard
	// Messages words the status in the visitor's language (the page sends
	// the Forge context's locale as Accept-Language).
	Messages *Messages
}

// portalFooterResponse is what the Forge footer shows: nothing when
// WidgetID is empty (no project, widget switched off).
type portalFooterResponse struct {
	WidgetID string `json:"widgetId"`
	Online   bool   `json:"online"`
	Message  string `json:"message"`
	// RequiresLogin is true only for an anonymous visitor while nobody
	// is online.
	RequiresLogin bool   `json:"requiresLogin"`
	LoginURL      string `json:"loginUrl"`
	// ChatURL, NextOnlineAt, Lang and Labels as the public status
	// answers them.
	ChatURL      string       `json:"chatUrl,omitempty"`
	NextOnlineAt *time.Time   `json:"nextOnlineAt,omitempty"`
	Lang         string       `json:"lang"`
	Labels       widgetLabels `json:"labels"`
}

// Footer answers GET /forge/portal-footer?serviceDeskId=N with an ETag,
// so that the footer's polls cost a 304 while nothing changes.
func (p *ForgePortal) Footer(c echo.Context) error {
	t, desk := tenantOf(c), c.QueryParam("serviceDeskId")
	if !serviceDeskIDPattern.MatchString(desk) {
		return paramError("serviceDeskId", "problem.service_desk_id", nil)
	}
	ctx := c.Request().Context()
	proj, err := p.Portals.ProjectByServiceDesk(ctx, t.ID, desk)
	if errors.Is(err, models.ErrNotFound) && p.Directory != nil {
		// A portal seen before any agent asked about projects.
		if err = p.Directory.RefreshOnMiss(ctx, t); err == nil {
			proj, err = p.Portals.ProjectByServiceDesk(ctx, t.ID, desk)
		}
	}
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	site := t.DisplayURL
	if inv := invocationOf(c); inv != nil && inv.SiteURL != "" {
		site = inv.SiteURL
	}
	resp := portalFooterResponse{
		LoginURL: strings.TrimRight(site, "/") + "/servicedesk/customer/user/login?destination=" + url.QueryEscape("portal/"+desk),
	}
	if err == nil && proj.WidgetEnabled {
		if w, ok := p.Board.Widget(proj.WidgetID); ok && w.Available {
			s := widgetTexts(p.Messages, w, p.Messages.callerLocale(c))
			anonymous := true
			if inv := invocationOf(c); inv != nil {
				anonymous = inv.Anonymous()
			}
			resp.WidgetID, resp.Online, resp.Message, resp.RequiresLogin = proj.WidgetID, w.Online, s.Message, s.RequiresLogin && anonymous
			resp.ChatURL, resp.NextOnlineAt, resp.Lang, resp.Labels = s.ChatURL, s.NextOnlineAt, s.Lang, s.Labels
		}
	}
	return jsonWithETag(c, resp)
}

// forgeConditional gives the agent API's answers to Forge pages an ETag
// and answers 304 when the page's If-None-Match holds it: Forge pages
// cannot hold the live event stream open through the bridge, so they poll,
// and a poll of an unchanged answer should cost a few bytes. Connect
// requests and the event stream pass untouched.
func forgeConditional(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method != http.MethodGet || invocationOf(c) == nil || streamRoutes[c.Path()] {
			return next(c)
		}
		return conditionalGET(c, next)
	}
}

// etagBuffer holds an answer until its ETag is known.
type etagBuffer struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *etagBuffer) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *etagBuffer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// conditionalGET runs next with its answer held back, then sends it with
// an ETag of its bytes, or 304 when If-None-Match holds that ETag.
func conditionalGET(c echo.Context, next echo.HandlerFunc) error {
	res := c.Response()
	orig := res.Writer
	buf := &etagBuffer{ResponseWriter: orig}
	res.Writer = buf
	err := next(c)
	res.Writer = orig
	if buf.status == 0 {
		return err // nothing written: the error handler answers
	}
	if buf.status == http.StatusOK && res.Header().Get("ETag") == "" {
		sum := sha256.Sum256(buf.body.Bytes())
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		res.Header().Set("ETag", etag)
		if match := c.Request().Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
			res.Status = http.StatusNotModified
			orig.WriteHeader(http.StatusNotModified)
			return err
		}
	}
	orig.WriteHeader(buf.status)
	_, werr := orig.Write(buf.body.Bytes())
	return errors.Join(err, werr)
}
