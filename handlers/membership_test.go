package handlers_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestStaleMembershipBound: how long a membership list Jira gave earlier may
// let an agent go online. While Jira answers, a list older than a minute is
// checked again (a revoked agent is refused within a minute); while Jira
// fails, a list up to MaxStale (15 minutes by default) still grants, an
// older one does not (503 cannot_confirm_agent), and going offline and
// reading never need Jira. Abuse cases as a table, each on a site of its
// own whose memberships were stored at the start.
func TestStaleMembershipBound(t *testing.T) {
	revoke := func(t *testing.T, site *jiratest.Site) {
		u, ok := site.User("alice")
		if !ok {
			t.Fatal("the site has no alice")
		}
		u.Agent = slices.DeleteFunc(u.Agent, func(k string) bool { return k == "HELP" })
		if err := site.SetUser(u); err != nil {
			t.Fatal(err)
		}
	}
	down := func(_ *testing.T, site *jiratest.Site) { site.SetDown(true) }
	const online, offline, onlineAll = `{"online":true,"scope":"project","project":"HELP"}`, `{"online":false,"scope":"project","project":"HELP"}`, `{"online":true,"scope":"all"}`
	tests := []struct {
		name         string
		change       func(*testing.T, *jiratest.Site)
		age          time.Duration
		method, path string
		body         string
		status       int
		code         string
	}{
		{"revoked, Jira answers, list 2 minutes old: going online", revoke, 2 * time.Minute, "PUT", "/api/v1/me/status", online, http.StatusForbidden, "not_an_agent"},
		{"revoked, Jira answers, list 30 seconds old: going online", revoke, 30 * time.Second, "PUT", "/api/v1/me/status", online, http.StatusOK, ""},
		{"Jira down, list 10 minutes old: going online", down, 10 * time.Minute, "PUT", "/api/v1/me/status", online, http.StatusOK, ""},
		{"Jira down, list 20 minutes old: going online", down, 20 * time.Minute, "PUT", "/api/v1/me/status", online, http.StatusServiceUnavailable, "cannot_confirm_agent"},
		{"Jira down, list 20 minutes old: going online everywhere", down, 20 * time.Minute, "PUT", "/api/v1/me/status", onlineAll, http.StatusServiceUnavailable, "cannot_confirm_agent"},
		{"Jira down, list a day old: going offline", down, 24 * time.Hour, "PUT", "/api/v1/me/status", offline, http.StatusOK, ""},
		{"Jira down, list a day old: reading /me", down, 24 * time.Hour, "GET", "/api/v1/me?project=HELP", "", http.StatusOK, ""},
		{"Jira down, list a day old: reading the online list", down, 24 * time.Hour, "GET", "/api/v1/projects/HELP/agents", "", http.StatusOK, ""},
	}
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				site := env.newSite(t)
				env.install(t, site)
				if m := env.me(t, site, "alice", "HELP"); !m.IsAgent {
					t.Fatalf("alice is not an agent of HELP at the start: %+v", m)
				}
				tt.change(t, site)
				env.clock.Advance(tt.age)
				r := env.call(t, site, "alice", tt.method, tt.path, tt.body)
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				if tt.code != "" && r.errorCode(t) != tt.code {
					t.Fatalf("code %q, want %q", r.errorCode(t), tt.code)
				}
				if r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
					t.Fatal("503 without Retry-After")
				}
			})
		}
	})
}
