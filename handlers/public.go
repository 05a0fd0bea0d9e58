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
	// Messages words the status in the customer's language.
	Messages *Messages

	// bodies keeps the encoded answers; nil: encoded each time.
	bodies *StatusBodies
}

// widgetStatus is all a customer learns, in their language.
type widgetStatus struct {
	Online bool `json:"online"`
	// Message is the text of the current state: the online text while
	// someone is online, the unavailable message otherwise.
	Message string `json:"message"`
	// RequiresLogin: while nobody is online an anonymous customer must log
	// in or register to chat (and be answered by e-mail). A page that
	// knows its customer is logged in (the portal footer) ignores it.
	RequiresLogin bool `json:"requiresLogin"`
	// ChatURL is where a chat starts: the project's link, else its
	// portal's request form; absent when neither is known.
	ChatURL string `json:"chatUrl,omitempty"`
	// OnlineMessage is the online text whatever the state, for a site
	// that draws its own offer of a chat.
	OnlineMessage string `json:"onlineMessage"`
	// NextOnlineAt is, while nobody is online, when a scheduled agent of
	// the project is next due online; the page words it in the visitor's
	// own time zone ("Back at 09:00", Labels.BackAt).
	NextOnlineAt *time.Time `json:"nextOnlineAt,omitempty"`
	// Lang is the language of the texts ("de", "pt-BR").
	Lang string `json:"lang"`
	// Labels are the widget's own words in that language.
	Labels widgetLabels `json:"labels"`
}

// widgetLabels are what widget.js writes besides the project's texts.
type widgetLabels struct {
	Online  string `json:"online"`
	Offline string `json:"offline"`
	Chat    string `json:"chat"`
	Login   string `json:"login"`
	// BackAt and BackOn word NextOnlineAt, with {time} (and {day}) for
	// the page to fill in the visitor's zone: today, and another day.
	BackAt string `json:"backAt"`
	BackOn string `json:"backOn"`
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

// Status answers whether anyone is online behind a widget, in the
// customer's language (?lang=, else Accept-Language).
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
	enc := p.bodies.status(p.Messages, w, p.Messages.callerLocale(c))
	res := c.Response()
	h := res.Header()
	// The values are built once (with the answer, or here): assigning them
	// allocates nothing, where Set allocates a slice per header. No one
	// writes into a header's values in place.
	h["Etag"] = enc.etagHeader
	h["Cache-Control"] = statusCacheControl
	if match := c.Request().Header.Get("If-None-Match"); match != "" && etagMatches(match, enc.etag) {
		res.WriteHeader(http.StatusNotModified)
		return nil
	}
	h["Content-Type"] = jsonContentType
	res.WriteHeader(http.StatusOK)
	_, err = res.Write(enc.body)
	return err
}

// Header values of every status answer, never written into.
var (
	statusCacheControl = []string{"public, max-age=1, must-revalidate"}
	jsonContentType    = []string{echo.MIMEApplicationJSON}
	statusVary         = []string{"Origin, Accept-Language"}
)

// StatusBodies keeps the encoded answer of each widget state in each
// language. An answer is a function of the state's strong ETag (every
// customer-visible field) and the language, so the cache is keyed by both
// and needs no invalidation; it is bounded by bytes. A status poll thus
// costs a map read, a cache read and no encoding.
type StatusBodies struct {
	byTag *bounded.Cache[statusKey, encodedStatus]
}

type statusKey struct {
	etag   string
	locale Locale
}

// encodedStatus is one state's answer in one language, with its ETag:
// the state's, with the language ("\"…-de\""), since the languages are
// different representations of the same status.
type encodedStatus struct {
	etag string
	// etagHeader is etag as a header's values, built once.
	etagHeader []string
	body       []byte
}

// maxStatusBodyBytes bounds the encoded answers kept (one is at most about
// 2.5 KB: two 1,000-character messages and the labels).
const maxStatusBodyBytes = 16 << 20

// NewStatusBodies builds an empty cache of encoded widget statuses.
func NewStatusBodies(now func() time.Time) *StatusBodies {
	weigh := func(k statusKey, v encodedStatus) uint32 { return uint32(len(k.etag) + len(v.etag) + len(v.body) + 96) }
	return &StatusBodies{byTag: bounded.New(bounded.Config[statusKey, encodedStatus]{MaxWeight: maxStatusBodyBytes, Weigh: weigh, Now: now})}
}

// status is the answer to a widget state in locale l, worded by msgs.
func (b *StatusBodies) status(msgs *Messages, w models.WidgetState, l Locale) encodedStatus {
	if b == nil {
		return encodeStatus(msgs, w, l)
	}
	key := statusKey{etag: w.ETag, locale: l}
	if enc, ok := b.byTag.Get(key); ok {
		return enc
	}
	enc := encodeStatus(msgs, w, l)
	b.byTag.Set(key, enc)
	return enc
}

// encodeStatus is what a customer learns of a widget state in locale l,
// as the status API answers it and its stream sends it.
func encodeStatus(msgs *Messages, w models.WidgetState, l Locale) encodedStatus {
	s := widgetTexts(msgs, w, l)
	body, _ := json.Marshal(s) // plain struct: cannot fail
	etag := strings.TrimSuffix(w.ETag, `"`) + "-" + l.String() + `"`
	return encodedStatus{etag: etag, etagHeader: []string{etag}, body: body}
}

// widgetTexts words a widget state in locale l: the project's text in
// that language, else its default-language text, else the built-in one.
func widgetTexts(msgs *Messages, w models.WidgetState, l Locale) widgetStatus {
	say := func(id string) string {
		t, _ := msgs.Text(l, id, nil)
		return t
	}
	pick := func(own func(models.Translation) string, def, builtIn string) string {
		if t, ok := w.Chat.Translations[l.String()]; ok && own(t) != "" {
			return own(t)
		}
		if def != "" {
			return def
		}
		return say(builtIn)
	}
	s := widgetStatus{
		Online:        w.Online,
		RequiresLogin: w.RequiresLogin,
		ChatURL:       w.Chat.URL,
		OnlineMessage: pick(func(t models.Translation) string { return t.Online }, w.Chat.Online, "widget.online"),
		Lang:          l.String(),
		Labels: widgetLabels{Online: say("widget.state_online"), Offline: say("widget.state_offline"),
			Chat: say("widget.chat"), Login: say("widget.login"), BackAt: say("widget.back_at"), BackOn: say("widget.back_on")},
	}
	if !w.Online && !w.NextOnlineAt.IsZero() {
		at := w.NextOnlineAt.UTC()
		s.NextOnlineAt = &at
	}
	s.Message = s.OnlineMessage
	if !w.Online {
		s.Message = pick(func(t models.Translation) string { return t.Unavailable }, w.Chat.Unavailable, "widget.unavailable")
	}
	return s
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
	// The answer depends on the page's site and on its language.
	if _, ok := h["Vary"]; ok {
		h.Add("Vary", "Origin, Accept-Language")
	} else {
		h["Vary"] = statusVary
	}
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
