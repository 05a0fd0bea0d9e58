package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// stateJSON is a project's state as /me answers it, away included.
type stateJSON struct {
	Key         string     `json:"key"`
	Online      bool       `json:"online"`
	State       string     `json:"state"`
	AwayReason  string     `json:"awayReason"`
	Until       *time.Time `json:"until"`
	OnlineCount int        `json:"onlineCount"`
	AwayCount   int        `json:"awayCount"`
}

// TestAwayThroughTheAPI: an agent goes away with a reason for half an hour;
// customers see nobody online, and the away shows apart in the online
// list, the admin's list, the log (JSON and CSV) and the report; going
// online again is the old request.
func TestAwayThroughTheAPI(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		tn := env.install(t, site)
		env.me(t, site, "alice", "HELP") // the projects are listed from Jira
		wid := env.widgetOf(t, tn.ID, "HELP")

		r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"state":"away","reason":"lunch","project":"HELP","durationMinutes":30}`)
		if r.status != http.StatusOK {
			t.Fatalf("go away: %d %s", r.status, r.body)
		}
		var me struct {
			Project stateJSON `json:"project"`
		}
		r.decode(t, &me)
		if p := me.Project; p.Online || p.State != "away" || p.AwayReason != "lunch" || p.Until == nil ||
			!p.Until.Equal(env.clock.Now().Add(30*time.Minute)) || p.OnlineCount != 0 || p.AwayCount != 1 {
			t.Fatalf("after going away: %+v", p)
		}
		pub := env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "")
		if !strings.Contains(string(pub.body), `"online":false`) || !strings.Contains(string(pub.body), `"requiresLogin":true`) {
			t.Fatalf("public status with alice away: %s", pub.body)
		}

		var list struct {
			Count  int `json:"count"`
			Agents []struct {
				AccountID string `json:"accountId"`
			} `json:"agents"`
			Away []struct {
				AccountID  string `json:"accountId"`
				State      string `json:"state"`
				AwayReason string `json:"awayReason"`
			} `json:"away"`
		}
		r = env.call(t, site, "bob", "GET", "/api/v1/projects/HELP/agents", "")
		r.decode(t, &list)
		if r.status != http.StatusOK || list.Count != 0 || len(list.Agents) != 0 || len(list.Away) != 1 ||
			list.Away[0].AccountID != "alice" || list.Away[0].State != "away" || list.Away[0].AwayReason != "lunch" {
			t.Fatalf("HELP's list: %d %s", r.status, r.body)
		}
		var admin struct {
			Projects []struct {
				Key         string `json:"key"`
				OnlineCount int    `json:"onlineCount"`
				AwayCount   int    `json:"awayCount"`
			} `json:"projects"`
			Online []struct{} `json:"online"`
			Away   []struct {
				Project   string `json:"project"`
				AccountID string `json:"accountId"`
			} `json:"away"`
		}
		r = env.call(t, site, "ada", "GET", "/api/v1/admin/online", "")
		r.decode(t, &admin)
		if r.status != http.StatusOK || len(admin.Online) != 0 || len(admin.Away) != 1 || admin.Away[0].Project != "HELP" ||
			admin.Projects[0].Key != "HELP" || admin.Projects[0].AwayCount != 1 || admin.Projects[0].OnlineCount != 0 {
			t.Fatalf("admin's list: %d %s", r.status, r.body)
		}

		env.clock.Advance(10 * time.Minute)
		r = env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`)
		var back struct {
			Project stateJSON `json:"project"`
		}
		r.decode(t, &back)
		if p := back.Project; r.status != http.StatusOK || !p.Online || p.State != "online" || p.AwayReason != "" || p.Until != nil {
			t.Fatalf("back online: %d %s", r.status, r.body)
		}

		var log struct {
			Events []struct {
				FromOnline bool   `json:"fromOnline"`
				ToOnline   bool   `json:"toOnline"`
				FromState  string `json:"fromState"`
				ToState    string `json:"toState"`
				Reason     string `json:"reason"`
			} `json:"events"`
		}
		r = env.call(t, site, "ada", "GET", "/api/v1/admin/events", "")
		r.decode(t, &log)
		if r.status != http.StatusOK || len(log.Events) != 2 ||
			log.Events[0].FromState != "away" || log.Events[0].ToState != "online" || log.Events[0].FromOnline || !log.Events[0].ToOnline ||
			log.Events[1].FromState != "offline" || log.Events[1].ToState != "away" || log.Events[1].ToOnline || log.Events[1].Reason != "lunch" {
			t.Fatalf("the log: %d %s", r.status, r.body)
		}
		r = env.call(t, site, "ada", "GET", "/api/v1/admin/events?format=csv", "")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), ",alice,away,online,manual,,\r\n") ||
			!strings.Contains(string(r.body), ",alice,offline,away,manual,,lunch\r\n") {
			t.Fatalf("the CSV: %d %s", r.status, r.body)
		}

		env.clock.Advance(20 * time.Minute)
		var report struct {
			Agents []struct {
				AccountID        string  `json:"accountId"`
				TotalSeconds     int64   `json:"totalSeconds"`
				TotalAwaySeconds int64   `json:"totalAwaySeconds"`
				AwaySeconds      []int64 `json:"awaySeconds"`
			} `json:"agents"`
		}
		r = env.call(t, site, "ada", "GET", "/api/v1/admin/report", "")
		r.decode(t, &report)
		if r.status != http.StatusOK || len(report.Agents) != 1 || report.Agents[0].TotalAwaySeconds != 600 ||
			report.Agents[0].TotalSeconds != 1200 || report.Agents[0].AwaySeconds[len(report.Agents[0].AwaySeconds)-1] != 600 {
			t.Fatalf("the report: %d %s", r.status, r.body)
		}
	})
}

// TestStatusRequestsRefused: bad status requests, as a table; each answers
// its error and changes nothing.
func TestStatusRequestsRefused(t *testing.T) {
	tests := []struct {
		name       string
		user, body string
		status     int
		code       string
	}{
		{"neither online nor state", "alice", `{"project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"an unknown state", "alice", `{"state":"busy","project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"online disagrees with away", "alice", `{"online":true,"state":"away","project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"online disagrees with offline", "alice", `{"online":true,"state":"offline","project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"a reason with online", "alice", `{"state":"online","reason":"lunch","project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"a reason of 101 characters", "alice", `{"state":"away","reason":"` + strings.Repeat("ü", 101) + `","project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"a reason on two lines", "alice", `{"state":"away","reason":"lunch\nmeeting","project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"a reason with a control character", "alice", `{"state":"away","reason":"lunch\u0007","project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"a period going offline", "alice", `{"state":"offline","durationMinutes":30,"project":"HELP"}`, http.StatusBadRequest, "invalid_field"},
		{"away where no agent", "bob", `{"state":"away","project":"IT"}`, http.StatusForbidden, "not_an_agent"},
		{"away as a customer", "carol", `{"state":"away","scope":"project","project":"HELP"}`, http.StatusForbidden, "not_an_agent"},
	}
	env := newHarness(t, served())
	site := env.newSite(t)
	tn := env.install(t, site)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.call(t, site, tt.user, "PUT", "/api/v1/me/status", tt.body)
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
			if n := len(env.events(t, tn.ID)); n != 0 {
				t.Fatalf("%d events after a refused request", n)
			}
		})
	}
	// Online false with state away agree: away.
	r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":false,"state":"away","project":"HELP"}`)
	if r.status != http.StatusOK || len(env.events(t, tn.ID)) != 1 {
		t.Fatalf("online false and state away: %d %s", r.status, r.body)
	}
}
