package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

type status struct {
	Online        bool   `json:"online"`
	Message       string `json:"message"`
	RequiresLogin bool   `json:"requiresLogin"`
}

func (ev sseEvent) status(t *testing.T) status {
	t.Helper()
	if ev.name != "status" {
		t.Fatalf("got %+v, want a status event", ev)
	}
	var s status
	if err := json.Unmarshal([]byte(ev.data), &s); err != nil {
		t.Fatalf("status data %q: %v", ev.data, err)
	}
	return s
}

func (ev sseEvent) counts(t *testing.T) map[string]int {
	t.Helper()
	if ev.name != "presence" {
		t.Fatalf("got %+v, want a presence event", ev)
	}
	var p struct {
		Projects []struct {
			Key         string `json:"key"`
			OnlineCount int    `json:"onlineCount"`
		} `json:"projects"`
	}
	if err := json.Unmarshal([]byte(ev.data), &p); err != nil || p.Projects == nil {
		t.Fatalf("presence data %q: %v", ev.data, err)
	}
	m := map[string]int{}
	for _, pc := range p.Projects {
		m[pc.Key] = pc.OnlineCount
	}
	return m
}

// newLive is a served harness with a tenant without Jira, where alice is
// an agent of HELP only (the directory does not ask Jira while the
// memberships are fresh).
func newLive(t testing.TB, opts ...option) *seeded {
	t.Helper()
	f := newHarness(t, append([]option{served()}, opts...)...).seedTenant(t)
	f.member(t, "alice", "HELP")
	return f
}

// TestWidgetStreamFollowsTheStatus reads a real stream through the real
// router: the current status at once, then one event per visible change.
func TestWidgetStreamFollowsTheStatus(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newLive(t, on(dialect))
		c := f.dial(t, f.widgetPath("HELP"), nil)
		if c.resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", c.resp.StatusCode)
		}
		for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
			if got := c.resp.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		if s := c.next(t).status(t); s.Online || !s.RequiresLogin || s.Message != models.DefaultUnavailableMessage {
			t.Fatalf("first event %+v, want offline", s)
		}

		f.set(t, "alice", true, "HELP")
		ev := c.next(t)
		if s := ev.status(t); !s.Online || s.RequiresLogin {
			t.Fatalf("after going online: %+v", s)
		}
		if ev.id == "" {
			t.Fatal("an event without id cannot be resumed")
		}
		// Changes customers cannot see send nothing: a second agent, the
		// other project, the first agent leaving while the second stays.
		f.set(t, "bob", true, "HELP")
		f.set(t, "bob", true, "IT")
		f.set(t, "alice", false, "HELP")
		f.set(t, "bob", false, "HELP")
		if s := c.next(t).status(t); s.Online || !s.RequiresLogin {
			t.Fatalf("after everyone left: %+v", s)
		}
	})
}

func TestWidgetStreamAnswersLikeTheStatusAPI(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	ctx := context.Background()
	if _, err := f.store.UpdateProjectSettings(ctx, f.tenant.ID, f.projects["IT"].ID, models.ProjectSettings{
		WidgetEnabled: true, AllowedOrigins: []string{"https://shop.example.com"}}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.UpdateProjectSettings(ctx, f.tenant.ID, f.projects["HELP"].ID, models.ProjectSettings{WidgetEnabled: false}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		path       string
		origin     string
		expectCode int
		expectCORS string
	}{
		// The unknown widget's 404 is readable by any page (errUnknownWidget).
		{"unknown widget", "/public/v1/widgets/w_nope/events", "https://shop.example.com", http.StatusNotFound, "*"},
		{"disabled widget", f.widgetPath("HELP"), "https://acme.atlassian.net", http.StatusNotFound, "*"},
		{"allowed site", f.widgetPath("IT"), "https://shop.example.com", http.StatusOK, "https://shop.example.com"},
		{"the portal", f.widgetPath("IT"), "https://acme.atlassian.net", http.StatusOK, "https://acme.atlassian.net"},
		{"another site", f.widgetPath("IT"), "https://evil.example.com", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.dial(t, tt.path, http.Header{"Origin": {tt.origin}})
			if c.resp.StatusCode != tt.expectCode {
				t.Fatalf("status %d, want %d", c.resp.StatusCode, tt.expectCode)
			}
			if got := c.resp.Header.Get("Access-Control-Allow-Origin"); got != tt.expectCORS {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, tt.expectCORS)
			}
			if tt.expectCode != http.StatusOK {
				var body struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.NewDecoder(c.resp.Body).Decode(&body); err != nil || body.Error.Code != "not_found" {
					t.Fatalf("404 body: %+v, %v", body, err)
				}
				c.resp.Body.Close()
			}
		})
	}
	// The preflight is the status API's.
	rec := f.do(t, req{method: http.MethodOptions, target: f.widgetPath("IT"), header: http.Header{"Origin": {"https://shop.example.com"}}})
	if rec.status != http.StatusNoContent || !strings.Contains(rec.header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") {
		t.Fatalf("preflight: %d %v", rec.status, rec.header)
	}
}

func TestWidgetStreamEndsWhenTheWidgetGoes(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	ctx := context.Background()
	c := f.dial(t, f.widgetPath("HELP"), nil)
	c.next(t)
	other := f.dial(t, f.widgetPath("IT"), nil)
	other.next(t)
	if _, err := f.store.UpdateProjectSettings(ctx, f.tenant.ID, f.projects["HELP"].ID, models.ProjectSettings{WidgetEnabled: false}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c.ended(t)
	if again := f.dial(t, f.widgetPath("HELP"), nil); again.resp.StatusCode != http.StatusNotFound {
		t.Fatalf("reconnecting to a disabled widget: %d", again.resp.StatusCode)
	}
	// The other widget's stream goes on.
	f.set(t, "alice", true, "IT")
	if s := other.next(t).status(t); !s.Online {
		t.Fatalf("IT: %+v", s)
	}
	// Uninstalling ends it too.
	if err := f.store.MarkUninstalled(ctx, f.tenant.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	other.ended(t)
}

func TestWidgetStreamResumes(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	path := f.widgetPath("HELP")
	stays := f.dial(t, path, nil)
	stays.next(t)
	leaves := f.dial(t, path, nil)
	seen := leaves.next(t)

	// While one client is away, the status changes twice.
	f.set(t, "alice", true, "HELP")
	first := stays.next(t)
	f.set(t, "alice", false, "HELP")
	second := stays.next(t)

	tests := []struct {
		name      string
		given     string
		expect    []sseEvent // the first events, in order
		anyLastID bool       // a snapshot: its id is the hub's position now
	}{
		{"from what it saw", seen.id, []sseEvent{first, second}, false},
		{"from the first change", first.id, []sseEvent{second}, false},
		{"from an unknown id", "elsewhere.7.0123", []sseEvent{second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.dial(t, path, http.Header{"Last-Event-ID": {tt.given}})
			for i, want := range tt.expect {
				got := c.next(t)
				if tt.anyLastID && i == len(tt.expect)-1 {
					got.id = want.id
				}
				if got != want {
					t.Fatalf("event %d: %+v, want %+v", i, got, want)
				}
			}
		})
	}

	// Up to date: a keepalive at once (the client sees that the stream
	// delivers), then nothing until the next change.
	c := f.dial(t, path, http.Header{"Last-Event-ID": {second.id}})
	if ev := c.next(t); ev.name != "keepalive" || ev.id != "" {
		t.Fatalf("resuming up to date starts with %+v, want a keepalive event without id", ev)
	}
	f.set(t, "bob", true, "HELP")
	if s := c.next(t).status(t); !s.Online {
		t.Fatalf("after resuming up to date, the next event is %+v", s)
	}

	// A change nobody here streamed is caught up from the id's status.
	for _, cl := range []*sseClient{stays, leaves, c} {
		cl.resp.Body.Close()
	}
	waitStreams(t, f, 0)
	c2 := f.dial(t, path, nil)
	last := c2.next(t).id // bob online
	c2.resp.Body.Close()
	waitStreams(t, f, 0)
	f.set(t, "bob", false, "HELP")
	c3 := f.dial(t, path, http.Header{"Last-Event-ID": {last}})
	if s := c3.next(t).status(t); s.Online {
		t.Fatalf("a change made while nobody streamed was not caught up: %+v", s)
	}
}

// waitStreams waits until the widget hub counts n streams: a client's
// leaving reaches the server's handler a moment later.
func waitStreams(t *testing.T, f *seeded, n int) {
	t.Helper()
	waitFor(t, "the widget streams to end", func() bool { return f.widgets.Streams() == n })
}

func TestAgentStreamSendsTheCallersCounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newLive(t, on(dialect))
		c := f.dial(t, f.agentPath(t, "alice", ""), nil)
		if c.resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", c.resp.StatusCode)
		}
		if got := c.next(t).counts(t); len(got) != 1 || got["HELP"] != 0 {
			t.Fatalf("snapshot %v, want HELP only, 0 online", got)
		}
		// The page's project when it is one of the caller's: no other.
		if got := f.dial(t, f.agentPath(t, "alice", "HELP"), nil).next(t).counts(t); len(got) != 1 || got["HELP"] != 0 {
			t.Fatalf("snapshot with ?project=HELP: %v", got)
		}
		withIT := f.dial(t, f.agentPath(t, "alice", "IT"), nil)
		if got := withIT.next(t).counts(t); len(got) != 2 {
			t.Fatalf("snapshot with ?project=IT: %v", got)
		}

		f.set(t, "bob", true, "IT") // not alice's project
		f.set(t, "bob", true, "HELP")
		if got := c.next(t).counts(t); len(got) != 1 || got["HELP"] != 1 {
			t.Fatalf("after bob went online in HELP: %v", got)
		}
		if got := withIT.next(t).counts(t); got["IT"] != 1 || len(got) != 1 {
			t.Fatalf("the IT watcher first hears IT: %v", got)
		}
		if got := withIT.next(t).counts(t); got["HELP"] != 1 || len(got) != 1 {
			t.Fatalf("then HELP: %v", got)
		}

		// Another tenant's changes do not reach this one's streams.
		other, err := f.store.SaveInstall(context.Background(), models.Install{ClientKey: "ck-other", SharedSecret: []byte("x"), BaseURL: "https://other.atlassian.net"}, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		ops, err := f.store.SyncProjects(context.Background(), other.ID, []models.ProjectRef{{JiraID: "1", Key: "HELP"}}, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.SetStatus(context.Background(), other.ID, models.StatusChange{AccountID: "zed",
			ProjectIDs: []int64{ops[0].ID}, To: models.StateOnline, Source: models.SourceManual}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.set(t, "alice", true, "HELP")
		if got := c.next(t).counts(t); got["HELP"] != 2 {
			t.Fatalf("the next event is %v, want HELP 2 (the other tenant's change is not ours)", got)
		}
	})
}

func TestAgentStreamNeedsAToken(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	tests := []struct {
		name   string
		path   string
		expect int
	}{
		{"no token", "/api/v1/events", http.StatusUnauthorized},
		{"bad token", "/api/v1/events?jwt=abc", http.StatusUnauthorized},
		{"no user", f.agentPath(t, "", ""), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		c := f.dial(t, tt.path, nil)
		if c.resp.StatusCode != tt.expect {
			t.Errorf("%s: %d, want %d", tt.name, c.resp.StatusCode, tt.expect)
		}
		c.resp.Body.Close()
	}
}

func TestAgentStreamEndsWhenTheTenantIsDisabled(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	c := f.dial(t, f.agentPath(t, "alice", ""), nil)
	c.next(t)
	if err := f.store.SetEnabled(context.Background(), f.tenant.ID, false, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c.ended(t)
	again := f.dial(t, f.agentPath(t, "alice", ""), nil)
	if again.resp.StatusCode != http.StatusForbidden {
		t.Fatalf("reconnecting to a disabled tenant: %d", again.resp.StatusCode)
	}
	again.resp.Body.Close()
}

func TestAgentStreamResumes(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	stays := f.dial(t, f.agentPath(t, "alice", ""), nil)
	seen := stays.next(t)
	f.set(t, "bob", true, "HELP")
	missed := stays.next(t)
	c := f.dial(t, f.agentPath(t, "alice", ""), http.Header{"Last-Event-ID": {seen.id}})
	if got := c.next(t); got != missed {
		t.Fatalf("replayed %+v, want %+v", got, missed)
	}
	// With nobody streaming the tenant, a change leaves no counts behind:
	// resuming across it takes a snapshot.
	stays.resp.Body.Close()
	c.resp.Body.Close()
	waitFor(t, "the streams to end", func() bool { return f.agents.Streams() == 0 })
	f.set(t, "carol", true, "HELP")
	c = f.dial(t, f.agentPath(t, "alice", ""), http.Header{"Last-Event-ID": {missed.id}})
	if got := c.next(t).counts(t); got["HELP"] != 2 {
		t.Fatalf("resumed across an uncounted change: %v, want a snapshot with HELP 2", got)
	}
}

func TestStreamsKeepAlive(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	c := f.dial(t, f.widgetPath("HELP"), nil)
	c.next(t)
	expectKeepalive(t, f, c)
	// And again: the timer is set anew after each write.
	expectKeepalive(t, f, c)
}

// expectKeepalive waits until the stream's keepalive timer is the fake
// clock's one waiter, moves the clock past it and reads the event: an
// event, not a comment, which EventSource would not show the page.
func expectKeepalive(t *testing.T, f *seeded, c *sseClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	if err := f.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(25 * time.Second)
	if ev := c.next(t); ev.name != "keepalive" || ev.id != "" || ev.data == "" {
		t.Fatalf("got %+v, want a keepalive event with data and without id", ev)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	f := newLive(t, on(models.DialectSQLite))
	agent := f.dial(t, f.agentPath(t, "alice", ""), nil)
	agent.next(t)
	widget := f.dial(t, f.widgetPath("HELP"), nil)
	widget.next(t)
	f.agents.Close()
	f.widgets.Close()
	agent.ended(t)
	widget.ended(t)
	// A closing hub sends newcomers away with a retry, not an error that
	// EventSource would give up on.
	late := f.dial(t, f.widgetPath("HELP"), nil)
	if late.resp.StatusCode != http.StatusOK {
		t.Fatalf("a stream after Close: %d", late.resp.StatusCode)
	}
	late.ended(t)
}
