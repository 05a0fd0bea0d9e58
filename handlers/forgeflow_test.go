package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers/forge/forgetest"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestForgeAgentGoesOnline is issue 10's "done when": a FIT-authenticated
// agent goes online through /api/v1, the portal's public status follows,
// and every call the app made to Jira for the Forge tenant carried the
// installation's tokens (the system token; the user token for the user's
// own permission check), never a Connect JWT.
func TestForgeAgentGoesOnline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newForgeHarness(t, on(dialect))
		site, inst := env.newForgeSite(t)
		tn := env.installForge(t, inst)
		if !tn.IsForge() || !tn.Active() || len(tn.SharedSecret) == 0 {
			t.Fatalf("installed tenant: forge %v active %v token held %v", tn.IsForge(), tn.Active(), len(tn.SharedSecret) > 0)
		}
		site.ResetCalls()

		r := env.invoke(t, inst, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`)
		if r.status != http.StatusOK {
			t.Fatalf("go online: %d %s", r.status, r.body)
		}
		var me meJSON
		if r := env.invoke(t, inst, "alice", "GET", "/api/v1/me?project=HELP", ""); r.status != http.StatusOK {
			t.Fatalf("GET /me: %d %s", r.status, r.body)
		} else {
			r.decode(t, &me)
		}
		if me.AccountID != "alice" || me.Project == nil || !me.Project.Online || me.Project.OnlineCount != 1 {
			t.Fatalf("/me after going online: %+v", me)
		}
		wid := env.widgetOf(t, tn.ID, "HELP")
		pub := env.widgetStatus(t, wid)
		if pub.status != http.StatusOK || !strings.Contains(string(pub.body), `"online":true`) {
			t.Fatalf("public status: %d %s", pub.status, pub.body)
		}

		auth := map[string]int{}
		for _, req := range site.Requests() {
			if strings.HasPrefix(req.Path, "/rest/") {
				auth[req.Path+" "+req.Auth]++
				if req.Status != http.StatusOK {
					t.Errorf("Jira answered %s %s with %d", req.Method, req.Path, req.Status)
				}
			}
		}
		if auth["/rest/servicedeskapi/servicedesk "+jiratest.AuthForgeSystem] == 0 ||
			auth["/rest/api/3/permissions/check "+jiratest.AuthForgeUser] == 0 {
			t.Errorf("Jira calls by authentication: %v; want service desks with the system token, the permission check with the user token", auth)
		}
		for k := range auth {
			if strings.HasSuffix(k, " "+jiratest.AuthJWT) {
				t.Errorf("a call for a Forge tenant carried a Connect JWT: %s", k)
			}
		}

		// Going offline through a requestRemote call (the FIT only) works
		// too: the membership list is fresh.
		if r := env.requestRemote(t, inst, "alice", "GET", "/api/v1/me?project=HELP"); r.status != http.StatusOK {
			t.Fatalf("requestRemote GET /me: %d %s", r.status, r.body)
		}
		if r := env.invoke(t, inst, "alice", "PUT", "/api/v1/me/status", `{"online":false,"project":"HELP"}`); r.status != http.StatusOK {
			t.Fatalf("go offline: %d %s", r.status, r.body)
		}
		if pub := env.widgetStatus(t, wid); !strings.Contains(string(pub.body), `"online":false`) {
			t.Fatalf("public status after going offline: %s", pub.body)
		}
	})
}

// TestForgeTenantIsolation: with installation A's FIT, no route reads or
// changes anything of installation B (another site with the same project
// keys and a user of its own) or of a Connect tenant C.
func TestForgeTenantIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newForgeHarness(t, on(dialect))
		siteA, instA := env.newForgeSite(t)
		siteB, instB := env.newForgeSite(t)
		siteC := env.newSite(t)
		for _, s := range []*jiratest.Site{siteB, siteC} {
			if err := s.AddUser(jiratest.UserSpec{AccountID: "zoe-of-b", DisplayName: "Zoe", Agent: []string{"HELP"}, ProjectAdmin: []string{"HELP"}}); err != nil {
				t.Fatal(err)
			}
		}
		env.installForge(t, instA)
		tenantB := env.installForge(t, instB)
		tenantC := env.install(t, siteC)
		_ = siteA

		// B's and C's state: zoe online in HELP, a message of their own.
		if r := env.invoke(t, instB, "zoe-of-b", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
			t.Fatalf("B setup: %d %s", r.status, r.body)
		}
		if r := env.invoke(t, instB, "ada", "PUT", "/api/v1/projects/HELP/settings", `{"widgetEnabled":true,"unavailableMessage":"B only","allowedOrigins":[]}`); r.status != http.StatusOK {
			t.Fatalf("B settings: %d %s", r.status, r.body)
		}
		if r := env.call(t, siteC, "zoe-of-b", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
			t.Fatalf("C setup: %d %s", r.status, r.body)
		}
		ctx := context.Background()
		snapshot := func(id models.TenantID) string {
			p, err := env.store.ProjectByKey(ctx, id, "HELP")
			if err != nil {
				t.Fatal(err)
			}
			st, err := env.store.Statuses(ctx, id, "zoe-of-b")
			if err != nil {
				t.Fatal(err)
			}
			return p.WidgetID + "|" + p.UnavailableMessage + "|" + strings.Join(p.AllowedOrigins, ",") + "|" + statusesText(st)
		}
		beforeB, beforeC := snapshot(tenantB.ID), snapshot(tenantC.ID)
		pB, _ := env.store.ProjectByKey(ctx, tenantB.ID, "HELP")
		pC, _ := env.store.ProjectByKey(ctx, tenantC.ID, "HELP")

		cases := []struct{ method, path, body string }{
			{"GET", "/api/v1/me?project=HELP", ""},
			{"PUT", "/api/v1/me/status", `{"online":false,"scope":"all"}`},
			{"POST", "/api/v1/me/heartbeat", ""},
			{"GET", "/api/v1/projects/HELP/agents", ""},
			{"POST", "/api/v1/projects/HELP/agents/zoe-of-b/offline", `{"scope":"all"}`},
			{"GET", "/api/v1/projects/HELP/settings", ""},
			{"PUT", "/api/v1/projects/HELP/settings", `{"widgetEnabled":false,"unavailableMessage":"A was here","allowedOrigins":[]}`},
			{"POST", "/api/v1/projects/HELP/widget/rotate", ""},
			{"GET", "/api/v1/settings", ""},
			{"PUT", "/api/v1/settings", `{"autoOfflineMinutes":5}`},
			{"GET", "/api/v1/admin/online", ""},
			{"GET", "/api/v1/admin/events?accountId=zoe-of-b&project=HELP", ""},
			{"GET", "/api/v1/admin/report?project=HELP", ""},
			{"GET", "/forge/portal-footer?serviceDeskId=1", ""},
		}
		for _, c := range cases {
			r := env.invoke(t, instA, "ada", c.method, c.path, c.body)
			if r.status >= 500 {
				t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
			}
			body := strings.Replace(string(r.body), `"accountId":"zoe-of-b"`, "", 1)
			if strings.Contains(body, "zoe-of-b") || strings.Contains(body, pB.WidgetID) || strings.Contains(body, pC.WidgetID) || strings.Contains(body, "B only") {
				t.Errorf("%s %s leaked another tenant's data: %s", c.method, c.path, r.body)
			}
		}
		// The stream, read to its first event: A's counts only.
		if first := env.firstForgeEvent(t, instA, "ada", "/api/v1/events?project=HELP"); !strings.Contains(first, `{"key":"HELP","onlineCount":0}`) {
			t.Errorf("A's stream does not show A's own count: %s", first)
		}
		// A's backend calls touch A only.
		for _, route := range []string{"/forge/lifecycle/installed", "/forge/lifecycle/refresh"} {
			if r := env.send(t)(env.platform.ScheduledTrigger(ctx, env.baseURL, route, instA)); r.status != http.StatusNoContent {
				t.Errorf("%s: %d %s", route, r.status, r.body)
			}
		}
		if after := snapshot(tenantB.ID); after != beforeB {
			t.Errorf("installation B changed through A's FIT:\nbefore %s\nafter  %s", beforeB, after)
		}
		if after := snapshot(tenantC.ID); after != beforeC {
			t.Errorf("Connect tenant C changed through A's FIT:\nbefore %s\nafter  %s", beforeC, after)
		}
		// B's widget still answers B's state, C's too.
		if r := env.widgetStatus(t, pB.WidgetID); !strings.Contains(string(r.body), `"online":true`) {
			t.Errorf("B's widget: %s", r.body)
		}
		// A Connect token can never name a Forge installation.
		if r := env.call(t, nil, "", "GET", "/api/v1/me", "", "Authorization", "JWT "+siteC.ContextToken("zoe-of-b")); r.status != http.StatusOK {
			t.Fatalf("C's own token: %d", r.status)
		}
	})
}

func statusesText(st []models.Status) string {
	var b strings.Builder
	for _, s := range st {
		b.WriteString(s.AccountID)
		if s.Online {
			b.WriteString(":on;")
		} else {
			b.WriteString(":off;")
		}
	}
	return b.String()
}

// TestForgeLifecycle: the installed event registers and keeps the system
// token (sealed), the hourly trigger keeps a newer one, product events
// count as activity, a page's FIT cannot reach the backend routes, and
// preUninstall stops the installation at once: its FITs answer 401, its
// widgets 404, its data stays for retention.
func TestForgeLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newForgeHarness(t, on(dialect))
		_, inst := env.newForgeSite(t)
		ctx := context.Background()
		tn := env.installForge(t, inst)
		first := string(tn.SharedSecret)
		if _, err := env.platform.CheckOAuthToken(first); err != nil {
			t.Fatalf("the kept token is not the system token Forge sent: %v", err)
		}
		if r := env.invoke(t, inst, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
			t.Fatalf("go online: %d %s", r.status, r.body)
		}
		wid := env.widgetOf(t, tn.ID, "HELP")

		// A page's FIT (a user, a UI module) on the backend routes: 403,
		// nothing happens, and its system token header is not kept.
		for _, route := range []string{"/forge/lifecycle/uninstalling", "/forge/lifecycle/installed", "/forge/lifecycle/refresh", "/forge/events/activity"} {
			req, err := env.platform.RequestRemote(ctx, env.baseURL, inst, "alice", http.MethodPost, route, map[string]any{})
			if err == nil {
				req.Header.Set("X-Forge-Oauth-System", forgedToken)
			}
			if r := env.send(t)(req, err); r.status != http.StatusForbidden || r.errorCode(t) != "not_a_forge_backend_call" {
				t.Errorf("page FIT on %s: %d %s", route, r.status, r.body)
			}
		}
		// Nor does a page's requestRemote on the agent API keep one.
		env.requestRemote(t, inst, "alice", "GET", "/api/v1/me", "X-Forge-Oauth-System", forgedToken)
		env.clock.Advance(time.Minute)
		r := env.send(t)(env.platform.ScheduledTrigger(ctx, env.baseURL, "/forge/lifecycle/refresh", inst))
		if r.status != http.StatusNoContent {
			t.Fatalf("refresh: %d %s", r.status, r.body)
		}
		now, err := env.store.TenantByClientKey(ctx, inst.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(now.SharedSecret); got == first || got == forgedToken || now.Forge.LastSeenAt == nil {
			t.Fatalf("after the hourly trigger: token renewed %v, forged %v, last seen %v", got != first, got == forgedToken, now.Forge.LastSeenAt)
		}

		// A comment by bob: bob is active.
		pending := env.activity.Pending()
		r = env.send(t)(env.platform.ProductEvent(ctx, env.baseURL, "/forge/events/activity", inst, forgetest.EventCommented, "bob", map[string]any{"key": "HELP-1"}))
		if r.status != http.StatusNoContent {
			t.Fatalf("event: %d %s", r.status, r.body)
		}
		if got := env.activity.Pending(); got != pending+1 {
			t.Fatalf("activity after a comment event: %d pending, want %d", got, pending+1)
		}

		r = env.send(t)(env.platform.PreUninstall(ctx, env.baseURL, "/forge/lifecycle/uninstalling", inst))
		if r.status != http.StatusNoContent {
			t.Fatalf("preUninstall: %d %s", r.status, r.body)
		}
		if r := env.invoke(t, inst, "alice", "GET", "/api/v1/me", ""); r.status != http.StatusUnauthorized || r.errorCode(t) != "unknown_tenant" {
			t.Fatalf("FIT after uninstall: %d %s", r.status, r.body)
		}
		if r := env.widgetStatus(t, wid); r.status != http.StatusNotFound {
			t.Fatalf("widget after uninstall: %d %s", r.status, r.body)
		}
		if r := env.send(t)(env.platform.PreUninstall(ctx, env.baseURL, "/forge/lifecycle/uninstalling", inst)); r.status != http.StatusNoContent {
			t.Fatalf("preUninstall again: %d %s", r.status, r.body)
		}
		if r := env.send(t)(env.platform.Installed(ctx, env.baseURL, "/forge/lifecycle/installed", inst, "ada")); r.status != http.StatusUnauthorized {
			t.Fatalf("an installed event for an uninstalled installation: %d %s", r.status, r.body)
		}
		kept, err := env.store.TenantByClientKey(ctx, inst.ID)
		if err != nil || kept.Installed || kept.UninstalledAt == nil {
			t.Fatalf("uninstalled tenant: %+v, %v", kept, err)
		}
		if _, err := env.store.ProjectByKey(ctx, kept.ID, "HELP"); err != nil {
			t.Fatalf("the data must wait for retention: %v", err)
		}
		// preUninstall of an installation never seen registers nothing.
		unseen := forgetest.NewInstallation(inst.APIBaseURL, inst.SiteURL)
		if r := env.send(t)(env.platform.PreUninstall(ctx, env.baseURL, "/forge/lifecycle/uninstalling", unseen)); r.status != http.StatusNoContent || env.registered(unseen.ID) {
			t.Fatalf("preUninstall of an unseen installation: %d, registered %v", r.status, env.registered(unseen.ID))
		}
	})
}

// forgedToken is an OAuth-token-shaped value with a far exp, as a user
// could add beside a requestRemote FIT.
const forgedToken = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"

// TestForgePortalFooterAndPolling: the Forge portal footer learns the
// widget, status and login link of its portal, anonymously; Forge pages'
// polls of the agent API get ETags and 304s while nothing changes.
func TestForgePortalFooterAndPolling(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newForgeHarness(t, on(dialect))
		_, inst := env.newForgeSite(t)
		tn := env.installForge(t, inst)

		footer := func(etag string) apiResult {
			t.Helper()
			return env.requestRemote(t, inst, "", "GET", "/forge/portal-footer?serviceDeskId=1", "If-None-Match", etag)
		}
		r := footer("")
		var f struct {
			WidgetID      string `json:"widgetId"`
			Online        bool   `json:"online"`
			RequiresLogin bool   `json:"requiresLogin"`
			LoginURL      string `json:"loginUrl"`
		}
		r.decode(t, &f)
		if r.status != http.StatusOK || f.WidgetID != env.widgetOf(t, tn.ID, "HELP") || f.Online || !f.RequiresLogin ||
			f.LoginURL != inst.SiteURL+"/servicedesk/customer/user/login?destination=portal%2F1" {
			t.Fatalf("footer: %d %s", r.status, r.body)
		}
		etag := r.header.Get("ETag")
		if again := footer(etag); again.status != http.StatusNotModified {
			t.Fatalf("unchanged footer: %d", again.status)
		}
		if bad := env.requestRemote(t, inst, "", "GET", "/forge/portal-footer?serviceDeskId=x1"); bad.status != http.StatusBadRequest {
			t.Fatalf("bad desk id: %d", bad.status)
		}

		// The first call is an invokeRemote (with the user token, which
		// Jira's permission check of the user needs); polls follow.
		if r := env.invoke(t, inst, "alice", "GET", "/api/v1/me?project=HELP", ""); r.status != http.StatusOK {
			t.Fatalf("first /me: %d %s", r.status, r.body)
		}
		me := env.requestRemote(t, inst, "alice", "GET", "/api/v1/me?project=HELP")
		meTag := me.header.Get("ETag")
		if me.status != http.StatusOK || meTag == "" {
			t.Fatalf("/me for a Forge page: %d, ETag %q", me.status, meTag)
		}
		if r := env.requestRemote(t, inst, "alice", "GET", "/api/v1/me?project=HELP", "If-None-Match", meTag); r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Fatalf("unchanged /me: %d %q", r.status, r.body)
		}
		if r := env.invoke(t, inst, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
			t.Fatalf("go online: %d %s", r.status, r.body)
		}
		if r := env.requestRemote(t, inst, "alice", "GET", "/api/v1/me?project=HELP", "If-None-Match", meTag); r.status != http.StatusOK || r.header.Get("ETag") == meTag {
			t.Fatalf("changed /me: %d, ETag %q", r.status, r.header.Get("ETag"))
		}
		if r := footer(etag); r.status != http.StatusOK || !strings.Contains(string(r.body), `"online":true`) {
			t.Fatalf("footer after an agent went online: %d %s", r.status, r.body)
		}
		// Connect's /me is not buffered for an ETag.
		site := env.newSite(t)
		env.install(t, site)
		if r := env.call(t, site, "alice", "GET", "/api/v1/me", ""); r.header.Get("ETag") != "" {
			t.Errorf("a Connect /me got an ETag")
		}
	})
}

// TestForgeOff: without FORGE_APP_ID the Forge routes answer 404 and the
// agent API takes no Bearer token.
func TestForgeOff(t *testing.T) {
	env := newHarness(t)
	for _, path := range []string{"/forge/lifecycle/installed", "/forge/events/activity"} {
		if r := env.call(t, nil, "", "POST", path, "{}", "Authorization", "Bearer x.y.z"); r.status != http.StatusNotFound || r.errorCode(t) != "forge_disabled" {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	if r := env.call(t, nil, "", "GET", "/api/v1/me", "", "Authorization", "Bearer x.y.z"); r.status != http.StatusUnauthorized || r.errorCode(t) != "no_token" {
		t.Errorf("Bearer on the agent API: %d %s", r.status, r.body)
	}
}

// TestForgeLogsHoldNoToken: a Forge installation's life in the debug log
// holds neither its FITs nor its OAuth tokens.
func TestForgeLogsHoldNoToken(t *testing.T) {
	env := newForgeHarness(t)
	_, inst := env.newForgeSite(t)
	ctx := context.Background()
	tn := env.installForge(t, inst)
	env.invoke(t, inst, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`)
	env.requestRemote(t, inst, "alice", "GET", "/api/v1/me?project=HELP")
	env.withFIT(t, "Bearer", "eyJ.broken.token", "GET", "/api/v1/me")
	env.send(t)(env.platform.PreUninstall(ctx, env.baseURL, "/forge/lifecycle/uninstalling", inst))
	logged := env.logs.String()
	if !strings.Contains(logged, "forge app uninstalled") {
		t.Fatalf("the log does not hold the installation's life (guard against passing vacuously):\n%s", logged)
	}
	if strings.Contains(logged, "eyJ") || strings.Contains(logged, string(tn.SharedSecret)) {
		t.Fatalf("a token reached the log:\n%s", logged)
	}
}
