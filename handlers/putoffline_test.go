package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
)

// TestPutOfflineReasonCountsCharacters: the reason's limit of 500 is in
// characters, as the dialog's field counts them, not in bytes: 500
// letters outside ASCII (two bytes each in UTF-8) pass, 501 do not.
func TestPutOfflineReasonCountsCharacters(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	tn := env.install(t, site)
	if err := site.AddUser(jiratest.UserSpec{AccountID: "boss", DisplayName: "Boss", JiraAdmin: true, ProjectAdmin: []string{"HELP"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		reason string
		expect int
	}{
		{"500 characters, 1000 bytes", strings.Repeat("é", 500), http.StatusOK},
		{"501 characters", strings.Repeat("é", 501), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`))
			before := len(env.events(t, tn.ID))
			r := env.call(t, site, "boss", "POST", "/api/v1/projects/HELP/agents/alice/offline", `{"reason":"`+tc.reason+`"}`)
			if r.status != tc.expect {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.expect)
			}
			evs := env.events(t, tn.ID)
			if tc.expect == http.StatusOK && (len(evs) != before+1 || evs[0].Reason != tc.reason) {
				t.Fatalf("the reason was not kept whole: %d events, %q", len(evs)-before, evs[0].Reason)
			}
			if tc.expect != http.StatusOK && len(evs) != before {
				t.Fatal("a refused put-offline changed something")
			}
		})
	}
}
