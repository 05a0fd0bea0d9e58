package handlers_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// portalFooter loads the portal footer of a service desk as Jira frames it
// (a signed URL, no user) and answers the page.
func (h *harness) portalFooter(t testing.TB, site *jiratest.Site, deskID string) string {
	t.Helper()
	resp, err := http.Get(site.SignedURL("GET", "/pages/portal-footer", url.Values{"serviceDeskId": {deskID}}, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("portal footer of desk %s: %d %s", deskID, resp.StatusCode, body)
	}
	return string(body)
}

// TestProjectKeyRenamedAndReused: project keys change in Jira; the Jira id
// is a project's identity and the key follows it. After each change below,
// made in Jira between two requests, /me, going online in the project that
// now holds the reused key, its settings, its widget and its desk's portal footer
// work, and every project that is still listed keeps its widget id under
// its new key. Abuse cases as a table, each on a site of its own.
func TestProjectKeyRenamedAndReused(t *testing.T) {
	renames := func(pairs ...[2]string) func(*testing.T, *jiratest.Site) {
		return func(t *testing.T, site *jiratest.Site) {
			for _, p := range pairs {
				if err := site.RenameProject(p[0], p[1]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	newHelp := func(t *testing.T, site *jiratest.Site) {
		if err := site.AddProject(jiratest.ProjectSpec{ID: 10002, Key: "HELP", Name: "New help desk"}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"alice", "bob"} {
			spec, ok := site.User(u)
			if !ok {
				t.Fatalf("the site has no %s", u)
			}
			if !slices.Contains(spec.Agent, "HELP") {
				spec.Agent = append(spec.Agent, "HELP")
			}
			if err := site.SetUser(spec); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		change func(*testing.T, *jiratest.Site)
		// keys is each Jira project id's key afterwards; a project no
		// longer listed is left out.
		keys map[string]string
		// key is the reused key the agent then works in.
		key string
	}{
		{name: "HELP renamed OLDHELP and a new HELP created",
			change: func(t *testing.T, site *jiratest.Site) {
				renames([2]string{"HELP", "OLDHELP"})(t, site)
				newHelp(t, site)
			},
			keys: map[string]string{"10000": "OLDHELP", "10001": "IT", "10002": "HELP"}, key: "HELP"},
		{name: "IT renamed OLDIT and HELP renamed IT",
			change: renames([2]string{"IT", "OLDIT"}, [2]string{"HELP", "IT"}),
			keys:   map[string]string{"10000": "IT", "10001": "OLDIT"}, key: "IT"},
		{name: "HELP and IT swapped",
			change: renames([2]string{"HELP", "SWAP"}, [2]string{"IT", "HELP"}, [2]string{"SWAP", "IT"}),
			keys:   map[string]string{"10000": "IT", "10001": "HELP"}, key: "HELP"},
		{name: "HELP gone from the list and a new HELP created",
			change: func(t *testing.T, site *jiratest.Site) { site.RemoveProject("HELP"); newHelp(t, site) },
			keys:   map[string]string{"10001": "IT", "10002": "HELP"}, key: "HELP"},
	}
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		ctx := context.Background()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				site := env.newSite(t)
				tn := env.install(t, site)
				if m := env.me(t, site, "alice", "HELP"); !m.IsAgent {
					t.Fatalf("alice is not an agent of HELP: %+v", m)
				}
				before, err := env.store.Projects(ctx, tn.ID)
				if err != nil {
					t.Fatal(err)
				}
				widgets := map[string]string{} // Jira id → widget id
				for _, p := range before {
					widgets[p.JiraID] = p.WidgetID
				}

				tt.change(t, site)
				// The stored memberships go stale; the next request asks Jira.
				env.clock.Advance(6 * time.Minute)

				m := env.me(t, site, "alice", tt.key)
				if !m.IsAgent {
					t.Fatalf("GET /me after the change: not an agent of %s: %+v", tt.key, m)
				}
				r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"scope":"project","project":"`+tt.key+`"}`)
				if r.status != http.StatusOK {
					t.Fatalf("going online in %s: %d %s", tt.key, r.status, r.body)
				}
				for jiraID, key := range tt.keys {
					p, err := env.store.ProjectByKey(ctx, tn.ID, key)
					if err != nil || p.JiraID != jiraID {
						t.Fatalf("key %s: %+v %v, want Jira project %s", key, p, err, jiraID)
					}
					if w, known := widgets[jiraID]; known && p.WidgetID != w {
						t.Fatalf("%s (Jira %s) has a new widget id", key, jiraID)
					}
				}
				reused, err := env.store.ProjectByKey(ctx, tn.ID, tt.key)
				if err != nil {
					t.Fatal(err)
				}
				if pub := env.call(t, nil, "", "GET", "/public/v1/widgets/"+reused.WidgetID+"/status", ""); pub.status != http.StatusOK ||
					!strings.Contains(string(pub.body), `"online":true`) {
					t.Fatalf("%s's widget: %d %s", tt.key, pub.status, pub.body)
				}
				if r := env.call(t, site, "alice", "GET", "/api/v1/projects/"+tt.key+"/settings", ""); r.status != http.StatusOK ||
					!strings.Contains(string(r.body), reused.WidgetID) {
					t.Fatalf("%s's settings: %d %s", tt.key, r.status, r.body)
				}
				if page := env.portalFooter(t, site, reused.ServiceDeskID); !strings.Contains(page, reused.WidgetID) {
					t.Fatalf("%s's portal footer does not show its widget", tt.key)
				}
				for jiraID, w := range widgets {
					if pub := env.call(t, nil, "", "GET", "/public/v1/widgets/"+w+"/status", ""); tt.keys[jiraID] != "" && pub.status != http.StatusOK {
						t.Fatalf("the widget of Jira project %s under its old id: %d", jiraID, pub.status)
					}
				}
			})
		}
	})
}
