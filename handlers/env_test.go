package handlers_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"

	"agentpresence/handlers"
	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/live"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// testEnv is the real router on a real database, with a fake clock.
type testEnv struct {
	server  *echo.Echo
	store   *models.Store
	clock   *clockwork.FakeClock
	board   *models.Board
	agents  *handlers.AgentHub
	widgets *handlers.WidgetHub
}

const testBaseURL = "https://presence.example.com"

// loopbackJira lets the app call the simulated Jira sites, which are http
// on loopback; production allows https to public addresses only.
var loopbackJira = jira.TargetPolicy{AllowLoopback: true}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvOn(t, models.DialectSQLite)
}

func newTestEnvOn(t testing.TB, dialect models.Dialect) *testEnv {
	t.Helper()
	return newTestEnvWith(t, dialect, nil)
}

// newTestEnvWith lets a test adjust the dependencies before the router is built.
func newTestEnvWith(t testing.TB, dialect models.Dialect, adjust func(*handlers.Deps)) *testEnv {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	store := dbtest.Open(t, dialect, clock.Now)
	template, err := os.ReadFile("../atlassian-connect.json")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := handlers.NewDescriptor(template, testBaseURL, "io.example.presence", "Presence")
	if err != nil {
		t.Fatal(err)
	}
	board := models.NewBoard(store)
	log := slog.New(slog.DiscardHandler)
	tenants := handlers.NewTenantCache(store, 10*time.Second, clock.Now)
	store.Watch(tenants.Invalidate) // as app wires it
	agents := handlers.NewAgentHub(store, log, live.WithClock(clock))
	widgets := handlers.NewWidgetHub(board, live.WithClock(clock))
	t.Cleanup(func() { agents.Close(); widgets.Close() })
	deps := handlers.Deps{
		Store:      store,
		Descriptor: desc,
		Installs:   &connect.InstallVerifier{KeysURL: "http://127.0.0.1:1", Now: clock.Now},
		Verifier:   connect.Verifier{Leeway: 30 * time.Second, Now: clock.Now},
		Tenants:    tenants,
		// The simulated sites are http on loopback, allowed here explicitly.
		Directory: jira.NewDirectory(jira.DirectoryConfig{Jira: &jira.Client{AppKey: "io.example.presence", Now: clock.Now, Targets: loopbackJira}, Store: store,
			Now: clock.Now, MembershipTTL: 5 * time.Minute, PermissionTTL: time.Minute}),
		Board:    board,
		Activity: &models.ActivityBuffer{},
		BaseURL:  testBaseURL,
		Assets:   os.DirFS(".."),
		Log:      log,
		Now:      clock.Now,

		AgentEvents:  agents,
		WidgetEvents: widgets,
		MeAnswers:    handlers.NewMeCache(handlers.MeCacheTTL, clock.Now),
		StatusBodies: handlers.NewStatusBodies(clock.Now),
	}
	t.Cleanup(store.Watch(deps.MeAnswers.OnChange))
	if adjust != nil {
		adjust(&deps)
	}
	e := handlers.NewServer(deps)
	return &testEnv{server: e, store: store, clock: clock, board: board, agents: agents, widgets: widgets}
}
