package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/bounded"
	"agentpresence/models"
)

// WidgetBoard is the in-memory state of every widget.
type WidgetBoard interface {
	Widget(widgetID string) (models.WidgetState, bool)
}

// Public is the customer-facing API: no token, no agent identities, no
// counts; served from memory.
type Public struct {
	Board WidgetBoard

	// bodies keeps the encoded answers; nil: encoded each time.
	bodies *StatusBodies
}

// widgetStatus is all a customer learns.
type widgetStatus struct {
	Online        bool   `json:"online"`
	Message       string `json:"message"`
	RequiresLogin bool   `json:"requiresLogin"`
}

// availableWidget finds an available widget for the status API, its
// stream and their preflight; unknown, disabled and uninstalled all answer
// the same 404 so that nothing is learned from the difference. The id's
// shape was checked at the edge already; checking again costs nothing.
func availableWidget(board WidgetBoard, id string) (models.WidgetState, error) {
	if !validWidgetID(id) {
		return models.WidgetState{}, errUnknownWidget()
	}
	w, ok := board.Widget(id)
	if !ok || !w.Available {
		return models.WidgetState{}, errUnknownWidget()
	}
	return w, nil
}

// Status answers whether anyone is online behind a widget.
func (p *Public) Status(c echo.Context) error {
	w, err := availableWidget(p.Board, c.Param("widgetId"))
	if err != nil {
		return err
	}
	if !allowCORS(c, w) && c.Request().Header.Get("Origin") != "" {
		// A page on a site the project does not allow: the unknown
		// widget's answer, which it can read, rather than a status that
		// the browser hides from it as a network failure.
		return errUnknownWidget()
	}
	h := c.Response().Header()
	h.Set("ETag", w.ETag)
	h.Set("Cache-Control", "public, max-age=1, must-revalidate")
	if match := c.Request().Header.Get("If-None-Match"); match != "" && etagMatches(match, w.ETag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSONBlob(http.StatusOK, p.bodies.body(w))
}

// StatusBodies keeps the encoded answer of each widget state. The body is a
// function of the strong ETag (online, available, message), so the cache
// is keyed by it and needs no invalidation; it is bounded by bytes.
type StatusBodies struct {
	byTag *bounded.Cache[string, []byte]
}

// maxStatusBodyBytes bounds the encoded answers kept (one is at most about
// 1.1 KB: a 1,000-character message).
const maxStatusBodyBytes = 16 << 20

// NewStatusBodies builds an empty cache of encoded widget statuses.
func NewStatusBodies(now func() time.Time) *StatusBodies {
	weigh := func(tag string, body []byte) uint32 { return uint32(len(tag) + len(body) + 64) }
	return &StatusBodies{byTag: bounded.New(bounded.Config[string, []byte]{MaxWeight: maxStatusBodyBytes, Weigh: weigh, Now: now})}
}

func (b *StatusBodies) body(w models.WidgetState) []byte {
	if b == nil {
		return statusJSON(w)
	}
	if body, ok := b.byTag.Get(w.ETag); ok {
		return body
	}
	body := statusJSON(w)
	b.byTag.Set(w.ETag, body)
	return body
}

// statusJSON is what a customer learns of a widget state, as the status API
// answers it and its stream sends it.
func statusJSON(w models.WidgetState) []byte {
	body, _ := json.Marshal(widgetStatus{Online: w.Online, Message: w.Message, RequiresLogin: w.RequiresLogin}) // plain struct: cannot fail
	return body
}

// Preflight answers CORS preflight requests for the public API.
func (p *Public) Preflight(c echo.Context) error {
	if w, err := availableWidget(p.Board, c.Param("widgetId")); err == nil && allowCORS(c, w) {
		h := c.Response().Header()
		h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "If-None-Match, Last-Event-ID, Cache-Control")
		h.Set("Access-Control-Max-Age", "600")
	}
	return c.NoContent(http.StatusNoContent)
}

// allowCORS lets a browser page read the answer only when its origin is the
// tenant's portal or one of the project's allowed sites.
func allowCORS(c echo.Context, w models.WidgetState) bool {
	h := c.Response().Header()
	h.Add("Vary", "Origin")
	origin := c.Request().Header.Get("Origin")
	if origin == "" || !w.Available || !originAllowed(origin, w) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "ETag")
	return true
}

func originAllowed(origin string, w models.WidgetState) bool {
	origin = strings.ToLower(origin)
	if w.PortalOrigin != "" && w.PortalOrigin == origin {
		return true
	}
	for _, o := range w.AllowedOrigins {
		if o == origin {
			return true
		}
	}
	return false
}

// etagMatches implements If-None-Match's list and weak comparison.
func etagMatches(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == etag {
			return true
		}
	}
	return false
}
