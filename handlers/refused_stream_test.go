package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"agentpresence/handlers"
	"agentpresence/models"
)

// TestStreamAfterHubClosed: once the hubs are closed (shutting down), a new
// stream gets an empty answer that tells EventSource to retry elsewhere,
// and nothing panics.
func TestStreamAfterHubClosed(t *testing.T) {
	var logs strings.Builder
	env := newTestEnvWith(t, models.DialectSQLite, func(d *handlers.Deps) {
		d.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	ctx := context.Background()
	tn, err := env.store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://x.atlassian.net"}, env.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := env.store.SyncProjects(ctx, tn.ID, []models.ProjectRef{{JiraID: "1", Key: "HELP"}}, env.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	env.widgets.Close()
	env.agents.Close()
	rec := do(t, env, http.MethodGet, "/public/v1/widgets/"+ps[0].WidgetID+"/events", "", "")
	if rec.Code == http.StatusInternalServerError {
		t.Fatalf("a stream on a closed hub failed: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("a stream on a closed hub panicked:\n%s", logs.String())
	}
}
