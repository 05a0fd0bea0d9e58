package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"

	"agentpresence/handlers"
	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/handlers/live"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// The one fixture of the handler tests: the real router, wired as app
// wires it, on a real database (SQLite or PostgreSQL: dbtest.Each), with a
// fake clock. Options choose the database, a live HTTP server instead of
// e.ServeHTTP, the log level, the limits and any other dependency. On it:
//
//   - h.newSite and h.install: a simulated Jira site that installs the app
//     through the signed lifecycle (needs served());
//   - h.seedTenant: a tenant written to the store, with a simulated Jira
//     answering its permission checks (withJira) or none (memberships are
//     then set with member);
//   - h.do, h.request, h.from and h.call: requests, through the server or
//     e.ServeHTTP; must checks the ones that are setup.

// Every helper that may fail a test takes the test it runs in: a subtest's
// t, never its parent's.

const (
	testAppKey  = "io.example.presence"
	testBaseURL = "https://presence.example.com"
	// testKid names the one install signing key every simulated site uses,
	// as all real installs are signed by Atlassian's keys.
	testKid = "test-install-key"
	// streamWait bounds every wait for a stream's event or end.
	streamWait = 5 * time.Second
)

// loopbackJira lets the app call the simulated Jira sites, which are http
// on loopback; production allows https to public addresses only.
var loopbackJira = jira.TargetPolicy{AllowLoopback: true}

// installKey is generated once per test binary: RSA generation is slow,
// and the key is only ever read.
var installKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// harness is the router and everything it was built with.
type harness struct {
	server *echo.Echo
	// srv serves the router over HTTP when the harness is served(); nil
	// otherwise, and requests go through server.ServeHTTP.
	srv      *httptest.Server
	baseURL  string
	store    *models.Store
	clock    *clockwork.FakeClock
	board    *models.Board
	agents   *handlers.AgentHub
	widgets  *handlers.WidgetHub
	activity *models.ActivityBuffer
	// keysDown makes the install-keys server answer 503 (served only).
	keysDown *atomic.Bool
	logs     *lockedBuffer
}

type harnessConfig struct {
	dialect models.Dialect
	served  bool
	level   slog.Level
	limits  *handlers.Limits
	adjust  []func(*handlers.Deps)
}

type option func(*harnessConfig)

// on runs the harness on a database dialect (default SQLite).
func on(d models.Dialect) option { return func(c *harnessConfig) { c.dialect = d } }

// served serves the router over a live httptest server, as streams,
// HTTP/2 and simulated sites' installs need; the base URL is the server's.
func served() option { return func(c *harnessConfig) { c.served = true } }

// logsAt keeps log lines from level (default debug); benchmarks log at
// info, as production does.
func logsAt(level slog.Level) option { return func(c *harnessConfig) { c.level = level } }

// withLimits turns on the limiters of l (default: no limits).
func withLimits(l handlers.Limits) option { return func(c *harnessConfig) { c.limits = &l } }

// withDeps adjusts the dependencies before the router is built.
func withDeps(fn func(*handlers.Deps)) option {
	return func(c *harnessConfig) { c.adjust = append(c.adjust, fn) }
}

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	cfg := harnessConfig{dialect: models.DialectSQLite, level: slog.LevelDebug}
	for _, o := range opts {
		o(&cfg)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	h := &harness{baseURL: testBaseURL, store: dbtest.Open(t, cfg.dialect, clock.Now), clock: clock,
		activity: &models.ActivityBuffer{}, keysDown: &atomic.Bool{}, logs: &lockedBuffer{}}
	keysURL := "http://127.0.0.1:1" // nothing installs through an unserved harness
	var handler http.Handler
	if cfg.served {
		keysURL = h.serveInstallKeys(t)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
		srv.Config.ReadTimeout = 30 * time.Second // as app sets it: streams must outlive it
		srv.Start()
		h.srv, h.baseURL = srv, srv.URL
	}
	template, err := os.ReadFile("../atlassian-connect.json")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := handlers.NewDescriptor(template, h.baseURL, testAppKey, "Presence")
	if err != nil {
		t.Fatal(err)
	}
	h.board = models.NewBoard(h.store)
	if err := h.board.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: cfg.level}))
	// As app wires them: caches fed by the store's changes, hubs by the
	// store's and the board's.
	tenants := handlers.NewTenantCache(h.store, 10*time.Second, clock.Now)
	answers := handlers.NewMeCache(handlers.MeCacheTTL, clock.Now)
	for _, fn := range []models.ChangeFunc{tenants.Invalidate, answers.OnChange} {
		t.Cleanup(h.store.Watch(fn))
	}
	h.agents = handlers.NewAgentHub(h.store, log, live.WithClock(clock))
	h.widgets = handlers.NewWidgetHub(h.board, live.WithClock(clock))
	// Streams end before the server closes, which waits for them.
	t.Cleanup(func() {
		h.agents.Close()
		h.widgets.Close()
		if h.srv != nil {
			h.srv.Close()
		}
	})
	deps := handlers.Deps{
		Store:      h.store,
		Descriptor: desc,
		Installs:   &connect.InstallVerifier{KeysURL: keysURL, Now: clock.Now, Leeway: 30 * time.Second},
		Verifier:   connect.Verifier{Leeway: 30 * time.Second, Now: clock.Now},
		Tenants:    tenants,
		// The simulated sites are http on loopback, allowed here explicitly.
		Directory: jira.NewDirectory(jira.DirectoryConfig{Jira: &jira.Client{AppKey: testAppKey, Now: clock.Now, Targets: loopbackJira},
			Store: h.store, Now: clock.Now, MembershipTTL: 5 * time.Minute, PermissionTTL: time.Minute}),
		Board:        h.board,
		Activity:     h.activity,
		BaseURL:      h.baseURL,
		Assets:       os.DirFS(".."),
		Log:          log,
		Now:          clock.Now,
		JiraTargets:  loopbackJira,
		AgentEvents:  h.agents,
		WidgetEvents: h.widgets,
		MeAnswers:    answers,
		StatusBodies: handlers.NewStatusBodies(clock.Now),
	}
	if cfg.limits != nil {
		deps.Limiters = handlers.NewLimiters(*cfg.limits, clock.Now)
	}
	for _, fn := range cfg.adjust {
		fn(&deps)
	}
	h.server = handlers.NewServer(deps)
	handler = h.server
	return h
}

// serveInstallKeys starts the server of Atlassian's install keys, which
// knows testKid; keysDown makes it answer 503.
func (h *harness) serveInstallKeys(t testing.TB) string {
	pem, err := connect.EncodePublicKeyPEM(&installKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case h.keysDown.Load():
			http.Error(w, "down", http.StatusServiceUnavailable)
		case r.URL.Path == "/"+testKid:
			_, _ = w.Write(pem)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(keys.Close)
	return keys.URL
}

// lockedBuffer keeps the log lines; handlers write from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *lockedBuffer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Len()
}

// routes lists "METHOD /path" of the router, excluding echo internals.
func (h *harness) routes() []string {
	var out []string
	for _, r := range h.server.Routes() {
		if strings.HasPrefix(r.Method, "echo_") {
			continue
		}
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// newSite starts a simulated Jira site with the usual people and projects:
// HELP and IT; alice agent of both, bob agent of HELP, ada Jira admin and
// admin of HELP, carol customer. It installs through the signed lifecycle
// (install), so the harness must be served().
func (h *harness) newSite(t testing.TB) *jiratest.Site {
	t.Helper()
	if h.srv == nil {
		t.Fatal("a simulated site installs over HTTP: newHarness(t, served())")
	}
	site := h.serveSite(t, jiratest.Options{AppKey: testAppKey, InstallKey: installKey(), Kid: testKid, Now: h.clock.Now})
	for _, p := range []jiratest.ProjectSpec{{ID: 10000, Key: "HELP", Name: "Help desk"}, {ID: 10001, Key: "IT", Name: "IT"}} {
		if err := site.AddProject(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []jiratest.UserSpec{
		{AccountID: "alice", DisplayName: "Alice", Agent: []string{"HELP", "IT"}},
		{AccountID: "bob", DisplayName: "Bob", Agent: []string{"HELP"}},
		{AccountID: "ada", DisplayName: "Ada", JiraAdmin: true, ProjectAdmin: []string{"HELP"}, Agent: []string{"HELP"}},
		{AccountID: "carol", DisplayName: "Carol"},
	} {
		if err := site.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	return site
}

// serveSite serves a simulated site on loopback, calling the app at the
// harness's base URL.
func (h *harness) serveSite(t testing.TB, opts jiratest.Options) *jiratest.Site {
	t.Helper()
	site, err := jiratest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	if err := site.SetBaseURL(srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := site.SetAppBaseURL(h.baseURL); err != nil {
		t.Fatal(err)
	}
	return site
}

// install installs the site into the app through the signed lifecycle.
func (h *harness) install(t testing.TB, site *jiratest.Site) models.Tenant {
	t.Helper()
	if err := site.Install(context.Background()); err != nil {
		t.Fatalf("install: %v", err)
	}
	tn, err := h.store.TenantByClientKey(context.Background(), site.ClientKey())
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// Accounts of a seeded tenant's simulated Jira (withJira).
const (
	adminAda   = "557058:ada"   // Jira admin, admin of HELP
	agentAlice = "557058:alice" // agent of HELP and IT
	agentBob   = "557058:bob"   // agent of HELP
)

// seeded is a tenant written straight to the store with the projects HELP
// and IT, and, withJira, a simulated Jira that answers its permission
// checks.
type seeded struct {
	*harness
	tenant   models.Tenant
	projects map[string]models.Project
	// site is the simulated Jira (withJira); nil without one.
	site   *jiratest.Site
	secret []byte
}

type seedConfig struct{ jira bool }

type seedOption func(*seedConfig)

// withJira gives the tenant a simulated Jira where adminAda is Jira admin
// and admin of HELP, agentAlice agent of HELP and IT, agentBob of HELP.
func withJira() seedOption { return func(c *seedConfig) { c.jira = true } }

// seedTenant writes a tenant, and its projects, to the store.
func (h *harness) seedTenant(t testing.TB, opts ...seedOption) *seeded {
	t.Helper()
	var cfg seedConfig
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	s := &seeded{harness: h, projects: map[string]models.Project{}}
	install := models.Install{ClientKey: "ck-seeded", SharedSecret: []byte("seeded-secret"), BaseURL: "https://acme.atlassian.net"}
	if cfg.jira {
		// The install key signs nothing here; the binary's shared one costs nothing.
		s.site = h.serveSite(t, jiratest.Options{AppKey: testAppKey, InstallKey: installKey(), Now: h.clock.Now})
		for _, p := range []jiratest.ProjectSpec{{ID: 10000, Key: "HELP"}, {ID: 10001, Key: "IT"}} {
			if err := s.site.AddProject(p); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range []jiratest.UserSpec{
			{AccountID: adminAda, JiraAdmin: true, ProjectAdmin: []string{"HELP"}},
			{AccountID: agentAlice, Agent: []string{"HELP", "IT"}},
			{AccountID: agentBob, Agent: []string{"HELP"}},
		} {
			if err := s.site.AddUser(u); err != nil {
				t.Fatal(err)
			}
		}
		install = models.Install{ClientKey: s.site.ClientKey(), SharedSecret: s.site.SharedSecret(), BaseURL: s.site.BaseURL()}
	}
	s.secret = install.SharedSecret
	tn, err := h.store.SaveInstall(ctx, install, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.tenant = tn
	ps, err := h.store.SyncProjects(ctx, tn.ID, []models.ProjectRef{
		{JiraID: "10000", ServiceDeskID: "1", Key: "HELP", Name: "Help desk"},
		{JiraID: "10001", ServiceDeskID: "2", Key: "IT", Name: "IT"},
	}, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		s.projects[p.Key] = p
	}
	if err := h.board.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// token is a context token of account, as our pages get from
// AP.context.getToken().
func (s *seeded) token(t testing.TB, account string) string {
	t.Helper()
	if s.site != nil {
		return s.site.ContextToken(account)
	}
	tok, err := connect.NewContextToken(s.tenant.ClientKey, account, s.secret, s.clock.Now(), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get sends a GET as account.
func (s *seeded) get(t testing.TB, target, account string) apiResult {
	t.Helper()
	return s.request(t, http.MethodGet, target, s.token(t, account), "")
}

// member makes account an agent of the projects, with memberships fresh
// as of the harness's clock: the directory does not ask Jira.
func (s *seeded) member(t testing.TB, account string, keys ...string) {
	t.Helper()
	if err := s.store.SetMemberships(context.Background(), s.tenant.ID, account, s.ids(t, keys), s.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

func (s *seeded) ids(t testing.TB, keys []string) []int64 {
	t.Helper()
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		p, ok := s.projects[k]
		if !ok {
			t.Fatalf("no project %s", k)
		}
		ids = append(ids, p.ID)
	}
	return ids
}

// set changes a status by hand at the harness clock's time.
func (s *seeded) set(t testing.TB, account string, online bool, keys ...string) {
	t.Helper()
	s.setBy(t, account, online, models.SourceManual, "", keys...)
}

// setBy changes a status with a source (an admin's: by adminAda) and a
// reason.
func (s *seeded) setBy(t testing.TB, account string, online bool, source models.Source, reason string, keys ...string) {
	t.Helper()
	ch := models.StatusChange{AccountID: account, ProjectIDs: s.ids(t, keys), To: models.StateFor(online), Source: source, Reason: reason}
	if source == models.SourceAdmin {
		ch.Actor = adminAda
	}
	if _, err := s.store.SetStatus(context.Background(), s.tenant.ID, ch, s.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

func (s *seeded) widgetPath(key string) string {
	return "/public/v1/widgets/" + s.projects[key].WidgetID + "/events"
}

// agentPath is the agents' stream with a context token in ?jwt=, as the
// page's EventSource calls it.
func (s *seeded) agentPath(t testing.TB, account, project string) string {
	t.Helper()
	q := url.Values{"jwt": {s.token(t, account)}}
	if project != "" {
		q.Set("project", project)
	}
	return "/api/v1/events?" + q.Encode()
}

// req is one request to the router.
type req struct {
	method, target, body string
	// token goes in Authorization: JWT.
	token string
	// from is the client address; only through e.ServeHTTP.
	from   string
	header http.Header
}

// apiResult is an answer: a stream's up to the end of its first event.
type apiResult struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResult) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r apiResult) errorCode(t testing.TB) string {
	t.Helper()
	var e errorJSON
	r.decode(t, &e)
	return e.Error.Code
}

type errorJSON struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends r over HTTP when the harness is served, else through
// e.ServeHTTP, within a deadline so that a stream opened by mistake ends.
func (h *harness) do(t testing.TB, r req) apiResult {
	t.Helper()
	// A server's request always has a body, if an empty one.
	var body io.Reader = http.NoBody
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	target := r.target
	if h.srv != nil {
		if r.from != "" {
			t.Fatal("a client address needs e.ServeHTTP: an unserved harness")
		}
		target = h.srv.URL + r.target
	}
	hr, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "JWT "+r.token)
	}
	for k, v := range r.header {
		hr.Header[k] = v
	}
	if h.srv == nil {
		hr.RemoteAddr = "192.0.2.1:1234" // httptest's default
		if r.from != "" {
			hr.RemoteAddr = net.JoinHostPort(r.from, "40000")
		}
		rec := httptest.NewRecorder()
		h.server.ServeHTTP(rec, hr)
		return apiResult{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}
	resp, err := h.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b = firstEvent(resp.Body)
	} else if b, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	return apiResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// call sends an API request as a user of a site with a context token
// (none without a site), and extra headers as name, value pairs.
func (h *harness) call(t testing.TB, site *jiratest.Site, user, method, path, body string, header ...string) apiResult {
	t.Helper()
	r := req{method: method, target: path, body: body, header: http.Header{}}
	if site != nil {
		r.token = site.ContextToken(user)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.header.Set(header[i], header[i+1])
	}
	return h.do(t, r)
}

// request sends method target with a token (none: "") and a JSON body.
func (h *harness) request(t testing.TB, method, target, token, body string) apiResult {
	t.Helper()
	return h.do(t, req{method: method, target: target, token: token, body: body})
}

// from is request as if from the client address addr (e.ServeHTTP only).
func (h *harness) from(t testing.TB, addr, method, target, token, body string) apiResult {
	t.Helper()
	return h.do(t, req{method: method, target: target, token: token, body: body, from: addr})
}

// must is for setup: the request must succeed (2xx), or the test stops.
func must(t testing.TB, r apiResult) apiResult {
	t.Helper()
	if r.status < 200 || r.status > 299 {
		t.Fatalf("setup request: %d %s", r.status, r.body)
	}
	return r
}

// firstEvent reads a live stream up to the end of its first event (a line
// starting "data:" followed by a blank line); streams never end by themselves.
func firstEvent(r io.Reader) []byte {
	var out []byte
	sc := bufio.NewScanner(r)
	seenData := false
	for sc.Scan() {
		line := sc.Text()
		out = append(out, line...)
		out = append(out, '\n')
		if strings.HasPrefix(line, "data:") {
			seenData = true
		}
		if line == "" && seenData {
			break
		}
	}
	return out
}

// sseEvent is one event (or, with name ":", one comment) read off a stream.
type sseEvent struct {
	id, name, data string
}

// sseClient reads a stream in the background, one event at a time.
type sseClient struct {
	resp   *http.Response
	events chan sseEvent
}

// dial opens a stream through the served harness. A non-200 answer is
// returned with no reader.
func (h *harness) dial(t *testing.T, path string, header http.Header) *sseClient {
	t.Helper()
	if h.srv == nil {
		t.Fatal("streams need a served harness")
	}
	return dial(t, h.srv, path, header)
}

// dial opens a stream through srv.
func dial(t *testing.T, srv *httptest.Server, path string, header http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{resp: resp, events: make(chan sseEvent, 64)}
	if resp.StatusCode != http.StatusOK {
		cancel()
		return c
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev = sseEvent{name: ":", data: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return c
}

// next waits for the next event.
func (c *sseClient) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(streamWait):
		t.Fatal("no event within 5 s")
	}
	return sseEvent{}
}

// nextData waits for the next event that is not a keepalive.
func (c *sseClient) nextData(t *testing.T) sseEvent {
	t.Helper()
	for {
		if ev := c.next(t); ev.name != "keepalive" {
			return ev
		}
	}
}

// ended waits for the stream to end, skipping the events before.
func (c *sseClient) ended(t *testing.T) {
	t.Helper()
	timeout := time.After(streamWait)
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the stream did not end within 5 s")
		}
	}
}

// waitFor polls cond (for what the hubs do in the background) for up to
// streamWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(streamWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
