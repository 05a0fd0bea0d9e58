package handlers_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

const testAppKey = "io.example.presence"

// installKey is generated once per test binary: RSA generation is slow,
// and the key is only ever read.
var installKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// jiraEnv is the real router served over HTTP on a real database, with
// one or more simulated Jira sites that install the app through the signed
// lifecycle and answer its REST calls.
type jiraEnv struct {
	t        testing.TB
	app      *httptest.Server
	store    *models.Store
	clock    *clockwork.FakeClock
	board    *models.Board
	logs     *strings.Builder
	logsMu   *sync.Mutex
	echo     *echo.Echo
	activity *models.ActivityBuffer
	// keysDown makes the install-keys server answer 503.
	keysDown *atomic.Bool
}

// testKid names the one install signing key every simulated site uses, as
// all real installs are signed by Atlassian's keys.
const testKid = "test-install-key"

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newJiraEnv(t testing.TB, dialect models.Dialect) *jiraEnv {
	t.Helper()
	return newJiraEnvAt(t, dialect, slog.LevelDebug)
}

// newJiraEnvAt sets the log level; benchmarks log at info, as production does.
func newJiraEnvAt(t testing.TB, dialect models.Dialect, level slog.Level) *jiraEnv {
	t.Helper()
	return newJiraEnvWith(t, dialect, level, nil)
}

// newJiraEnvWith lets a test adjust the dependencies before the router is
// built.
func newJiraEnvWith(t testing.TB, dialect models.Dialect, level slog.Level, adjust func(*handlers.Deps)) *jiraEnv {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	store := dbtest.Open(t, dialect, clock.Now)
	template, err := os.ReadFile("../atlassian-connect.json")
	if err != nil {
		t.Fatal(err)
	}
	keysDown := &atomic.Bool{}
	pem, err := connect.EncodePublicKeyPEM(&installKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case keysDown.Load():
			http.Error(w, "down", http.StatusServiceUnavailable)
		case r.URL.Path == "/"+testKid:
			_, _ = w.Write(pem)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(keys.Close)
	var handler http.Handler
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(app.Close)
	desc, err := handlers.NewDescriptor(template, app.URL, testAppKey, "Presence")
	if err != nil {
		t.Fatal(err)
	}
	board := models.NewBoard(store)
	if err := board.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	env := &jiraEnv{t: t, app: app, store: store, clock: clock, board: board, logs: &strings.Builder{}, logsMu: &sync.Mutex{}, keysDown: keysDown, activity: &models.ActivityBuffer{}}
	log := slog.New(slog.NewJSONHandler(lockedWriter{env.logsMu, env.logs}, &slog.HandlerOptions{Level: level}))
	deps := handlers.Deps{
		Store:      store,
		Descriptor: desc,
		Installs:   &connect.InstallVerifier{KeysURL: keys.URL, Now: clock.Now, Leeway: 30 * time.Second},
		Verifier:   connect.Verifier{Leeway: 30 * time.Second, Now: clock.Now},
		Tenants:    handlers.NewTenantCache(store, 10*time.Second, clock.Now),
		// The simulated sites are http on loopback, allowed here explicitly.
		Directory: jira.NewDirectory(jira.DirectoryConfig{Jira: &jira.Client{AppKey: testAppKey, Now: clock.Now, Targets: loopbackJira}, Store: store,
			Now: clock.Now, MembershipTTL: 5 * time.Minute, PermissionTTL: time.Minute}),
		Board:        board,
		Activity:     env.activity,
		BaseURL:      app.URL,
		Assets:       os.DirFS(".."),
		Log:          log,
		Now:          clock.Now,
		JiraTargets:  loopbackJira,
		AgentEvents:  handlers.NewAgentHub(store, log),
		WidgetEvents: handlers.NewWidgetHub(board),
		MeAnswers:    handlers.NewMeCache(handlers.MeCacheTTL, clock.Now),
		StatusBodies: handlers.NewStatusBodies(clock.Now),
	}
	t.Cleanup(func() { deps.AgentEvents.Close(); deps.WidgetEvents.Close() })
	t.Cleanup(store.Watch(deps.MeAnswers.OnChange))
	if adjust != nil {
		adjust(&deps)
	}
	e := handlers.NewServer(deps)
	env.echo, handler = e, e
	return env
}

// newSite starts a simulated Jira site with the usual people and projects:
// HELP and IT; alice agent of both, bob agent of HELP, ada Jira admin and
// admin of HELP, carol customer.
func (env *jiraEnv) newSite() *jiratest.Site {
	t := env.t
	t.Helper()
	site, err := jiratest.New(jiratest.Options{AppKey: testAppKey, InstallKey: installKey(), Kid: testKid, Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	if err := site.SetBaseURL(srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := site.SetAppBaseURL(env.app.URL); err != nil {
		t.Fatal(err)
	}
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

// install installs the site into the app, with the app fetching install
// keys from that site's key server.
func (env *jiraEnv) install(site *jiratest.Site) models.Tenant {
	t := env.t
	t.Helper()
	if err := site.Install(context.Background()); err != nil {
		t.Fatalf("install: %v", err)
	}
	tn, err := env.store.TenantByClientKey(context.Background(), site.ClientKey())
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

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

// call sends an API request as a user of a site with a context token.
func (env *jiraEnv) call(site *jiratest.Site, user, method, path, body string, header ...string) apiResult {
	t := env.t
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, env.app.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if site != nil {
		req.Header.Set("Authorization", "JWT "+site.ContextToken(user))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b = firstEvent(resp.Body)
	} else {
		b, _ = io.ReadAll(resp.Body)
	}
	return apiResult{status: resp.StatusCode, header: resp.Header, body: b}
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
