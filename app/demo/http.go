package demo

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"agentpresence/handlers/jira"
	"agentpresence/models"
)

// modules maps the descriptor's module keys to their pages, as Jira does
// when it opens a dialog or a page.
var modules = map[string]string{
	"presence-dialog":           "/pages/presence",
	"schedule-dialog":           "/pages/schedule",
	"presence-admin":            "/pages/admin",
	"presence-project-settings": "/pages/project-settings",
	"chat-status-footer":        "/pages/portal-footer",
	"presence-background":       "/pages/background",
	"presence-issue-context":    "/pages/status-panel",
}

func (h *Host) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /demo/{$}", h.whenReady(h.index))
	m.HandleFunc("GET /demo/portal", h.whenReady(h.portal))
	m.HandleFunc("GET /demo/external", h.whenReady(h.external))
	m.HandleFunc("GET /demo/ap.js", h.asset("ap.js", "text/javascript; charset=utf-8"))
	m.HandleFunc("GET /demo/demo.js", h.asset("demo.js", "text/javascript; charset=utf-8"))
	m.HandleFunc("GET /demo/external.js", h.asset("external.js", "text/javascript; charset=utf-8"))
	m.HandleFunc("GET /demo/demo.css", h.asset("demo.css", "text/css; charset=utf-8"))
	m.HandleFunc("GET /demo/hostile.css", h.asset("hostile.css", "text/css; charset=utf-8"))
	m.HandleFunc("GET /demo/api/token", h.token)
	m.HandleFunc("GET /demo/api/signed-url", h.signedURL)
	m.HandleFunc("GET /demo/api/jira", h.jiraProxy)
	m.HandleFunc("GET /demo/api/clock", h.clock)
	m.HandleFunc("POST /demo/api/clock", h.clock)
	m.HandleFunc("GET /demo/jira/servicedesk/customer/user/login", h.login)
	m.Handle("/demo/jira/", h.site)
	h.forgeRoutes(m)
	h.mux = m
}

// servedHost tells whether host (a Host header) names one of the demo's
// two origins.
func (h *Host) servedHost(host string) bool {
	for _, o := range []string{h.origin, h.other} {
		u, err := url.Parse(o)
		if err == nil && (u.Host == host || u.Host == net.JoinHostPort(host, defaultPort(u.Scheme))) {
			return true
		}
	}
	return false
}

// whenReady answers 503 until the app is installed and the data seeded.
func (h *Host) whenReady(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.ready.Load() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "the demo is starting; reload in a moment", http.StatusServiceUnavailable)
			return
		}
		next(w, r)
	}
}

// ServeHTTP serves /demo/….
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Only under the two loopback names: a page of another site that
	// rebinds its own name to 127.0.0.1 gets no demo tokens.
	if !h.servedHost(r.Host) {
		http.Error(w, "the demo answers only on "+h.origin+" and "+h.other, http.StatusMisdirectedRequest)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

func (h *Host) asset(name, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := fs.ReadFile(assets, "assets/"+name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache")
		if name == "ap.js" {
			// Loaded by the app's pages, from the app's origin.
			w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		}
		_, _ = w.Write(body)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// token plays AP.context.getToken: a fresh context token for a demo user.
func (h *Host) token(w http.ResponseWriter, r *http.Request) {
	id, err := h.account(r)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": h.site.ContextToken(id)})
}

// signedURL plays Jira opening a module: the page URL with a real-qsh JWT.
func (h *Host) signedURL(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	path, ok := modules[q.Get("module")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown module"})
		return
	}
	account := q.Get("accountId")
	if account != "" {
		if _, ok := h.site.User(account); !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": errUnknownUser.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": h.pageURL(path, q.Get("project"), q.Get("serviceDeskId"), account, demoLocale(q.Get("lang")))})
}

// demoLanguages are the languages the demo page offers, with the locale
// Jira would put on the page URLs (loc).
var demoLanguages = []struct{ Tag, Locale, Name string }{
	{"en", "en-GB", "English"}, {"de", "de-DE", "Deutsch"}, {"fr", "fr-FR", "Français"}, {"es", "es-ES", "Español"},
	{"pl", "pl-PL", "Polski"}, {"pt-BR", "pt-BR", "Português (Brasil)"}, {"ja", "ja-JP", "日本語"},
}

// demoLocale is the locale of one of demoLanguages' tags; "" (none:
// the pages take the browser's) otherwise.
func demoLocale(tag string) string {
	for _, l := range demoLanguages {
		if l.Tag == tag {
			return l.Locale
		}
	}
	return ""
}

// pageURL signs a page URL as Jira does, with the user's locale (loc) when
// one is chosen.
func (h *Host) pageURL(path, project, desk, account, loc string) string {
	v := url.Values{}
	if loc != "" {
		v.Set("loc", strings.ReplaceAll(loc, "-", "_")) // as Jira writes it: en_GB
	}
	if strings.HasSuffix(path, "/presence") || strings.HasSuffix(path, "/project-settings") || strings.HasSuffix(path, "/status-panel") {
		v.Set("project", project)
	}
	if strings.HasSuffix(path, "/portal-footer") {
		v.Set("serviceDeskId", desk)
	}
	// Jira adds the site's license to every page URL of a paid app.
	v.Set("lic", h.siteLicense())
	return h.site.SignedURL(http.MethodGet, path, v, account)
}

// jiraProxy plays AP.request: the call goes to the simulated Jira signed
// as the app (Jira would make it as the user). Only user lookups pass.
func (h *Host) jiraProxy(w http.ResponseWriter, r *http.Request) {
	if _, err := h.account(r); err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	path := r.URL.Query().Get("path")
	if !strings.HasPrefix(path, "/rest/api/3/user/bulk?") && !strings.HasPrefix(path, "/rest/api/3/user?") {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the demo's AP.request passes user lookups only"})
		return
	}
	var body json.RawMessage
	err := h.jira.Do(r.Context(), jira.Site{BaseURL: h.site.BaseURL(), SharedSecret: h.site.SharedSecret()}, http.MethodGet, path, nil, &body)
	var jerr *jira.Error
	switch {
	case errors.As(err, &jerr):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(jerr.Status)
		_, _ = w.Write([]byte(jerr.Body))
	case err != nil:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "jira unreachable"})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	}
}

func (h *Host) login(w http.ResponseWriter, r *http.Request) {
	h.render(w, "login.html", map[string]any{"Portal": h.origin + "/demo/portal?desk=" + url.QueryEscape(strings.TrimPrefix(r.URL.Query().Get("destination"), "portal/"))}, "")
}

// render writes a demo page with its own policy: scripts from this origin
// (and widget.js from the app's), frames from the app.
func (h *Host) render(w http.ResponseWriter, name string, data any, extraScript string) {
	csp := "default-src 'self'; script-src 'self' " + h.origin + extraScript + "; style-src 'self'; img-src 'self' data: " + h.origin +
		"; frame-src " + h.origin + "; connect-src 'self' " + h.origin + "; base-uri 'none'; form-action 'self'"
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.pages.ExecuteTemplate(w, name, data); err != nil {
		h.opts.Log.Error("demo page", "page", name, "err", err)
	}
}

type personView struct {
	Short, AccountID, Role, Name string
	Current                      bool
}

func (h *Host) index(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	h.setLicense(q.Get("lic"))
	as := q.Get("as")
	var current personView
	var list []personView
	for _, p := range people {
		u, _ := h.site.User(p.AccountID)
		v := personView{Short: p.Short, AccountID: p.AccountID, Role: p.Role, Name: u.DisplayName, Current: p.Short == as}
		if v.Current || (as == "" && p.Short == "alice") {
			v.Current, current = true, v
		}
		list = append(list, v)
	}
	project := q.Get("project")
	var keys []string
	for _, p := range h.site.Projects() {
		keys = append(keys, p.Key)
	}
	if !slices.Contains(keys, project) {
		project = "HELP"
	}
	theme := "light"
	if q.Get("theme") == "dark" {
		theme = "dark"
	}
	lang := q.Get("lang")
	loc := demoLocale(lang)
	if loc == "" {
		lang = ""
	}
	host := hostOf(q)
	view, frame, background, panel := q.Get("view"), "", "", ""
	if host == "forge" {
		if view != "issue" {
			view, frame = forgeView(view, project, current.AccountID, loc)
		} else {
			panel = forgePageURL("presence-context", current.AccountID, project, "", loc)
		}
		background = forgePageURL("activity", current.AccountID, "", "", loc)
	} else {
		switch view {
		case "admin":
			frame = h.pageURL(modules["presence-admin"], "", "", current.AccountID, loc)
		case "project-settings":
			frame = h.pageURL(modules["presence-project-settings"], project, "", current.AccountID, loc)
		case "issue":
			// Jira loads the background script (jiraBackgroundScripts) with
			// the issue view.
			background = h.pageURL(modules["presence-background"], "", "", current.AccountID, loc)
			panel = h.pageURL(modules["presence-issue-context"], project, "", current.AccountID, loc)
		default:
			view = ""
		}
	}
	portal := "/demo/portal?desk=" + deskOf(h, project)
	if lang != "" {
		portal += "&lang=" + url.QueryEscape(lang)
	}
	h.render(w, "index.html", map[string]any{
		"People": list, "Me": current, "Project": project, "Projects": keys, "Theme": theme, "View": view, "Frame": frame,
		"FrameTitle": frameTitles[view], "Host": host, "Background": background, "Panel": panel,
		"Lang": lang, "Languages": demoLanguages,
		"AppOrigin": h.origin, "External": h.other + "/demo/external", "Portal": portal + "&host=" + host,
		"License": h.siteLicense(),
	}, "")
}

// frameTitles name the page a view frames.
var frameTitles = map[string]string{
	"admin": "Agent online status administration", "project-settings": "Chat availability settings",
	"queue": "Online status", "global": "Online status", "schedule": "My online schedule",
}

func deskOf(h *Host, key string) string {
	for _, p := range h.site.Projects() {
		if p.Key == key {
			return p.ServiceDeskID
		}
	}
	return "1"
}

// portal is the customer portal with the footer, for a logged-in customer
// (Carol) or an anonymous visitor (?as=anonymous), in the chosen language
// (?lang=, else the browser's).
func (h *Host) portal(w http.ResponseWriter, r *http.Request) {
	desk := r.URL.Query().Get("desk")
	var name string
	var desks []map[string]string
	for _, p := range h.site.Projects() {
		desks = append(desks, map[string]string{"ID": p.ServiceDeskID, "Name": p.Name})
		if p.ServiceDeskID == desk {
			name = p.Name
		}
	}
	if name == "" {
		desk, name = "1", h.site.Projects()[0].Name
	}
	customer, anonymous := Carol, r.URL.Query().Get("as") == "anonymous"
	if anonymous {
		customer = "" // Jira signs an anonymous visitor's footer without sub
	}
	lang := r.URL.Query().Get("lang")
	if demoLocale(lang) == "" {
		lang = ""
	}
	host := hostOf(r.URL.Query())
	footer := h.pageURL(modules["chat-status-footer"], "", desk, customer, demoLocale(lang))
	if host == "forge" {
		footer = forgePageURL("chat-status", customer, "", desk, demoLocale(lang))
	}
	h.render(w, "portal.html", map[string]any{"Desk": desk, "Name": name, "Desks": desks, "AppOrigin": h.origin,
		"Anonymous": anonymous, "Lang": lang, "Languages": demoLanguages, "Footer": footer, "Host": host}, "")
}

// external is a customer's own site on the other loopback origin: HELP
// allows it, IT does not, and a third widget does not exist.
func (h *Host) external(w http.ResponseWriter, r *http.Request) {
	t, err := h.opts.Store.TenantByClientKey(r.Context(), demoClientKey)
	if err != nil {
		http.Error(w, "the demo is still starting", http.StatusServiceUnavailable)
		return
	}
	widgets := map[string]string{}
	for _, key := range []string{"HELP", "IT"} {
		p, err := h.opts.Store.ProjectByKey(r.Context(), t.ID, key)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		widgets[key] = p.WidgetID
	}
	h.render(w, "external.html", map[string]any{
		"Script": h.origin + "/static/widget.js", "Help": widgets["HELP"], "IT": widgets["IT"],
		"Origin": "http://" + r.Host, "Login": h.origin + "/demo/jira/servicedesk/customer/user/login?destination=portal%2F1",
	}, "")
}
