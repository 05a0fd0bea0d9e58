package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
)

func TestWebhooksRecordActivity(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	tn := env.install(t, site)
	ctx := context.Background()
	for _, ev := range []struct{ event, user string }{
		{jiratest.WebhookCommentCreated, "alice"}, {jiratest.WebhookIssueUpdated, "bob"},
	} {
		if err := site.SendWebhook(ctx, ev.event, ev.user); err != nil {
			t.Fatalf("%s: %v", ev.event, err)
		}
	}
	if n, err := env.store.FlushActivity(ctx, env.activity, env.clock.Now()); err != nil || n != 2 {
		t.Fatalf("flush: %d %v", n, err)
	}
	for _, who := range []string{"alice", "bob"} {
		at, err := env.store.LastActivity(ctx, tn.ID, who)
		if err != nil || at == nil || !at.Equal(env.clock.Now()) {
			t.Fatalf("%s last activity %v %v", who, at, err)
		}
	}
	// A webhook needs the real qsh: a context token is refused.
	r := env.call(t, site, "alice", "POST", "/webhooks/activity", `{"webhookEvent":"comment_created"}`)
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "qsh") {
		t.Fatalf("webhook with a context token: %d %s", r.status, r.body)
	}
}
