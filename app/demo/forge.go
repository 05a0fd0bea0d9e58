package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
	"agentpresence/handlers/jira/jiratest"
)

// The demo plays Forge as well as Connect: a stand-in Forge platform
// (forgetest) serves its JWKS on loopback, mints the FITs and the OAuth
// tokens, and sends the app what Forge sends (the installed event, the
// hourly trigger, invokeRemote calls); the simulated site takes the
// tokens. Forge pages are the app's own static/ pages served as they are,
// with the Forge host adapter (static/js/forge.js) in place of connect.js
// and a stand-in of @forge/bridge (assets/forge-bridge.js), as the Forge
// build bundles them.

// DemoForgeApp is the Forge app the demo plays when FORGE_APP_ID is unset.
const DemoForgeApp = "ari:cloud:ecosystem::app/0d3e7a52-6f1b-4c8e-9e2a-5b7c1d9f4a60"

// The demo's Forge installation, the same across restarts (its data too).
const (
	demoInstallation = "ari:cloud:ecosystem::installation/7b1c4e2a-9d3f-4a6b-8c5e-2f0a1d3b4c5e"
	demoCloudID      = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"
)

// forgeModules are the manifest's UI modules: key → module type and the
// resource (page) it shows.
var forgeModules = map[string]struct{ typ, resource string }{
	"presence":         {"jira:globalPage", "presence"},
	"presence-queue":   {"jiraServiceManagement:queuePage", "presence"},
	"schedule":         {"jira:personalSettingsPage", "schedule"},
	"activity":         {"jira:globalBackgroundScript", "background"},
	"presence-context": {"jira:issueContext", "status-panel"},
	"admin":            {"jira:adminPage", "admin"},
	"project-settings": {"jira:projectSettingsPage", "project-settings"},
	"chat-status":      {"jiraServiceManagement:portalFooter", "portal-footer"},
}

// forgePages maps each resource to its static/ page (forge/pages.json).
var forgePages = map[string]string{
	"presence": "presence.html", "schedule": "schedule.html", "admin": "admin.html",
	"project-settings": "project-settings.html", "portal-footer": "forge-portal-footer.html", "background": "background.html",
	"status-panel": "status-panel.html",
}

// forgeHost is the demo's Forge platform.
type forgeHost struct {
	platform *forgetest.Platform
	inst     forgetest.Installation
	appBase  string

	mu          sync.Mutex
	lastTrigger time.Time
}

// triggerEvery is the scheduled trigger's interval (manifest: hour).
const triggerEvery = time.Hour

func newForgeHost(appID, siteURL, appBase string, now func() time.Time) (*forgeHost, error) {
	if appID == "" {
		appID = DemoForgeApp
	}
	p, err := forgetest.New(appID, forgetest.WithClock(now))
	if err != nil {
		return nil, fmt.Errorf("demo: forge: %w", err)
	}
	inst := forgetest.Installation{ID: demoInstallation, CloudID: demoCloudID, SiteURL: siteURL, APIBaseURL: siteURL,
		EnvironmentType: "DEVELOPMENT"}
	return &forgeHost{platform: p, inst: inst, appBase: strings.TrimRight(appBase, "/")}, nil
}

// ForgeAppID is the app the demo's Forge platform signs for.
func (h *Host) ForgeAppID() string { return h.forge.platform.AppID() }

// ForgeJWKSURL is where the demo's Forge platform publishes its keys.
func (h *Host) ForgeJWKSURL() string { return h.forge.platform.JWKSURL() }

// Close stops the demo's Forge platform.
func (h *Host) Close() { h.forge.platform.Close() }

// enableForge installs the Forge app on the simulated site.
func (h *Host) enableForge() {
	h.site.EnableForge(jiratest.ForgeOptions{Tokens: h.forge.platform, InstallationID: h.forge.inst.ID, CloudID: h.forge.inst.CloudID})
}

// installForge sends the installed event, as Forge does once an admin
// installs the app (and the first hourly trigger's system token with it).
func (h *Host) installForge(ctx context.Context) error {
	f := h.forge
	req, err := f.platform.Installed(ctx, f.appBase, "/forge/lifecycle/installed", h.forgeInstallation(), Ada)
	if err != nil {
		return err
	}
	if err := sendForge(req, http.StatusNoContent); err != nil {
		return fmt.Errorf("forge installed event: %w", err)
	}
	f.mu.Lock()
	f.lastTrigger = time.Now()
	f.mu.Unlock()
	return nil
}

// keepToken sends the hourly trigger when it is due, before an
// invocation: Forge's keeps the app's system token fresh; the demo's runs
// when someone uses it.
func (h *Host) keepToken(ctx context.Context) {
	f := h.forge
	f.mu.Lock()
	due := time.Since(f.lastTrigger) >= triggerEvery
	if due {
		f.lastTrigger = time.Now()
	}
	f.mu.Unlock()
	if !due {
		return
	}
	req, err := f.platform.ScheduledTrigger(ctx, f.appBase, "/forge/lifecycle/refresh", h.forgeInstallation())
	if err == nil {
		err = sendForge(req, http.StatusNoContent)
	}
	if err != nil {
		h.opts.Log.Warn("demo: forge trigger", "err", err)
	}
}

func sendForge(req *http.Request, want int) error {
	resp, err := forgetest.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

func (h *Host) forgeRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /demo/forge/pages/{name}", h.whenReady(h.forgePage))
	m.HandleFunc("GET /demo/forge/static/{file...}", h.forgeStatic)
	m.HandleFunc("POST /demo/api/forge/invoke", h.forgeInvoke)
	m.HandleFunc("GET /demo/api/forge/fit", h.forgeFIT)
}

// connectScriptTag is Atlassian's all.js in the pages: no place in Forge.
var connectScriptTag = regexp.MustCompile(`<script src="https://connect-cdn\.atl-paas\.net/all\.js"></script>\n?`)

// forgePage serves a resource's page as Forge would: static, without
// Connect's all.js. Who and where come from its URL, for the bridge
// stand-in's context (as=, module=, project=, portal=).
func (h *Host) forgePage(w http.ResponseWriter, r *http.Request) {
	file, ok := forgePages[r.PathValue("name")]
	if !ok || h.opts.Assets == nil {
		http.NotFound(w, r)
		return
	}
	body, err := fs.ReadFile(h.opts.Assets, "static/pages/"+file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	body = connectScriptTag.ReplaceAll(body, nil)
	h.forgePolicy(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(body)
}

// forgePolicy is Forge's Custom UI policy, roughly: the page's own files,
// the app (permissions.external.fetch.client), the site's avatars.
func (h *Host) forgePolicy(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data: "+h.origin+"; connect-src 'self' "+h.origin+"; base-uri 'none'; frame-ancestors 'self' "+h.other)
	w.Header().Set("Cache-Control", "no-cache")
}

// hostImport is how the pages import their host adapter.
var hostImport = regexp.MustCompile(`from '\./connect\.js'`)

// forgeStatic serves static/ for the Forge pages as the Forge build
// resolves it: the pages' './connect.js' is the Forge adapter, whose
// './forge-bridge.js' is the demo's stand-in of @forge/bridge.
func (h *Host) forgeStatic(w http.ResponseWriter, r *http.Request) {
	name := path.Clean("/" + r.PathValue("file"))
	var body []byte
	var err error
	switch {
	case h.opts.Assets == nil:
		err = fs.ErrNotExist
	case name == "/js/forge-bridge.js":
		body, err = fs.ReadFile(assets, "assets/forge-bridge.js")
	default:
		body, err = fs.ReadFile(h.opts.Assets, "static"+name)
		if err == nil && strings.HasPrefix(name, "/js/") && name != "/js/forge.js" {
			body = hostImport.ReplaceAll(body, []byte("from './forge.js'"))
		}
	}
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(body)
	}
	h.forgePolicy(w)
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(body)
}

// forgeCaller reads who a page acts as (a demo user, or nobody: an
// anonymous portal visitor) and from which module.
func (h *Host) forgeCaller(account, module string) (string, forgetest.Invocation, error) {
	mod, ok := forgeModules[module]
	if !ok {
		return "", forgetest.Invocation{}, fmt.Errorf("unknown module %q", module)
	}
	if account != "" {
		if _, ok := h.site.User(account); !ok {
			return "", forgetest.Invocation{}, errUnknownUser
		}
	}
	return account, forgetest.Invocation{Principal: account, ModuleType: mod.typ, ModuleKey: module}, nil
}

// forgeFIT plays the part of requestRemote that a page cannot do itself:
// the FIT Forge attaches. The page then calls the app straight.
func (h *Host) forgeFIT(w http.ResponseWriter, r *http.Request) {
	_, inv, err := h.forgeCaller(r.URL.Query().Get("accountId"), r.URL.Query().Get("module"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	fit, err := h.forge.platform.FIT(h.forgeInstallation(), inv)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "cannot mint a FIT"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": fit})
}

// invokeRequest is what the bridge stand-in's invokeRemote sends.
type invokeRequest struct {
	AccountID string            `json:"accountId"`
	Module    string            `json:"module"`
	Path      string            `json:"path"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
}

// invokeHeaders are the request headers a page may pass through.
var invokeHeaders = []string{"Accept", "Accept-Language", "Content-Type", "If-None-Match"}

// forgeInvoke plays invokeRemote: Forge calls the app on the page's behalf
// with a FIT, the system token and the user's token, and hands the page
// {status, headers, body}.
func (h *Host) forgeInvoke(w http.ResponseWriter, r *http.Request) {
	var in invokeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad invocation"})
		return
	}
	account, inv, err := h.forgeCaller(in.AccountID, in.Module)
	switch {
	case err != nil:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	case !strings.HasPrefix(in.Path, "/") || strings.HasPrefix(in.Path, "//") ||
		!(in.Method == http.MethodGet || in.Method == http.MethodPost || in.Method == http.MethodPut || in.Method == http.MethodDelete):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad path or method"})
		return
	}
	h.keepToken(r.Context())
	req, err := h.invokeRequest(r.Context(), account, inv, in)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "cannot build the invocation"})
		return
	}
	resp, err := forgetest.Do(req)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the app cannot be reached"})
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	var body any = string(raw)
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && json.Valid(raw) {
		body = json.RawMessage(raw)
	}
	headers := map[string]string{}
	for _, k := range []string{"Content-Type", "ETag", "Date"} {
		if v := resp.Header.Get(k); v != "" {
			headers[strings.ToLower(k)] = v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": resp.StatusCode, "headers": headers, "body": body})
}

// invokeRequest builds the call Forge makes for an invokeRemote.
func (h *Host) invokeRequest(ctx context.Context, account string, inv forgetest.Invocation, in invokeRequest) (*http.Request, error) {
	f := h.forge
	fit, err := f.platform.FIT(h.forgeInstallation(), inv)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if len(in.Body) > 0 && in.Method != http.MethodGet {
		body = bytes.NewReader(in.Body)
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, f.appBase+in.Path, body)
	if err != nil {
		return nil, err
	}
	for _, k := range invokeHeaders {
		if v := in.Headers[k]; v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Authorization", "Bearer "+fit)
	sys, _, err := f.platform.SystemToken(f.inst)
	if err != nil {
		return nil, err
	}
	req.Header.Set(forge.SystemTokenHeader, sys)
	if account != "" {
		user, _, err := f.platform.UserToken(f.inst, account)
		if err != nil {
			return nil, err
		}
		req.Header.Set(forge.UserTokenHeader, user)
	}
	return req, nil
}

// hostOf is the app the demo plays: "connect" (the default) or "forge".
func hostOf(q url.Values) string {
	if q.Get("host") == "forge" {
		return "forge"
	}
	return "connect"
}

// forgeViews are the demo page's Forge views: the module each frames, and
// whether it takes the project (queue page, project settings).
var forgeViews = map[string]struct {
	module  string
	project bool
}{
	"queue": {"presence-queue", true}, "global": {"presence", false}, "schedule": {"schedule", false},
	"admin": {"admin", false}, "project-settings": {"project-settings", true},
}

// forgeView returns the view (or "" for the queues) and its frame.
func forgeView(view, project, account, locale string) (string, string) {
	v, ok := forgeViews[view]
	if !ok {
		return "", ""
	}
	if !v.project {
		project = ""
	}
	return view, forgePageURL(v.module, account, project, "", locale)
}

// forgePageURL is where the demo serves a Forge module's page, with the
// context Forge would give it (the user's locale when one is chosen).
func forgePageURL(module, account, project, portal, locale string) string {
	v := url.Values{"module": {module}, "as": {account}}
	if locale != "" {
		v.Set("locale", locale)
	}
	if project != "" {
		v.Set("project", project)
	}
	if portal != "" {
		v.Set("portal", portal)
	}
	return "/demo/forge/pages/" + forgeModules[module].resource + "?" + v.Encode()
}
