package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestAbuseCases: malformed and oversized parameters, wherever they sit
// (path, query, body, the token's sub), get a clear 4xx with a JSON error
// and change nothing: no status, no event, no agent row. On PostgreSQL a NUL
// byte or an over-long account id used to reach a query and answer 500.
func TestAbuseCases(t *testing.T) {
	dbtest.Each(t, testAbuseCases)
}

func testAbuseCases(t *testing.T, dialect models.Dialect) {
	f := newAdmin(t, on(dialect))
	f.set(t, agentBob, true, "HELP")
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name, method, target, user, body string
		status                           int
		code                             string
	}{
		{"NUL in GET /me's project", "GET", "/api/v1/me?project=HE%00LP", agentAlice, "", 400, "invalid_param"},
		{"oversized GET /me project", "GET", "/api/v1/me?project=" + strings.Repeat("P", 300), agentAlice, "", 400, "invalid_param"},
		{"lower-case project key in the path", "GET", "/api/v1/projects/help/agents", agentAlice, "", 400, "invalid_param"},
		{"NUL in a path key", "GET", "/api/v1/projects/HE%00LP/agents", agentAlice, "", 400, "invalid_param"},
		{"NUL in a path key of the settings", "PUT", "/api/v1/projects/HE%00LP/settings", adminAda, `{"widgetEnabled":true,"unavailableMessage":"","allowedOrigins":[]}`, 400, "invalid_param"},
		{"NUL in a path account id", "POST", "/api/v1/projects/HELP/agents/557058%00bob/offline", adminAda, "", 400, "invalid_param"},
		{"600-character path account id", "POST", "/api/v1/projects/HELP/agents/" + long(600) + "/offline", adminAda, "", 400, "invalid_param"},
		{"escaped slash in a path account id", "POST", "/api/v1/projects/HELP/agents/557058%2Fbob/offline", adminAda, "", 400, "invalid_param"},
		{"NUL in the status body's project", "PUT", "/api/v1/me/status", agentAlice, `{"online":false,"project":"HE\u0000LP"}`, 400, "invalid_field"},
		{"NUL in a put-offline reason", "POST", "/api/v1/projects/HELP/agents/" + agentBob + "/offline", adminAda, `{"reason":"a\u0000b"}`, 400, "invalid_field"},
		{"report ending in year 9999", "GET", "/api/v1/admin/report?to=9999-12-31T23:59:59%2B14:00", adminAda, "", 400, "invalid_param"},
		{"events from year 0", "GET", "/api/v1/admin/events?from=0000-01-01", adminAda, "", 400, "invalid_param"},
		{"NUL in the events' accountId", "GET", "/api/v1/admin/events?accountId=a%00b", adminAda, "", 400, "invalid_param"},
		{"600-character events accountId", "GET", "/api/v1/admin/events?accountId=" + long(600), adminAda, "", 400, "invalid_param"},
		{"NUL in the events' project", "GET", "/api/v1/admin/events?project=HE%00LP", adminAda, "", 400, "invalid_param"},
		{"NUL in the report's project", "GET", "/api/v1/admin/report?project=HE%00LP", adminAda, "", 400, "invalid_param"},
		{"huge events limit", "GET", "/api/v1/admin/events?limit=99999999999999999999", adminAda, "", 400, "invalid_param"},
		{"NUL in the events' source", "GET", "/api/v1/admin/events?source=man%00ual", adminAda, "", 400, "invalid_param"},
		{"oversized schedule tz", "GET", "/api/v1/me/schedule?tz=" + long(300), agentAlice, "", 400, "invalid_param"},
		{"oversized lic", "GET", "/api/v1/me?lic=" + long(300), agentAlice, "", 400, "invalid_param"},
		{"lic with a NUL", "GET", "/api/v1/me?lic=no%00ne", agentAlice, "", 400, "invalid_param"},
		{"NUL in the stream's project", "GET", "/api/v1/events?project=HE%00LP", agentAlice, "", 400, "invalid_param"},
		{"300-character token sub", "GET", "/api/v1/me?project=HELP", long(300), "", 400, "invalid_token_subject"},
		{"token sub with a NUL", "GET", "/api/v1/me", "557058\x00x", "", 400, "invalid_token_subject"},
		{"token sub with a NUL on a write", "PUT", "/api/v1/me/status", "557058\x00x", `{"online":true,"project":"HELP"}`, 400, "invalid_token_subject"},
		{"1 MB widget id", "GET", "/public/v1/widgets/w_" + long(1<<20) + "/status", "", "", 404, "not_found"},
		{"widget id with a NUL", "GET", "/public/v1/widgets/w_AAAAAAAAAAAAAAAAAAAA%00A/status", "", "", 404, "not_found"},
		{"oversized widget language", "GET", "/public/v1/widgets/" + f.projects["HELP"].WidgetID + "/status?lang=" + long(300), "", "", 400, "invalid_param"},
		{"NUL in a widget language", "GET", "/public/v1/widgets/" + f.projects["HELP"].WidgetID + "/events?lang=de%00", "", "", 400, "invalid_param"},
		{"script as a chat link", "PUT", "/api/v1/projects/HELP/settings", adminAda,
			`{"widgetEnabled":true,"unavailableMessage":"","allowedOrigins":[],"chatUrl":"javascript:alert(1)"}`, 400, "invalid_field"},
		{"NUL in an online text", "PUT", "/api/v1/projects/HELP/settings", adminAda,
			`{"widgetEnabled":true,"unavailableMessage":"","allowedOrigins":[],"onlineMessage":"a\u0000b"}`, 400, "invalid_field"},
		{"a language not offered", "PUT", "/api/v1/projects/HELP/settings", adminAda,
			`{"widgetEnabled":true,"unavailableMessage":"","allowedOrigins":[],"translations":{"../../etc":{"online":"x"}}}`, 400, "invalid_field"},
	}
	ctx := context.Background()
	snapshot := func() string {
		evs, err := f.store.Events(ctx, f.tenant.ID, models.EventFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		online, err := f.store.AllOnline(ctx, f.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal([]any{len(evs), online})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot()
			token := ""
			if tt.user != "" {
				token = f.token(t, tt.user)
			}
			rec := f.request(t, tt.method, tt.target, token, tt.body)
			var e errorJSON
			if err := json.Unmarshal(rec.body, &e); err != nil {
				t.Fatalf("%d, not a JSON error: %.200s", rec.status, rec.body)
			}
			if rec.status != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
				t.Fatalf("got %d %s %q, want %d %s", rec.status, e.Error.Code, e.Error.Message, tt.status, tt.code)
			}
			if after := snapshot(); after != before {
				t.Fatalf("state changed: %s -> %s", before, after)
			}
		})
	}
}

// heapAfterGC is the live heap once garbage is collected (twice, so that
// pools' victim caches are emptied too).
func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestOversizedParamsPinNoMemory: big parameters within the rate limits
// leave nothing behind in a limiter or cache. Before, each 1 MB widget id
// kept a per-widget limiter entry and each 900 KB project a GET /me answer.
func TestOversizedParamsPinNoMemory(t *testing.T) {
	f := newAdmin(t, withLimits(handlers.DefaultLimits()))
	const n = 40
	cases := []struct {
		name    string
		request func(i int) *http.Request
	}{
		{"1 MB widget ids", func(i int) *http.Request {
			return httptest.NewRequest(http.MethodGet, fmt.Sprintf("/public/v1/widgets/w_%d%s/status", i, strings.Repeat("a", 1<<20)), nil)
		}},
		{"900 KB projects on GET /me", func(i int) *http.Request {
			r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/v1/me?project=P%d%s", i, strings.Repeat("A", 900<<10)), nil)
			r.Header.Set("Authorization", "JWT "+f.token(t, agentAlice))
			return r
		}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			before := heapAfterGC()
			for i := range n {
				f.clock.Advance(time.Second) // within the per-address limit
				rec := httptest.NewRecorder()
				f.server.ServeHTTP(rec, tt.request(i))
				if rec.Code == http.StatusTooManyRequests || rec.Code >= 500 {
					t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
				}
			}
			if grown := heapAfterGC() - before; grown > 8<<20 {
				t.Fatalf("%d requests kept %d MiB", n, grown>>20)
			}
		})
	}
}

// TestOneClientCannotStarveAWidget: a client spread over one IPv6 /64,
// every address of it within the per-address limit, must not take a real
// customer's polls of the same widget. Before, one per-widget bucket was
// shared by every customer, and the customer got 429s.
func TestOneClientCannotStarveAWidget(t *testing.T) {
	f := newAdmin(t, withLimits(handlers.DefaultLimits()))
	if err := f.board.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := "/public/v1/widgets/" + f.projects["HELP"].WidgetID + "/status"
	from := func(remote string) int {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = remote
		rec := httptest.NewRecorder()
		f.server.ServeHTTP(rec, r)
		return rec.Code
	}
	flooder := 0
	flood := func(n int) (refused int) {
		for range n {
			flooder++
			if from(fmt.Sprintf("[2001:db8:0:7::%x]:443", flooder)) == http.StatusTooManyRequests {
				refused++
			}
		}
		return refused
	}
	if refused := flood(2100); refused < 2000 {
		t.Errorf("one /64 was refused only %d of 2100 requests", refused)
	}
	refusedCustomer := 0
	for range 50 {
		f.clock.Advance(time.Second)
		flood(5)
		if code := from("198.51.100.7:5000"); code != http.StatusOK {
			refusedCustomer++
		}
	}
	if refusedCustomer > 0 {
		t.Fatalf("the customer was refused %d of 50 polls", refusedCustomer)
	}
}

// TestHugePathsWriteShortLogLines: 200 requests with 1 MB paths used to
// write 200 MB of request log; what is logged of a request is truncated.
func TestHugePathsWriteShortLogLines(t *testing.T) {
	env := newHarness(t)
	logs := env.logs
	huge := strings.Repeat("a", 1<<20)
	targets := []string{"/nothing/" + huge, "/api/v1/projects/" + huge + "/agents", "/public/v1/widgets/w_" + huge + "/status", "/static/" + huge}
	for i := range 200 {
		rec := httptest.NewRecorder()
		env.server.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, targets[i%len(targets)], nil))
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("%d", rec.Code)
		}
	}
	if lines := strings.Count(logs.String(), "\n"); lines < 200 {
		t.Fatalf("%d lines: the requests were not logged", lines)
	}
	if n := logs.Len(); n > 200<<10 {
		t.Fatalf("200 requests wrote %d KiB of log", n>>10)
	}
}
