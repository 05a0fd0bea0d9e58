package handlers_test

import (
	"context"
	"net/http"
	"testing"

	"agentpresence/models"
)

// TestProjectWebhooksDoubtPermissions: a project event from Jira makes the
// tenant's admin checks be asked again, where they were answered from the
// cache before; a webhook needs the real qsh.
func TestProjectWebhooksDoubtPermissions(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	env.install(t, site)
	const checks = "/rest/api/3/permissions/check"
	online := func() {
		t.Helper()
		if r := env.call(t, site, "ada", http.MethodGet, "/api/v1/admin/online", ""); r.status != http.StatusOK {
			t.Fatalf("admin online: %d %s", r.status, r.body)
		}
	}
	online()
	before := site.Calls(checks)
	online()
	if site.Calls(checks) != before {
		t.Fatal("the second admin check within its TTL asked Jira")
	}
	for _, event := range []string{"project_updated", "project_deleted", "project_archived"} {
		if err := site.SendProjectWebhook(context.Background(), event, "HELP"); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		before := site.Calls(checks)
		env.clock.Advance(1) // an answer after the event is a new one
		online()
		if site.Calls(checks) != before+1 {
			t.Fatalf("after %s the admin check was not asked again", event)
		}
	}
	if r := env.call(t, site, "ada", http.MethodPost, "/webhooks/projects", `{"webhookEvent":"project_updated"}`); r.status != http.StatusUnauthorized {
		t.Fatalf("a project webhook with a context token: %d %s", r.status, r.body)
	}
}

// TestForgeProjectEventsDoubtPermissions: Forge's project events, to the
// remote's events endpoint, do what Connect's project webhooks do.
func TestForgeProjectEventsDoubtPermissions(t *testing.T) {
	env := newForgeHarness(t)
	site, inst := env.newForgeSite(t)
	env.installForge(t, inst)
	const checks = "/rest/api/3/permissions/check"
	online := func() {
		t.Helper()
		if r := env.invoke(t, inst, "ada", http.MethodGet, "/api/v1/admin/online", ""); r.status != http.StatusOK {
			t.Fatalf("admin online: %d %s", r.status, r.body)
		}
	}
	online()
	before := site.Calls(checks)
	online()
	if site.Calls(checks) != before {
		t.Fatal("the second admin check within its TTL asked Jira")
	}
	ctx := context.Background()
	r := env.send(t)(env.platform.ProductEvent(ctx, env.baseURL, "/forge/events/activity", inst, "avi:jira:updated:project", "", nil))
	if r.status != http.StatusNoContent {
		t.Fatalf("project event: %d %s", r.status, r.body)
	}
	online()
	if site.Calls(checks) != before+1 {
		t.Fatal("after avi:jira:updated:project the admin check was not asked again")
	}
}
