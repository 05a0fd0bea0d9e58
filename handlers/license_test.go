package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"agentpresence/handlers"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// withLicensing enforces licenses (or not), with the board the app builds
// for it; board receives it, to be loaded once seeded.
func withLicensing(t testing.TB, enforced bool, board **models.Board) option {
	return withDeps(func(d *handlers.Deps) {
		d.Licensing = models.Licensing{Enforced: enforced}
		*board = models.NewBoard(d.Store, models.WithLicensing(d.Licensing))
		d.Board = *board
	})
}

// status is a widget's public status, which must always answer 200.
func (s *seeded) status(t *testing.T, key string) (online bool) {
	t.Helper()
	r := s.request(t, http.MethodGet, "/public/v1/widgets/"+s.projects[key].WidgetID+"/status", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("public status: %d %s", r.status, r.body)
	}
	var body struct {
		Online        bool `json:"online"`
		RequiresLogin bool `json:"requiresLogin"`
	}
	r.decode(t, &body)
	if body.Online == body.RequiresLogin {
		t.Fatalf("public status %s", r.body)
	}
	return body.Online
}

// TestLicensingConnect: with licenses enforced, a page load saying
// lic=none makes the site unlicensed: agents' and admins' pages are the
// license page (what happened, Manage apps), the agent API answers 402
// license_inactive and changes nothing, the widget shows offline (200,
// never an error) while an agent is online, the portal footer is served;
// nothing is deleted, and lic=active brings everything back. Without
// enforcement lic=none changes nothing. On SQLite and PostgreSQL.
func TestLicensingConnect(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		var board *models.Board
		s := newHarness(t, on(dialect), withLicensing(t, true, &board)).seedTenant(t, withJira())
		if err := board.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.member(t, agentAlice, "HELP", "IT")
		s.set(t, agentAlice, true, "HELP")
		if !s.status(t, "HELP") {
			t.Fatal("offline before any license was said")
		}
		page := func(name, lic string) apiResult {
			q := url.Values{}
			if name == "presence" || name == "project-settings" {
				q.Set("project", "HELP")
			}
			if name == "portal-footer" {
				q.Set("serviceDeskId", "1")
			}
			if lic != "" {
				q.Set("lic", lic)
			}
			return s.page(t, "/pages/"+name, q, agentAlice)
		}
		const notice = "subscription is not active"

		r := page("presence", "none")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), notice) ||
			!strings.Contains(string(r.body), `href="`+s.site.BaseURL()+`/plugins/servlet/upm"`) {
			t.Fatalf("presence with lic=none: %d %s", r.status, r.body)
		}
		for _, name := range []string{"schedule", "admin", "project-settings"} {
			if r := page(name, ""); r.status != http.StatusOK || !strings.Contains(string(r.body), notice) {
				t.Fatalf("%s after lic=none: %d, license page %t", name, r.status, strings.Contains(string(r.body), notice))
			}
		}
		if r := page("portal-footer", "none"); r.status != http.StatusOK || strings.Contains(string(r.body), notice) ||
			!strings.Contains(string(r.body), s.projects["HELP"].WidgetID) {
			t.Fatalf("the portal footer of an unlicensed site: %d %s", r.status, r.body)
		}
		if s.status(t, "HELP") {
			t.Fatal("an unlicensed site's widget shows online")
		}
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/v1/me?project=HELP", ""},
			{"PUT", "/api/v1/me/status", `{"project":"HELP","online":false}`},
			{"GET", "/api/v1/admin/events", ""},
			{"GET", "/api/v1/events?project=HELP", ""},
		} {
			r := s.request(t, c.method, c.path, s.token(t, agentAlice), c.body)
			if r.status != http.StatusPaymentRequired || r.errorCode(t) != "license_inactive" {
				t.Fatalf("%s %s: %d %s", c.method, c.path, r.status, r.body)
			}
			var e errorJSON
			r.decode(t, &e)
			if !strings.Contains(e.Error.Message, "Manage apps") {
				t.Fatalf("the 402 does not say what to do: %q", e.Error.Message)
			}
		}
		if n, err := s.store.OnlineCount(context.Background(), s.tenant.ID, s.projects["HELP"].ID); err != nil || n != 1 {
			t.Fatalf("an unlicensed site lost or changed a status: %d %v", n, err)
		}
		tn, err := s.store.Tenant(context.Background(), s.tenant.ID)
		if err != nil || tn.License.State != models.LicenseInactive || tn.License.SeenAt == nil {
			t.Fatalf("kept %+v %v", tn.License, err)
		}

		// The license comes back with the next page load.
		if r := page("presence", "active"); r.status != http.StatusOK || strings.Contains(string(r.body), notice) {
			t.Fatalf("presence with lic=active: %d", r.status)
		}
		if r := s.get(t, "/api/v1/me?project=HELP", agentAlice); r.status != http.StatusOK {
			t.Fatalf("/me licensed again: %d %s", r.status, r.body)
		}
		if !s.status(t, "HELP") {
			t.Fatal("licensed again, the widget stays offline")
		}
		// lic's shape is checked at the edge, before anything keeps it.
		if r := page("presence", "maybe"); r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_param" {
			t.Fatalf("lic=maybe: %d %s", r.status, r.body)
		}
	})
}

// TestLicensingOff: without enforcement (the default) lic=none is only a
// parameter: pages, API and widget work, and nothing is recorded.
func TestLicensingOff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		var board *models.Board
		s := newHarness(t, on(dialect), withLicensing(t, false, &board)).seedTenant(t, withJira())
		if err := board.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.member(t, agentAlice, "HELP")
		s.set(t, agentAlice, true, "HELP")
		r := s.page(t, "/pages/presence", url.Values{"project": {"HELP"}, "lic": {"none"}}, agentAlice)
		if r.status != http.StatusOK || strings.Contains(string(r.body), "subscription is not active") {
			t.Fatalf("presence with lic=none, licensing off: %d", r.status)
		}
		if r := s.get(t, "/api/v1/me?project=HELP", agentAlice); r.status != http.StatusOK {
			t.Fatalf("/me: %d %s", r.status, r.body)
		}
		if !s.status(t, "HELP") {
			t.Fatal("the widget went offline with licensing off")
		}
		if tn, _ := s.store.Tenant(context.Background(), s.tenant.ID); tn.License.State != models.LicenseUnknown {
			t.Fatalf("recorded %q with licensing off", tn.License.State)
		}
	})
}

// TestLicensingForge: a Forge installation's license comes with each FIT
// (app.license): inactive refuses the agent API with 402 and shows the
// widget (and the Forge portal footer) offline; a FIT without a license
// (free, development) says nothing and the last state holds; active
// lets everything work again. Forge's own calls are never refused.
func TestLicensingForge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		var board *models.Board
		h := newForgeHarness(t, on(dialect), withLicensing(t, true, &board))
		_, inst := h.newForgeSite(t)
		tn := h.installForge(t, inst)
		if err := board.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := h.invoke(t, inst, "alice", "PUT", "/api/v1/me/status", `{"project":"HELP","online":true}`); r.status != http.StatusOK {
			t.Fatalf("go online, no license said: %d %s", r.status, r.body)
		}
		widget := func() bool {
			t.Helper()
			p, err := h.store.ProjectByKey(context.Background(), tn.ID, "HELP")
			if err != nil {
				t.Fatal(err)
			}
			w, ok := board.Widget(p.WidgetID)
			if !ok || !w.Available {
				t.Fatal("the widget is gone")
			}
			footer := h.invoke(t, inst, "", "GET", "/forge/portal-footer?serviceDeskId=1", "")
			var f struct {
				Online bool `json:"online"`
			}
			if footer.status != http.StatusOK || json.Unmarshal(footer.body, &f) != nil || f.Online != w.Online {
				t.Fatalf("the Forge footer: %d %s, widget online %t", footer.status, footer.body, w.Online)
			}
			return w.Online
		}
		if !widget() {
			t.Fatal("offline while alice is online")
		}
		inactive, active := false, true
		unlicensed := inst
		unlicensed.License = &inactive
		r := h.invoke(t, unlicensed, "alice", "GET", "/api/v1/me?project=HELP", "")
		if r.status != http.StatusPaymentRequired || r.errorCode(t) != "license_inactive" {
			t.Fatalf("/me with an inactive license: %d %s", r.status, r.body)
		}
		if widget() {
			t.Fatal("an unlicensed installation's widget shows online")
		}
		// A FIT without a license says nothing: the last state holds.
		if r := h.invoke(t, inst, "alice", "GET", "/api/v1/me?project=HELP", ""); r.status != http.StatusPaymentRequired {
			t.Fatalf("/me without a license after an inactive one: %d", r.status)
		}
		// Forge's own calls pass, and record what they carry.
		trigger, err := h.platform.ScheduledTrigger(context.Background(), h.baseURL, "/forge/lifecycle/refresh", unlicensed)
		if r := h.send(t)(trigger, err); r.status != http.StatusNoContent {
			t.Fatalf("the hourly trigger of an unlicensed installation: %d %s", r.status, r.body)
		}
		licensed := inst
		licensed.License = &active
		if r := h.invoke(t, licensed, "alice", "GET", "/api/v1/me?project=HELP", ""); r.status != http.StatusOK {
			t.Fatalf("/me with an active license: %d %s", r.status, r.body)
		}
		if !widget() {
			t.Fatal("licensed again, the widget stays offline")
		}
	})
}
