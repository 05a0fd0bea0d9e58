package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestMeAnswerCacheFollowsChanges: repeated GET /me answers come from the
// cache, yet every change (another agent, the period end, the admin) shows
// at once.
func TestMeAnswerCacheFollowsChanges(t *testing.T) {
	dbtest.Each(t, testMeAnswerCache)
}

func testMeAnswerCache(t *testing.T, dialect models.Dialect) {
	env := newHarness(t, on(dialect), served())
	site := env.newSite(t)
	env.install(t, site)
	count := func() (int, *time.Time) {
		m := env.me(t, site, "alice", "HELP")
		return m.Project.OnlineCount, m.Project.Until
	}
	if n, _ := count(); n != 0 {
		t.Fatalf("count %d", n)
	}
	site.ResetCalls()
	count()
	count()
	if calls := site.Calls("/rest/api/3/permissions/check") + site.Calls("/rest/servicedeskapi/servicedesk"); calls != 0 {
		t.Fatalf("repeated GET /me asked Jira %d times", calls)
	}
	if r := env.call(t, site, "bob", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	if n, _ := count(); n != 1 {
		t.Fatalf("alice's cached answer missed bob going online: count %d", n)
	}
	must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP","durationMinutes":30}`))
	count()
	must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP","durationMinutes":90}`))
	if _, until := count(); until == nil || !until.Equal(env.clock.Now().Add(90*time.Minute)) {
		t.Fatalf("a new period end did not show: %v", until)
	}
	must(t, env.call(t, site, "ada", "POST", "/api/v1/projects/HELP/agents/bob/offline", ""))
	if n, _ := count(); n != 1 {
		t.Fatalf("after the admin put bob offline: count %d, want 1 (alice)", n)
	}
}
