package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"agentpresence/handlers"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// meChange is what GET /me tells the background script and the dialog:
// the last change (who and why) and the inactivity deadline.
type meChange struct {
	Project struct {
		State        string `json:"state"`
		Source       string `json:"source"`
		ChangedBy    string `json:"changedBy"`
		ChangeReason string `json:"changeReason"`
	} `json:"project"`
	AutoOfflineAt      *time.Time `json:"autoOfflineAt"`
	AutoOfflineMinutes int        `json:"autoOfflineMinutes"`
}

// TestMeTellsDeadlineAndLastChange: with a five-minute limit, an online
// agent's answer carries autoOfflineAt (going online, then later activity,
// plus the limit) and a Date header from the service's clock, against
// which the pages read it; put offline by an admin with a reason, the
// answer names the admin and the reason and has no deadline.
func TestMeTellsDeadlineAndLastChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		tn := env.install(t, site)
		if err := env.store.SetAutoOffline(ctx, tn.ID, 5, env.clock.Now()); err != nil {
			t.Fatal(err)
		}
		env.me(t, site, "alice", "HELP")
		must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`))
		start := env.clock.Now()

		var me meChange
		r := must(t, env.call(t, site, "alice", "GET", "/api/v1/me?project=HELP", ""))
		r.decode(t, &me)
		if me.AutoOfflineMinutes != 5 || me.AutoOfflineAt == nil || !me.AutoOfflineAt.Equal(start.Add(5*time.Minute)) {
			t.Fatalf("deadline after going online at %s: %+v", start, me)
		}
		if got, want := r.header.Get("Date"), start.UTC().Format(http.TimeFormat); got != want {
			t.Fatalf("Date %q, want the service clock's %q", got, want)
		}

		// Activity two minutes later, written by the flush: the deadline moves.
		env.clock.Advance(2 * time.Minute)
		must(t, env.call(t, site, "alice", "POST", "/api/v1/me/heartbeat", ""))
		if _, err := env.store.FlushActivity(ctx, env.activity, env.clock.Now()); err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(handlers.MeCacheTTL) // past the answers' cache
		me = meChange{}
		must(t, env.call(t, site, "alice", "GET", "/api/v1/me?project=HELP", "")).decode(t, &me)
		if want := start.Add(7 * time.Minute); me.AutoOfflineAt == nil || !me.AutoOfflineAt.Equal(want) {
			t.Fatalf("deadline after activity: %v, want %s", me.AutoOfflineAt, want)
		}

		r = env.call(t, site, "ada", "POST", "/api/v1/projects/HELP/agents/alice/offline", `{"scope":"project","reason":"lunch rush over"}`)
		if r.status != http.StatusOK && r.status != http.StatusNoContent {
			t.Fatalf("put offline: %d %s", r.status, r.body)
		}
		me = meChange{}
		must(t, env.call(t, site, "alice", "GET", "/api/v1/me?project=HELP", "")).decode(t, &me)
		if p := me.Project; p.State != "offline" || p.Source != "admin" || p.ChangedBy != "ada" || p.ChangeReason != "lunch rush over" || me.AutoOfflineAt != nil {
			t.Fatalf("after the admin's switch: %+v", me)
		}
	})
}

// TestNewAutoOfflineLimitReachesMeAtOnce: an administrator changes the
// limit; the very next GET /me of an agent tells the new limit and
// deadline, although this replica had the tenant (and the agent's answer)
// in its caches a moment before. The background script warns by it.
func TestNewAutoOfflineLimitReachesMeAtOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		env.install(t, site)
		env.me(t, site, "alice", "HELP")
		must(t, env.call(t, site, "ada", "PUT", "/api/v1/settings", `{"autoOfflineMinutes":30}`))
		must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`))
		start := env.clock.Now()
		for _, limit := range []int{30, 5, 0, 45} {
			if limit != 30 {
				must(t, env.call(t, site, "ada", "PUT", "/api/v1/settings", fmt.Sprintf(`{"autoOfflineMinutes":%d}`, limit)))
			}
			// Twice: the first answer fills the caches the second is read from.
			for range 2 {
				var me meChange
				must(t, env.call(t, site, "alice", "GET", "/api/v1/me?project=HELP", "")).decode(t, &me)
				want := start.Add(time.Duration(limit) * time.Minute)
				if me.AutoOfflineMinutes != limit || (limit == 0) != (me.AutoOfflineAt == nil) || (limit > 0 && !me.AutoOfflineAt.Equal(want)) {
					t.Fatalf("limit %d min: GET /me says %d min, deadline %v (want %s)", limit, me.AutoOfflineMinutes, me.AutoOfflineAt, want)
				}
			}
		}
	})
}

// TestPublicStatusSaysBackAt: while nobody is online, the public status
// carries when a scheduled agent of the project is next due online, with
// the words to say it; once someone is online it carries none.
func TestPublicStatusSaysBackAt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		tn := env.install(t, site)
		env.me(t, site, "alice", "HELP")
		wid := env.widgetOf(t, tn.ID, "HELP")
		// The harness's clock: Wednesday 25 Nov 2026, 09:00 UTC.
		must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/schedule",
			`{"enabled":true,"timezone":"Europe/Berlin","rules":[{"days":["wed"],"start":"13:00","end":"14:00"}],"exceptions":[]}`))
		var pub struct {
			Online       bool       `json:"online"`
			NextOnlineAt *time.Time `json:"nextOnlineAt"`
			Labels       struct {
				BackAt string `json:"backAt"`
				BackOn string `json:"backOn"`
			} `json:"labels"`
		}
		must(t, env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "", "Accept-Language", "de")).decode(t, &pub)
		want := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // 13:00 in Berlin
		if pub.Online || pub.NextOnlineAt == nil || !pub.NextOnlineAt.Equal(want) {
			t.Fatalf("offline status: next online %v, want %s", pub.NextOnlineAt, want)
		}
		if pub.Labels.BackAt != "Wieder da um {time}" || pub.Labels.BackOn == "" {
			t.Fatalf("labels in German: %+v", pub.Labels)
		}
		must(t, env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`))
		pub.NextOnlineAt = nil
		must(t, env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "")).decode(t, &pub)
		if !pub.Online || pub.NextOnlineAt != nil {
			t.Fatalf("online status: %+v", pub)
		}
	})
}
