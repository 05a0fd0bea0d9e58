package handlers_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestTenantIsolation: with a token of tenant A, no route reads or changes
// anything of tenant B, even when B's projects have the same keys and the
// request names B's people. Every /api/v1 route must have a case here.
func TestTenantIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		siteA, siteB := env.newSite(t), env.newSite(t)
		if err := siteB.AddUser(jiratest.UserSpec{AccountID: "zoe-of-b", DisplayName: "Zoe", Agent: []string{"HELP"}}); err != nil {
			t.Fatal(err)
		}
		env.install(t, siteA)
		tenantB := env.install(t, siteB)
		ctx := context.Background()

		// B's state: zoe online in HELP, settings set, auto-offline 30.
		if r := env.call(t, siteB, "zoe-of-b", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != 200 {
			t.Fatalf("B setup: %d %s", r.status, r.body)
		}
		must(t, env.call(t, siteB, "ada", "PUT", "/api/v1/projects/HELP/settings", `{"widgetEnabled":true,"unavailableMessage":"B only","allowedOrigins":["https://b.example.com"]}`))
		must(t, env.call(t, siteB, "ada", "PUT", "/api/v1/settings", `{"autoOfflineMinutes":30}`))
		if r := env.call(t, siteB, "zoe-of-b", "PUT", "/api/v1/me/schedule", `{"timezone":"Europe/Warsaw","enabled":true,"rules":[{"days":["tue"],"start":"09:00","end":"17:00"}],"exceptions":[]}`); r.status != 200 {
			t.Fatalf("B schedule: %d %s", r.status, r.body)
		}
		env.me(t, siteA, "ada", "HELP")
		snapshot := func() string {
			p, err := env.store.ProjectByKey(ctx, tenantB.ID, "HELP")
			if err != nil {
				t.Fatal(err)
			}
			tb, err := env.store.Tenant(ctx, tenantB.ID)
			if err != nil {
				t.Fatal(err)
			}
			st, err := env.store.Statuses(ctx, tenantB.ID, "zoe-of-b")
			if err != nil {
				t.Fatal(err)
			}
			sched, next, err := env.store.ScheduleOf(ctx, tenantB.ID, "zoe-of-b")
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("widget=%s enabled=%v message=%q origins=%v autoOffline=%d statuses=%+v events=%d schedule=%+v next=%v",
				p.WidgetID, p.WidgetEnabled, p.UnavailableMessage, p.AllowedOrigins, tb.AutoOfflineMinutes, st, len(env.events(t, tenantB.ID)), *sched, next)
		}
		before := snapshot()
		pB, err := env.store.ProjectByKey(ctx, tenantB.ID, "HELP")
		if err != nil {
			t.Fatal(err)
		}

		cases := map[string]struct{ method, path, body string }{
			"GET /api/v1/me":                                       {"GET", "/api/v1/me?project=HELP&clientKey=" + siteB.ClientKey(), ""},
			"PUT /api/v1/me/status":                                {"PUT", "/api/v1/me/status", `{"online":false,"scope":"all"}`},
			"POST /api/v1/me/heartbeat":                            {"POST", "/api/v1/me/heartbeat", ""},
			"GET /api/v1/projects/:key/agents":                     {"GET", "/api/v1/projects/HELP/agents", ""},
			"POST /api/v1/projects/:key/agents/:accountId/offline": {"POST", "/api/v1/projects/HELP/agents/zoe-of-b/offline", `{"scope":"all"}`},
			"GET /api/v1/projects/:key/settings":                   {"GET", "/api/v1/projects/HELP/settings", ""},
			"PUT /api/v1/projects/:key/settings":                   {"PUT", "/api/v1/projects/HELP/settings", `{"widgetEnabled":false,"unavailableMessage":"A was here","allowedOrigins":[]}`},
			"POST /api/v1/projects/:key/widget/rotate":             {"POST", "/api/v1/projects/HELP/widget/rotate", ""},
			"GET /api/v1/settings":                                 {"GET", "/api/v1/settings", ""},
			"PUT /api/v1/settings":                                 {"PUT", "/api/v1/settings", `{"autoOfflineMinutes":5}`},
			// The same zone list for everyone (it names Europe/Warsaw, B's zone).
			"GET /api/v1/timezones": {"GET", "/api/v1/timezones", ""},
		}
		extra := map[string]struct{ method, path, body string }{}
		for k, v := range isolationExtraCases() {
			extra[k] = v
		}
		covered := map[string]bool{}
		for name, c := range cases {
			covered[name] = true
			r := env.call(t, siteA, "ada", c.method, c.path, c.body)
			if r.status >= 500 {
				t.Errorf("%s: %d %s", name, r.status, r.body)
			}
			body := string(r.body)
			if strings.Contains(c.path, "zoe-of-b") {
				// The answer may repeat the id it was asked about, but must
				// have changed nothing.
				body = strings.Replace(body, `"accountId":"zoe-of-b"`, "", 1)
				if r.status == 200 && !strings.Contains(body, `"changed":0`) {
					t.Errorf("%s changed something of B: %s", name, r.body)
				}
			}
			if strings.Contains(body, "zoe-of-b") || strings.Contains(body, pB.WidgetID) || strings.Contains(body, "B only") {
				t.Errorf("%s leaked B's data: %s", name, r.body)
			}
		}
		for name, c := range extra {
			covered[name] = true
			r := env.call(t, siteA, "ada", c.method, c.path, c.body)
			if r.status >= 500 {
				t.Errorf("%s: %d %s", name, r.status, r.body)
			}
			if strings.HasPrefix(name, "GET /api/v1/events") && !strings.Contains(string(r.body), `{"key":"HELP","onlineCount":0}`) {
				// zoe is online in B's HELP; A's HELP has nobody.
				t.Errorf("%s: A's stream does not show A's own count: %s", name, r.body)
			}
			if strings.Contains(string(r.body), "zoe-of-b") || strings.Contains(string(r.body), pB.WidgetID) || strings.Contains(string(r.body), "Warsaw") {
				t.Errorf("%s leaked B's data: %s", name, r.body)
			}
		}
		if after := snapshot(); after != before {
			t.Fatalf("tenant B changed through A's token:\nbefore %s\nafter  %s", before, after)
		}
		param := regexp.MustCompile(`\{([A-Za-z]+)\}`)
		for _, r := range env.routes() {
			if !strings.HasPrefix(r, "GET /api/") && !strings.HasPrefix(r, "PUT /api/") && !strings.HasPrefix(r, "POST /api/") && !strings.HasPrefix(r, "DELETE /api/") {
				continue
			}
			if !covered[param.ReplaceAllString(r, ":$1")] && !covered[r] {
				t.Errorf("route %s has no tenant-isolation case", r)
			}
		}
	})
}

// isolationExtraCases holds cases for routes added later (schedules,
// events, admin reads), kept apart so that the table above stays readable.
func isolationExtraCases() map[string]struct{ method, path, body string } {
	return map[string]struct{ method, path, body string }{
		"GET /api/v1/me/schedule": {"GET", "/api/v1/me/schedule", ""},
		// The stream is read until its first event: A's counts only.
		"GET /api/v1/events":      {"GET", "/api/v1/events?project=HELP", ""},
		"PUT /api/v1/me/schedule": {"PUT", "/api/v1/me/schedule", `{"timezone":"UTC","enabled":true,"rules":[{"days":["mon"],"start":"01:00","end":"02:00"}],"exceptions":[]}`},
		// The admin reads, asked for B's agent by name: nothing of B.
		"GET /api/v1/admin/online": {"GET", "/api/v1/admin/online", ""},
		"GET /api/v1/admin/events": {"GET", "/api/v1/admin/events?accountId=zoe-of-b&project=HELP", ""},
		"GET /api/v1/admin/report": {"GET", "/api/v1/admin/report?project=HELP", ""},
		// Computed from the body and the zone data only: nothing of B.
		"POST /api/v1/me/schedule/preview": {"POST", "/api/v1/me/schedule/preview", `{"timezone":"UTC","enabled":true,"rules":[]}`},
	}
}
