package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

type meJSON struct {
	AccountID string `json:"accountId"`
	Project   *struct {
		Key         string     `json:"key"`
		Online      bool       `json:"online"`
		Until       *time.Time `json:"until"`
		Source      string     `json:"source"`
		OnlineCount int        `json:"onlineCount"`
	} `json:"project"`
	IsAgent  bool `json:"isAgent"`
	Projects []struct {
		Key         string `json:"key"`
		Online      bool   `json:"online"`
		OnlineCount int    `json:"onlineCount"`
	} `json:"projects"`
	CanPutOthersOffline bool `json:"canPutOthersOffline"`
}

func (h *harness) me(t testing.TB, site *jiratest.Site, user, project string) meJSON {
	t.Helper()
	r := h.call(t, site, user, "GET", "/api/v1/me?project="+project, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /me as %s: %d %s", user, r.status, r.body)
	}
	var m meJSON
	r.decode(t, &m)
	return m
}

func (h *harness) events(t testing.TB, tenant models.TenantID) []models.Event {
	t.Helper()
	evs, err := h.store.Events(context.Background(), tenant, models.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (h *harness) widgetOf(t testing.TB, tenant models.TenantID, key string) string {
	t.Helper()
	p, err := h.store.ProjectByKey(context.Background(), tenant, key)
	if err != nil {
		t.Fatal(err)
	}
	return p.WidgetID
}

func TestPresenceFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		tn := env.install(t, site)

		m := env.me(t, site, "alice", "HELP")
		if m.Project == nil || m.Project.Online || m.Project.OnlineCount != 0 || !m.IsAgent || len(m.Projects) != 2 {
			t.Fatalf("offline by default: %+v", m)
		}
		wid := env.widgetOf(t, tn.ID, "HELP")
		pub := env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "")
		if pub.status != http.StatusOK || !strings.Contains(string(pub.body), `"online":false`) || !strings.Contains(string(pub.body), `"requiresLogin":true`) {
			t.Fatalf("public status while nobody is online: %d %s", pub.status, pub.body)
		}
		offETag := pub.header.Get("ETag")

		// Online in HELP only.
		r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"scope":"project","project":"HELP"}`)
		if r.status != http.StatusOK {
			t.Fatalf("go online: %d %s", r.status, r.body)
		}
		var after meJSON
		r.decode(t, &after)
		if !after.Project.Online || after.Project.OnlineCount != 1 || after.Project.Source != "manual" {
			t.Fatalf("state after going online: %+v", after.Project)
		}
		for _, p := range after.Projects {
			if p.Key == "IT" && (p.Online || p.OnlineCount != 0) {
				t.Fatalf("IT changed too: %+v", p)
			}
		}
		pub = env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "")
		if !strings.Contains(string(pub.body), `"online":true`) || !strings.Contains(string(pub.body), `"requiresLogin":false`) || pub.header.Get("ETag") == offETag {
			t.Fatalf("public status with alice online: %s (etag %s)", pub.body, pub.header.Get("ETag"))
		}
		if c := pub.header.Get("Cache-Control"); !strings.Contains(c, "max-age=") {
			t.Fatalf("Cache-Control %q", c)
		}
		// Conditional request.
		nm := env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "", "If-None-Match", pub.header.Get("ETag"))
		if nm.status != http.StatusNotModified {
			t.Fatalf("If-None-Match with the current ETag: %d", nm.status)
		}
		// The same request again is a no-op: no second event.
		must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"scope":"project","project":"HELP"}`))
		if n := len(env.events(t, tn.ID)); n != 1 {
			t.Fatalf("%d events after one effective change and one no-op", n)
		}

		// All projects, for one hour.
		r = env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"scope":"all","project":"HELP","durationMinutes":60}`)
		if r.status != http.StatusOK {
			t.Fatalf("all projects: %d %s", r.status, r.body)
		}
		r.decode(t, &after)
		for _, p := range after.Projects {
			if !p.Online || p.OnlineCount != 1 {
				t.Fatalf("after going online everywhere: %+v", after.Projects)
			}
		}
		if after.Project.Until == nil || !after.Project.Until.Equal(env.clock.Now().Add(time.Hour)) {
			t.Fatalf("until %v, want now+1h", after.Project.Until)
		}
		if n := len(env.events(t, tn.ID)); n != 2 {
			t.Fatalf("%d events, want 2 (IT went online)", n)
		}

		// Offline everywhere: the widget flips back with the last agent.
		must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":false,"scope":"all"}`))
		pub = env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "")
		if !strings.Contains(string(pub.body), `"online":false`) || pub.header.Get("ETag") != offETag {
			t.Fatalf("after the last agent left: %s", pub.body)
		}
		evs := env.events(t, tn.ID)
		if len(evs) != 4 {
			t.Fatalf("%d events, want 4", len(evs))
		}
		for _, e := range evs {
			if e.AccountID != "alice" || e.Source != models.SourceManual {
				t.Fatalf("event %+v", e)
			}
		}
	})
}

// TestNonAgentCannotGoOnline: going online needs to be a support agent of
// the project, as Jira says; a refusal writes nothing.
func TestNonAgentCannotGoOnline(t *testing.T) {
	env := newHarness(t, served())
	site := env.newSite(t)
	tn := env.install(t, site)
	tests := []struct {
		name  string
		given string // the caller
		when  string // the PUT /me/status body
		// expect status and code
		expectStatus int
		expectCode   string
	}{
		{"a customer", "carol", `{"online":true,"project":"HELP"}`, http.StatusForbidden, "not_an_agent"},
		{"an agent of another project", "bob", `{"online":true,"project":"IT"}`, http.StatusForbidden, "not_an_agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.call(t, site, tt.given, "PUT", "/api/v1/me/status", tt.when)
			if r.status != tt.expectStatus || r.errorCode(t) != tt.expectCode {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.expectStatus, tt.expectCode)
			}
		})
	}
	if n := len(env.events(t, tn.ID)); n != 0 {
		t.Fatalf("refused requests wrote %d events", n)
	}
}

func TestBadStatusRequests(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	tn := env.install(t, site)
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"not JSON", `{"online":`, 400, ""},
		{"wrong type", `{"online":"yes","project":"HELP"}`, 400, "online"},
		{"online missing", `{"project":"HELP"}`, 400, "online"},
		{"unknown field", `{"online":true,"project":"HELP","color":"red"}`, 400, "color"},
		{"duration zero", `{"online":true,"project":"HELP","durationMinutes":0}`, 400, "durationMinutes"},
		{"duration too long", `{"online":true,"project":"HELP","durationMinutes":1441}`, 400, "durationMinutes"},
		{"duration with offline", `{"online":false,"project":"HELP","durationMinutes":30}`, 400, "durationMinutes"},
		{"bad scope", `{"online":true,"scope":"galaxy","project":"HELP"}`, 400, "scope"},
		{"project scope without project", `{"online":true,"scope":"project"}`, 400, "project"},
		{"unknown project", `{"online":true,"project":"NOPE"}`, 404, ""},
		{"two objects", `{"online":true,"project":"HELP"}{}`, 400, ""},
		{"oversized", `{"online":true,"project":"HELP","x":"` + strings.Repeat("a", 20000) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			var e errorJSON
			r.decode(t, &e)
			if e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("error body %s", r.body)
			}
			if tt.field != "" && !strings.Contains(e.Error.Message, tt.field) {
				t.Fatalf("message %q does not name %q", e.Error.Message, tt.field)
			}
		})
	}
	if n := len(env.events(t, tn.ID)); n != 0 {
		t.Fatalf("bad requests wrote %d events", n)
	}
	if m := env.me(t, site, "alice", "HELP"); m.Project.Online {
		t.Fatal("a bad request changed the state")
	}
}

// TestAdminPutOffline: only a user who is Jira administrator AND project
// administrator may put someone else offline; the four combinations.
func TestAdminPutOffline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		tn := env.install(t, site)
		combos := []struct {
			jiraAdmin, projectAdmin bool
		}{{false, false}, {true, false}, {false, true}, {true, true}}
		for i, c := range combos {
			actor := fmt.Sprintf("admin%d", i)
			spec := jiratest.UserSpec{AccountID: actor, DisplayName: actor, JiraAdmin: c.jiraAdmin}
			if c.projectAdmin {
				spec.ProjectAdmin = []string{"HELP"}
			}
			if err := site.AddUser(spec); err != nil {
				t.Fatal(err)
			}
			must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`))
			before := len(env.events(t, tn.ID))
			m := env.me(t, site, actor, "HELP")
			r := env.call(t, site, actor, "POST", "/api/v1/projects/HELP/agents/alice/offline", `{"reason":"end of shift"}`)
			allowed := c.jiraAdmin && c.projectAdmin
			if m.CanPutOthersOffline != allowed {
				t.Errorf("%+v: canPutOthersOffline %v", c, m.CanPutOthersOffline)
			}
			if allowed {
				if r.status != http.StatusOK {
					t.Fatalf("%+v: %d %s", c, r.status, r.body)
				}
				evs := env.events(t, tn.ID)
				last := evs[0]
				if len(evs) != before+1 || last.Source != models.SourceAdmin || last.ActorAccountID != actor || last.Reason != "end of shift" || last.ToOnline {
					t.Fatalf("%+v: event %+v", c, last)
				}
			} else {
				if r.status != http.StatusForbidden {
					t.Fatalf("%+v: %d %s", c, r.status, r.body)
				}
				if len(env.events(t, tn.ID)) != before || !env.me(t, site, "alice", "HELP").Project.Online {
					t.Fatalf("%+v: a refused put-offline changed something", c)
				}
			}
		}
	})
}

func TestOnlineAgentsList(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	env.install(t, site)
	must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP","durationMinutes":30}`))
	env.clock.Advance(time.Minute)
	must(t, env.call(t, site, "bob", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`))
	r := env.call(t, site, "bob", "GET", "/api/v1/projects/HELP/agents", "")
	var list struct {
		Count  int `json:"count"`
		Agents []struct {
			AccountID string     `json:"accountId"`
			Until     *time.Time `json:"until"`
			Source    string     `json:"source"`
		} `json:"agents"`
	}
	r.decode(t, &list)
	if list.Count != 2 || list.Agents[0].AccountID != "alice" || list.Agents[0].Until == nil || list.Agents[1].AccountID != "bob" || list.Agents[1].Until != nil {
		t.Fatalf("online list %s", r.body)
	}
	if r := env.call(t, site, "carol", "GET", "/api/v1/projects/HELP/agents", ""); r.status != http.StatusForbidden {
		t.Fatalf("a customer read the online list: %d", r.status)
	}
}

// TestConcurrentTabs: one agent toggles from several tabs at once; one
// consistent state and one event per effective change.
func TestConcurrentTabs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		tn := env.install(t, site)
		env.me(t, site, "alice", "HELP") // memberships known before the race
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				// Not must: FailNow belongs to the test's own goroutine.
				if r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
					t.Errorf("a tab's toggle: %d %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		if n := len(env.events(t, tn.ID)); n != 1 {
			t.Fatalf("%d events for one effective change", n)
		}
		if m := env.me(t, site, "alice", "HELP"); !m.Project.Online || m.Project.OnlineCount != 1 {
			t.Fatalf("state %+v", m.Project)
		}
	})
}

func TestPublicCORS(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	tn := env.install(t, site)
	env.me(t, site, "ada", "HELP") // projects become known on first use
	wid := env.widgetOf(t, tn.ID, "HELP")
	r := env.call(t, site, "ada", "PUT", "/api/v1/projects/HELP/settings",
		`{"widgetEnabled":true,"unavailableMessage":"Back at 9","allowedOrigins":["https://www.example.com"]}`)
	if r.status != http.StatusOK {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	for origin, allowed := range map[string]bool{
		"https://www.example.com": true, site.BaseURL(): true, "https://evil.example.net": false, "http://www.example.com": false,
	} {
		r := env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "", "Origin", origin)
		got := r.header.Get("Access-Control-Allow-Origin")
		if allowed && got != origin || !allowed && got != "*" {
			t.Errorf("origin %s: Access-Control-Allow-Origin %q", origin, got)
		}
		// Elsewhere the page reads the unknown widget's 404 and stops
		// (static/widget.js), instead of a CORS failure it would retry.
		if allowed && !strings.Contains(string(r.body), "Back at 9") || !allowed && (r.status != http.StatusNotFound || strings.Contains(string(r.body), "Back at 9")) {
			t.Errorf("origin %s: %d %s", origin, r.status, r.body)
		}
	}
	// Without an Origin (not a browser page), the status is served.
	if r := env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), "Back at 9") {
		t.Errorf("without Origin: %d %s", r.status, r.body)
	}
	// Disabled widget and unknown widget answer alike.
	must(t, env.call(t, site, "ada", "PUT", "/api/v1/projects/HELP/settings", `{"widgetEnabled":false,"unavailableMessage":"","allowedOrigins":[]}`))
	disabled := env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "")
	unknown := env.call(t, nil, "", "GET", "/public/v1/widgets/w_nothing/status", "")
	if disabled.status != 404 || unknown.status != 404 || string(disabled.body) != string(unknown.body) {
		t.Fatalf("disabled %d %s vs unknown %d %s", disabled.status, disabled.body, unknown.status, unknown.body)
	}
	// A page can read that 404, whatever its origin, and stop asking.
	for _, id := range []string{wid, "w_nothing", "w_AAAAAAAAAAAAAAAAAAAAAA"} {
		r := env.call(t, nil, "", "GET", "/public/v1/widgets/"+id+"/status", "", "Origin", "https://www.example.com")
		if r.status != http.StatusNotFound || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s from a page: %d, Access-Control-Allow-Origin %q", id, r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
	}
}

// TestProjectSettingsAndRotation: project settings are for project
// admins, tenant settings for Jira admins, each checked with Jira; bad
// settings are refused; rotating the widget id retires the old one.
func TestProjectSettingsAndRotation(t *testing.T) {
	env := newHarness(t, served())
	site := env.newSite(t)
	tn := env.install(t, site)
	env.me(t, site, "ada", "HELP")
	old := env.widgetOf(t, tn.ID, "HELP")

	const settings, tenantSettings = "/api/v1/projects/HELP/settings", "/api/v1/settings"
	tests := []struct {
		name  string
		given string // the caller
		when  req
		// expect the status, and a part of the body ("": any)
		expectStatus int
		expectBody   string
	}{
		{"an agent rotates the widget", "bob", req{method: "POST", target: "/api/v1/projects/HELP/widget/rotate"}, 403, ""},
		{"an agent changes the project's settings", "bob",
			req{method: "PUT", target: settings, body: `{"widgetEnabled":true,"unavailableMessage":"","allowedOrigins":[]}`}, 403, ""},
		{"a javascript: origin", "ada",
			req{method: "PUT", target: settings, body: `{"widgetEnabled":true,"unavailableMessage":"x","allowedOrigins":["javascript:alert(1)"]}`}, 400, ""},
		{"an origin with a path", "ada",
			req{method: "PUT", target: settings, body: `{"widgetEnabled":true,"unavailableMessage":"x","allowedOrigins":["https://a.com/path"]}`}, 400, ""},
		{"a wildcard origin", "ada",
			req{method: "PUT", target: settings, body: `{"widgetEnabled":true,"unavailableMessage":"x","allowedOrigins":["https://*.a.com"]}`}, 400, ""},
		{"a message of 1,001 characters", "ada",
			req{method: "PUT", target: settings, body: `{"widgetEnabled":true,"unavailableMessage":"` + strings.Repeat("x", 1001) + `","allowedOrigins":[]}`}, 400, ""},
		{"no message", "ada", req{method: "PUT", target: settings, body: `{"widgetEnabled":true,"allowedOrigins":[]}`}, 400, ""},
		{"an agent changes the tenant's settings", "bob", req{method: "PUT", target: tenantSettings, body: `{"autoOfflineMinutes":15}`}, 403, ""},
		{"a Jira admin sets auto-offline", "ada", req{method: "PUT", target: tenantSettings, body: `{"autoOfflineMinutes":15}`}, 200, `"autoOfflineMinutes":15`},
		{"a negative auto-offline", "ada", req{method: "PUT", target: tenantSettings, body: `{"autoOfflineMinutes":-1}`}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.when.token = site.ContextToken(tt.given)
			r := env.do(t, tt.when)
			if r.status != tt.expectStatus || !strings.Contains(string(r.body), tt.expectBody) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, tt.expectStatus, tt.expectBody)
			}
			if tt.expectStatus != http.StatusOK && env.widgetOf(t, tn.ID, "HELP") != old {
				t.Fatal("a refused request changed the widget")
			}
		})
	}

	r := env.call(t, site, "ada", "POST", "/api/v1/projects/HELP/widget/rotate", "")
	var s struct {
		WidgetID string `json:"widgetId"`
	}
	r.decode(t, &s)
	if r.status != 200 || s.WidgetID == old || s.WidgetID == "" {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if r := env.call(t, nil, "", "GET", "/public/v1/widgets/"+old+"/status", ""); r.status != 404 {
		t.Fatalf("old widget id still answers: %d", r.status)
	}
	if r := env.call(t, nil, "", "GET", "/public/v1/widgets/"+s.WidgetID+"/status", ""); r.status != 200 {
		t.Fatalf("new widget id: %d", r.status)
	}
}

// TestJiraDownFallsBackToStoredMemberships: once known, memberships keep
// working while Jira is unreachable (for going online within MaxStale);
// never known, going online answers 503 cannot_confirm_agent and reading 502.
func TestJiraDownFallsBackToStoredMemberships(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	env.install(t, site)
	env.me(t, site, "alice", "HELP")
	site.SetDown(true)
	env.clock.Advance(10 * time.Minute) // stored list is stale now
	r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`)
	if r.status != http.StatusOK {
		t.Fatalf("with Jira down and a known list: %d %s", r.status, r.body)
	}
	r = env.call(t, site, "bob", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`)
	if r.status != http.StatusServiceUnavailable || r.errorCode(t) != "cannot_confirm_agent" {
		t.Fatalf("with Jira down and nothing known: %d %s", r.status, r.body)
	}
	r = env.call(t, site, "bob", "GET", "/api/v1/me?project=HELP", "")
	if r.status != http.StatusBadGateway {
		t.Fatalf("reading with Jira down and nothing known: %d %s", r.status, r.body)
	}
}

// TestScheduleDefaultsToJiraZone: a first schedule is offered in the time
// zone of the user's Jira profile, before the browser's.
func TestScheduleDefaultsToJiraZone(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	env.install(t, site)
	if err := site.SetUser(jiratest.UserSpec{AccountID: "alice", DisplayName: "Alice", TimeZone: "Australia/Sydney", Agent: []string{"HELP", "IT"}}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Timezone string `json:"timezone"`
		Enabled  bool   `json:"enabled"`
	}
	must(t, env.call(t, site, "alice", "GET", "/api/v1/me/schedule?tz=Europe/Warsaw", "")).decode(t, &got)
	if got.Timezone != "Australia/Sydney" || got.Enabled {
		t.Fatalf("first schedule for alice: %+v", got)
	}
	// When Jira does not answer, the browser's zone is used.
	site.SetDown(true)
	must(t, env.call(t, site, "bob", "GET", "/api/v1/me/schedule?tz=Europe/Warsaw", "")).decode(t, &got)
	if got.Timezone != "Europe/Warsaw" {
		t.Fatalf("first schedule for bob: %+v", got)
	}
}
