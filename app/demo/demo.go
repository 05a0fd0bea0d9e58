// Package demo is the local demo host (DEMO=1): a simulated Jira site
// (jiratest) mounted at BASE_URL/demo/jira that installs the app through the
// real signed lifecycle, and pages that play Jira around the app's pages: a
// header with the online-status item, dialogs, the admin pages, a customer
// portal with the footer, and an external site with the widget, served from
// a second loopback origin for the CORS rules. It exists only in demo mode,
// which the app refuses unless BASE_URL is a loopback address.
package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
)

//go:embed assets
var assets embed.FS

// Options configure the demo host.
type Options struct {
	// BaseURL is the app's BASE_URL, a loopback address.
	BaseURL string
	// AppKey is the app's descriptor key.
	AppKey string
	// Store is the app's store; the host seeds it after the install.
	Store *models.Store
	// Now is the clock (default time.Now): the seeds' time, and the week
	// of past status changes written for the report ends before it.
	Now func() time.Time
	// HTTPClient sends the simulated Jira's calls to the app.
	HTTPClient *http.Client
	Log        *slog.Logger
	// Assets holds the app's static/, which the Forge pages are served
	// from (forge.go); ForgeAppID is the Forge app the demo plays (empty:
	// DemoForgeApp).
	Assets     fs.FS
	ForgeAppID string
	// Clock, when set, is the clock Now reads, which POST /demo/api/clock
	// moves ahead; Tick then runs the jobs that act on time (the
	// heartbeats' flush, timers, schedules, inactivity) at once.
	Clock *Clock
	Tick  func(ctx context.Context) error
}

// Host serves /demo/… and plays Jira.
type Host struct {
	opts   Options
	site   *jiratest.Site
	jira   *jira.Client
	pages  *template.Template
	origin string // the app's origin, where Jira's pages and the portal live
	other  string // the same server by its other loopback name: the "external site"
	mux    *http.ServeMux
	// ready turns true once the app is installed and the data seeded.
	ready atomic.Bool
	// forge plays the Forge platform (forge.go).
	forge *forgeHost
	// license is the site's Marketplace license as the demo's Jira and
	// Forge report it ("active" or "none"; license.go).
	license atomic.Value
}

// Demo accounts.
const (
	Alice = "557058:alice"
	Bob   = "557058:bob"
	Ada   = "557058:ada"
	Carol = "557058:carol"
)

// demoClientKey keeps the demo tenant (and its widget ids) across restarts.
const demoClientKey = "jirasim-demo"

// People who can be switched to on the demo page.
var people = []struct{ Short, AccountID, Role string }{
	{"alice", Alice, "agent (HELP, IT)"},
	{"bob", Bob, "agent (HELP)"},
	{"ada", Ada, "Jira admin, project admin"},
}

// New builds the host and its simulated Jira, with projects and users.
func New(opts Options) (*Host, error) {
	base, err := url.Parse(opts.BaseURL)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("demo: BASE_URL %q: %v", opts.BaseURL, err)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	origin := base.Scheme + "://" + base.Host
	other, err := otherLoopback(base)
	if err != nil {
		return nil, err
	}
	site, err := jiratest.New(jiratest.Options{AppKey: opts.AppKey, ClientKey: demoClientKey, HTTPClient: opts.HTTPClient, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := site.SetBaseURL(origin + "/demo/jira"); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := site.SetAppBaseURL(opts.BaseURL); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := seedSite(site); err != nil {
		return nil, err
	}
	pages, err := template.ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("demo: parse pages: %w", err)
	}
	fh, err := newForgeHost(opts.ForgeAppID, origin+"/demo/jira", opts.BaseURL, opts.Now)
	if err != nil {
		return nil, err
	}
	h := &Host{opts: opts, site: site, pages: pages, origin: origin, other: other, forge: fh,
		jira: &jira.Client{AppKey: opts.AppKey, HTTP: opts.HTTPClient, Targets: jira.TargetPolicy{AllowLoopback: true}, Now: opts.Now}}
	h.license.Store(licenseActive)
	h.enableForge()
	h.routes()
	return h, nil
}

// otherLoopback names the server by its other loopback name: localhost
// and 127.0.0.1 are two origins to a browser.
func otherLoopback(base *url.URL) (string, error) {
	host, port := base.Hostname(), base.Port()
	if port == "" {
		port = defaultPort(base.Scheme)
	}
	switch ip := net.ParseIP(host); {
	case host == "localhost":
		return base.Scheme + "://" + net.JoinHostPort("127.0.0.1", port), nil
	case ip != nil && ip.IsLoopback():
		return base.Scheme + "://" + net.JoinHostPort("localhost", port), nil
	}
	return "", fmt.Errorf("demo: BASE_URL %s is not a loopback address", base.Redacted())
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func seedSite(site *jiratest.Site) error {
	projects := []jiratest.ProjectSpec{
		{ID: 10001, ServiceDeskID: "1", Key: "HELP", Name: "Help Desk"},
		{ID: 10002, ServiceDeskID: "2", Key: "IT", Name: "IT Support"},
		{ID: 10003, ServiceDeskID: "3", Key: "HR", Name: "HR Services"},
	}
	users := []jiratest.UserSpec{
		{AccountID: Alice, DisplayName: "Alice Agent", TimeZone: "Europe/Berlin", Agent: []string{"HELP", "IT"}},
		{AccountID: Bob, DisplayName: "Bob Agent", TimeZone: "America/New_York", Agent: []string{"HELP"}},
		{AccountID: Ada, DisplayName: "Ada Admin", TimeZone: "Europe/London", JiraAdmin: true, ProjectAdmin: []string{"HELP", "IT", "HR"}},
		{AccountID: Carol, DisplayName: "Carol Customer"},
	}
	for i := 1; i <= itCrew; i++ {
		users = append(users, jiratest.UserSpec{AccountID: crewID(i), DisplayName: fmt.Sprintf("IT Agent %02d", i), Agent: []string{"IT"}})
	}
	for _, p := range projects {
		if err := site.AddProject(p); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	for _, u := range users {
		if err := site.AddUser(u); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

// itCrew agents are online in IT, more than a page of Jira's bulk user API.
const itCrew = 11

func crewID(i int) string { return fmt.Sprintf("557058:it%02d", i) }

// KeysURL is the simulated install-keys server, for CONNECT_INSTALL_KEYS_URL.
func (h *Host) KeysURL() string { return h.site.KeysURL() }

// ConnectScript is the local stand-in of Atlassian's all.js.
func (h *Host) ConnectScript() string { return strings.TrimRight(h.opts.BaseURL, "/") + "/demo/ap.js" }

// Origins are the two loopback origins the demo pages are served from.
func (h *Host) Origins() []string { return []string{h.origin, h.other} }

// Site is the simulated Jira, for tests.
func (h *Host) Site() *jiratest.Site { return h.site }

// Start installs the app into the simulated site through the signed
// lifecycle (the server must be listening) and seeds the demo data.
func (h *Host) Start(ctx context.Context) error {
	if err := h.site.Install(ctx); err != nil {
		return fmt.Errorf("demo: install: %w", err)
	}
	if err := h.seed(ctx, demoClientKey); err != nil {
		return fmt.Errorf("demo: seed: %w", err)
	}
	if err := h.installForge(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := h.seed(ctx, demoInstallation); err != nil {
		return fmt.Errorf("demo: seed forge: %w", err)
	}
	h.ready.Store(true)
	h.opts.Log.Info("demo ready", "url", strings.TrimRight(h.opts.BaseURL, "/")+"/demo/", "external_site", h.other+"/demo/external")
	return nil
}

// seed syncs the projects of a tenant (the Connect one, or the Forge
// installation), lets the external site show HELP's widget (not IT's),
// puts the IT crew online and writes a week of history once.
func (h *Host) seed(ctx context.Context, clientKey string) error {
	st := h.opts.Store
	t, err := st.TenantByClientKey(ctx, clientKey)
	if err != nil {
		return err
	}
	var refs []models.ProjectRef
	for _, p := range h.site.Projects() {
		refs = append(refs, models.ProjectRef{JiraID: fmt.Sprint(p.ID), ServiceDeskID: p.ServiceDeskID, Key: p.Key, Name: p.Name})
	}
	now := h.opts.Now()
	projects, err := st.SyncProjects(ctx, t.ID, refs, now)
	if err != nil {
		return err
	}
	byKey := map[string]models.Project{}
	for _, p := range projects {
		byKey[p.Key] = p
	}
	help := byKey["HELP"]
	if len(help.AllowedOrigins) == 0 {
		if _, err := st.UpdateProjectSettings(ctx, t.ID, help.ID, models.ProjectSettings{WidgetEnabled: true,
			UnavailableMessage: help.UnavailableMessage, AllowedOrigins: []string{h.other}}, now); err != nil {
			return err
		}
	}
	past, err := st.Events(ctx, t.ID, models.EventFilter{Limit: 1})
	if err != nil {
		return err
	}
	if len(past) == 0 {
		if err := h.history(ctx, t.ID, byKey, now); err != nil {
			return err
		}
	}
	for i := 1; i <= itCrew; i++ {
		if _, err := st.SetStatus(ctx, t.ID, models.StatusChange{AccountID: crewID(i), ProjectIDs: []int64{byKey["IT"].ID},
			To: models.StateOnline, Source: models.SourceManual}, now); err != nil {
			return err
		}
	}
	return nil
}

// history writes the past six weekdays' status changes, each at its time.
func (h *Host) history(ctx context.Context, tenant models.TenantID, byKey map[string]models.Project, now time.Time) error {
	st := h.opts.Store
	type change struct {
		account  string
		keys     []string
		from, to float64 // UTC hours
		source   models.Source
		actor    string
	}
	plan := []change{
		{Alice, []string{"HELP", "IT"}, 8, 12, models.SourceManual, ""},
		{Alice, []string{"HELP", "IT"}, 13, 16.5, models.SourceManual, ""},
		{Bob, []string{"HELP"}, 9.5, 17, models.SourceSchedule, ""},
		{crewID(1), []string{"IT"}, 6, 14, models.SourceManual, ""},
		{crewID(2), []string{"IT"}, 12, 20, models.SourceExpiry, ""},
		{crewID(3), []string{"IT"}, 10, 18.25, models.SourceAdmin, Ada},
	}
	today := now.UTC().Truncate(24 * time.Hour)
	for d := 6; d >= 1; d-- {
		day := today.AddDate(0, 0, -d)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		for i, c := range plan {
			var ids []int64
			for _, k := range c.keys {
				ids = append(ids, byKey[k].ID)
			}
			jitter := time.Duration((d*7+i*13)%40) * time.Minute
			on := day.Add(time.Duration(c.from*float64(time.Hour)) + jitter)
			if _, err := st.SetStatus(ctx, tenant, models.StatusChange{AccountID: c.account, ProjectIDs: ids, To: models.StateOnline,
				Source: models.SourceManual}, on); err != nil {
				return err
			}
			off := day.Add(time.Duration(c.to*float64(time.Hour)) + jitter)
			change := models.StatusChange{AccountID: c.account, ProjectIDs: ids, To: models.StateOffline, Source: c.source, Actor: c.actor}
			if c.source == models.SourceAdmin {
				change.Reason = "Left for the day without going offline"
			}
			if _, err := st.SetStatus(ctx, tenant, change, off); err != nil {
				return err
			}
		}
	}
	return nil
}

// errUnknownUser answers token and URL requests for accounts the site lacks.
var errUnknownUser = errors.New("unknown demo user")

func (h *Host) account(r *http.Request) (string, error) {
	id := r.URL.Query().Get("accountId")
	if _, ok := h.site.User(id); !ok {
		return "", errUnknownUser
	}
	return id, nil
}
