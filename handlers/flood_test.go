package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"agentpresence/handlers"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestStatusFlappingIsBounded: one agent flipping online and offline as
// fast as it can gets a burst through, then 429 with Retry-After, so the
// audit log grows by a bounded number of events a minute per agent; every
// change that is let through is one event (the trail stays truthful), other
// agents are not affected, and the budget refills with time.
func TestStatusFlappingIsBounded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served(), withLimits(handlers.DefaultLimits()))
		site := env.newSite(t)
		tn := env.install(t, site)
		const flips = 100
		codes := map[int]int{}
		var refused apiResult
		for i := range flips {
			r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", fmt.Sprintf(`{"online":%t,"scope":"all"}`, i%2 == 0))
			codes[r.status]++
			if r.status == http.StatusTooManyRequests {
				refused = r
			}
		}
		accepted := codes[http.StatusOK]
		if accepted == 0 || accepted > 20 || codes[http.StatusTooManyRequests] != flips-accepted {
			t.Fatalf("answers %v: want a small burst accepted and the rest refused", codes)
		}
		if refused.header.Get("Retry-After") == "" || refused.errorCode(t) != "too_many_status_changes" {
			t.Fatalf("refusal: %s, Retry-After %q", refused.body, refused.header.Get("Retry-After"))
		}
		// Each accepted flip switched both of alice's projects: two events.
		if n := len(env.events(t, tn.ID)); n != 2*accepted {
			t.Fatalf("%d events for %d accepted flips, want %d", n, accepted, 2*accepted)
		}
		if r := env.call(t, site, "bob", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
			t.Fatalf("another agent: %d %s", r.status, r.body)
		}
		if r := env.call(t, site, "alice", "GET", "/api/v1/me?project=HELP", ""); r.status != http.StatusOK {
			t.Fatalf("reading while throttled: %d", r.status)
		}
		env.clock.Advance(time.Minute)
		if r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
			t.Fatalf("a minute later: %d %s", r.status, r.body)
		}
	})
}

// TestUnknownProjectKeysCostOneJiraCall: a flood of project keys and portal
// desks the app does not know costs at most one service desk listing per
// tenant and minute, not one per request; a project created in Jira is
// found once the minute is over.
func TestUnknownProjectKeysCostOneJiraCall(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		env.install(t, site)
		env.me(t, site, "alice", "HELP") // projects and memberships known
		const listing = "/rest/servicedeskapi/servicedesk"
		site.ResetCalls()
		tests := []struct {
			name string
			send func(i int) int
		}{
			{"unknown keys in the agent API", func(i int) int {
				return env.call(t, site, "alice", "GET", fmt.Sprintf("/api/v1/projects/NOPE%d/agents", i), "").status
			}},
			{"unknown keys in settings", func(i int) int {
				return env.call(t, site, "alice", "GET", fmt.Sprintf("/api/v1/projects/NOPE%d/settings", i), "").status
			}},
			{"unknown portal desks", func(i int) int {
				resp, err := http.Get(site.SignedURL("GET", "/pages/portal-footer", url.Values{"serviceDeskId": {fmt.Sprint(900 + i)}}, ""))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for i := range 30 {
					if status := tt.send(i); status != http.StatusNotFound && status != http.StatusOK {
						t.Fatalf("request %d: %d", i, status)
					}
				}
				if n := site.Calls(listing); n > 1 {
					t.Fatalf("%d service desk listings, want at most 1 a minute", n)
				}
			})
		}
		if err := site.AddProject(jiratest.ProjectSpec{ID: 10009, Key: "NEW"}); err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(61 * time.Second)
		if r := env.call(t, site, "alice", "GET", "/api/v1/projects/NEW/settings", ""); r.status != http.StatusForbidden {
			t.Fatalf("a project created in Jira, a minute later: %d %s (want it found, and alice no agent of it)", r.status, r.body)
		}
		if n := site.Calls(listing); n != 2 {
			t.Fatalf("%d service desk listings after the minute, want 2", n)
		}
	})
}
