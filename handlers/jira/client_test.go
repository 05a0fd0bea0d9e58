package jira

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"agentpresence/handlers/connect"
)

const testAppKey = "com.example.agent-presence"

func testNow() time.Time {
	return time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
}

// fakeJira plays a tenant's Jira: it verifies every request's token the way
// Jira does and hands verified requests to handle.
type fakeJira struct {
	t        *testing.T
	secret   []byte
	basePath string
	handle   http.HandlerFunc

	mu       sync.Mutex
	requests []*http.Request
}

func newFakeJira(t *testing.T, basePath string, handle http.HandlerFunc) (*httptest.Server, *fakeJira, Site) {
	t.Helper()
	fj := &fakeJira{t: t, secret: []byte("tenant-shared-secret"), basePath: basePath, handle: handle}
	mux := http.NewServeMux()
	prefix := basePath + "/"
	mux.Handle(prefix, fj)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, fj, Site{BaseURL: srv.URL + basePath, SharedSecret: fj.secret}
}

func (fj *fakeJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fj.mu.Lock()
	fj.requests = append(fj.requests, r)
	fj.mu.Unlock()

	tok, err := connect.TokenFromRequest(r)
	if err != nil {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	iss, err := connect.UnverifiedIssuer(tok)
	if err != nil || iss != testAppKey {
		http.Error(w, "unknown issuer", http.StatusUnauthorized)
		return
	}
	v := connect.Verifier{Now: testNow}
	claims, err := v.VerifyHS256(tok, fj.secret, connect.RequestQSH(r, fj.basePath), false)
	if err != nil {
		http.Error(w, connect.Reason(err), http.StatusUnauthorized)
		return
	}
	if ttl := claims.ExpiresAt.Sub(claims.IssuedAt.Time); ttl <= 0 || ttl > 180*time.Second {
		http.Error(w, "ttl "+ttl.String(), http.StatusUnauthorized)
		return
	}
	if claims.Subject != "" {
		http.Error(w, "app tokens carry no sub", http.StatusUnauthorized)
		return
	}
	fj.handle(w, r)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func newClient() *Client {
	// The test servers are http on loopback: allowed here explicitly.
	return &Client{AppKey: testAppKey, Now: testNow, Targets: TargetPolicy{AllowLoopback: true}}
}

func TestServiceDesksPaginates(t *testing.T) {
	const total = 7
	var starts []string
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/rest/servicedeskapi/servicedesk" {
			http.NotFound(w, r)
			return
		}
		starts = append(starts, r.URL.Query().Get("start"))
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		if r.URL.Query().Get("limit") != "100" {
			t.Errorf("limit = %q", r.URL.Query().Get("limit"))
		}
		// Serve pages of 3 regardless of the limit, as Jira may.
		var values []ServiceDesk
		for i := start; i < total && i < start+3; i++ {
			id := strconv.Itoa(i + 1)
			values = append(values, ServiceDesk{ID: id, ProjectID: strconv.Itoa(10000 + i), ProjectKey: "SD" + id, ProjectName: "Desk " + id})
		}
		writeJSON(w, map[string]any{
			"size": len(values), "start": start, "limit": 3,
			"isLastPage": start+len(values) >= total, "values": values,
		})
	})

	got, err := newClient().ServiceDesks(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("got %d desks, want %d: %+v", len(got), total, got)
	}
	if !reflect.DeepEqual(starts, []string{"0", "3", "6"}) {
		t.Errorf("starts = %v", starts)
	}
	if got[6].ProjectKey != "SD7" || got[0].ProjectID != "10000" {
		t.Errorf("desks = %+v", got)
	}
	if id, err := got[1].NumericProjectID(); err != nil || id != 10001 {
		t.Errorf("NumericProjectID = %d, %v", id, err)
	}
}

func TestServiceDesksStopsOnEmptyPage(t *testing.T) {
	calls := 0
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		calls++
		// never says isLastPage
		if calls == 1 {
			writeJSON(w, map[string]any{"size": 1, "start": 0, "values": []ServiceDesk{{ID: "1"}}})
			return
		}
		writeJSON(w, map[string]any{"size": 0, "start": 1, "values": []ServiceDesk{}})
	})
	got, err := newClient().ServiceDesks(context.Background(), site)
	if err != nil || len(got) != 1 || calls != 2 {
		t.Fatalf("got %v, %v after %d calls", got, err, calls)
	}
}

func TestServiceDesksGivesUpOnEndlessPaging(t *testing.T) {
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"size": 1, "values": []ServiceDesk{{ID: "1"}}, "isLastPage": false})
	})
	_, err := newClient().ServiceDesks(context.Background(), site)
	if !errors.Is(err, ErrTooManyPages) {
		t.Fatalf("err = %v, want ErrTooManyPages", err)
	}
}

func TestCheckPermissions(t *testing.T) {
	var gotBody map[string]any
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/rest/api/3/permissions/check" {
			http.NotFound(w, r)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type = %q", ct)
		}
		if err := json.NewDecoder(r.Body).Decode(&gotBody); err != nil {
			t.Errorf("decode body: %v", err)
		}
		_, _ = io.WriteString(w, `{
			"globalPermissions": ["ADMINISTER"],
			"projectPermissions": [
				{"permission": "SERVICEDESK_AGENT", "projects": [10000], "issues": []},
				{"permission": "BROWSE_PROJECTS", "projects": [10000, 10001]},
				{"permission": "SERVICEDESK_AGENT", "projects": [10002]}
			]
		}`)
	})

	res, err := newClient().CheckPermissions(context.Background(), site, "acc-1",
		[]string{"ADMINISTER"},
		[]ProjectPermissionQuery{{Permissions: []string{"SERVICEDESK_AGENT", "BROWSE_PROJECTS"}, Projects: []int64{10000, 10001, 10002}}})
	if err != nil {
		t.Fatal(err)
	}

	// the request body uses numeric project ids
	wantBody := map[string]any{
		"accountId":         "acc-1",
		"globalPermissions": []any{"ADMINISTER"},
		"projectPermissions": []any{map[string]any{
			"permissions": []any{"SERVICEDESK_AGENT", "BROWSE_PROJECTS"},
			"projects":    []any{10000.0, 10001.0, 10002.0},
		}},
	}
	if !reflect.DeepEqual(gotBody, wantBody) {
		t.Errorf("body = %#v\nwant   %#v", gotBody, wantBody)
	}

	tests := []struct {
		when   string
		got    bool
		expect bool
	}{
		{"ADMINISTER global", res.HasGlobal("ADMINISTER"), true},
		{"other global", res.HasGlobal("SYSTEM_ADMIN"), false},
		{"agent on 10000", res.HasProject("SERVICEDESK_AGENT", 10000), true},
		{"agent on 10001", res.HasProject("SERVICEDESK_AGENT", 10001), false},
		{"agent on 10002 (merged entry)", res.HasProject("SERVICEDESK_AGENT", 10002), true},
		{"browse on 10001", res.HasProject("BROWSE_PROJECTS", 10001), true},
		{"unknown permission", res.HasProject("NOPE", 10000), false},
	}
	for _, tt := range tests {
		if tt.got != tt.expect {
			t.Errorf("%s = %v, want %v", tt.when, tt.got, tt.expect)
		}
	}
}

func TestCheckPermissionsOmitsEmptyParts(t *testing.T) {
	var raw string
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		raw = string(b)
		_, _ = io.WriteString(w, `{"globalPermissions": [], "projectPermissions": []}`)
	})
	res, err := newClient().CheckPermissions(context.Background(), site, "", []string{"ADMINISTER"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw != `{"globalPermissions":["ADMINISTER"]}` {
		t.Errorf("body = %s", raw)
	}
	if res.HasGlobal("ADMINISTER") {
		t.Error("ADMINISTER granted from an empty answer")
	}
}

func TestUser(t *testing.T) {
	const accountID = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rest/api/3/user" || r.URL.Query().Get("accountId") != accountID {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"accountId":"`+accountID+`","displayName":"Mia Krystof","timeZone":"Europe/Berlin",
			"avatarUrls":{"48x48":"https://avatar/48.png","24x24":"https://avatar/24.png"},"active":true}`)
	})
	u, err := newClient().User(context.Background(), site, accountID)
	if err != nil {
		t.Fatal(err)
	}
	want := User{AccountID: accountID, DisplayName: "Mia Krystof", TimeZone: "Europe/Berlin",
		AvatarURLs: AvatarURLs{Size48: "https://avatar/48.png", Size24: "https://avatar/24.png"}}
	if u != want {
		t.Errorf("user = %+v", u)
	}
	if _, err := newClient().User(context.Background(), site, ""); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("empty account id: %v", err)
	}
}

func TestErrors(t *testing.T) {
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		status, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"errorMessages":["`+strings.Repeat("x", 1000)+`"]}`)
	})
	tests := []struct {
		given  int
		expect error
		not    []error
	}{
		{given: 404, expect: ErrNotFound, not: []error{ErrUnauthorized, ErrUnavailable}},
		{given: 401, expect: ErrUnauthorized, not: []error{ErrNotFound}},
		{given: 403, expect: ErrUnauthorized},
		{given: 429, expect: ErrUnavailable},
		{given: 503, expect: ErrUnavailable, not: []error{ErrNotFound}},
		{given: 400, not: []error{ErrNotFound, ErrUnauthorized, ErrUnavailable}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.given), func(t *testing.T) {
			err := newClient().Do(context.Background(), site, "get", "/status/"+strconv.Itoa(tt.given)+"?secret=1", nil, nil)
			var je *Error
			if !errors.As(err, &je) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if je.Status != tt.given || je.Method != "GET" || je.Path != "/status/"+strconv.Itoa(tt.given) {
				t.Errorf("error = %+v", je)
			}
			if len(je.Body) != 512 {
				t.Errorf("body length = %d, want 512", len(je.Body))
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error message carries the query: %v", err)
			}
			if tt.expect != nil && !errors.Is(err, tt.expect) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.expect)
			}
			for _, n := range tt.not {
				if errors.Is(err, n) {
					t.Errorf("errors.Is(%v, %v) = true", err, n)
				}
			}
		})
	}
}

func TestUserNotFound(t *testing.T) {
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"errorMessages":["no user"]}`, http.StatusNotFound)
	})
	_, err := newClient().User(context.Background(), site, "gone")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestTokenRejectedByJira(t *testing.T) {
	tests := []struct {
		name  string
		given func(*Client, *Site)
	}{
		{"wrong secret", func(_ *Client, s *Site) { s.SharedSecret = []byte("stale") }},
		{"wrong app key", func(c *Client, _ *Site) { c.AppKey = "other.app" }},
		{"clock far behind", func(c *Client, _ *Site) { c.Now = func() time.Time { return testNow().Add(-time.Hour) } }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{})
			})
			c := newClient()
			tt.given(c, &site)
			err := c.Do(context.Background(), site, "GET", "/rest/api/3/myself", nil, nil)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestTokenTTL(t *testing.T) {
	tests := []struct {
		given  time.Duration
		expect time.Duration
	}{
		{0, 3 * time.Minute},
		{-time.Second, 3 * time.Minute},
		{time.Minute, time.Minute},
		{time.Hour, 3 * time.Minute},
	}
	for _, tt := range tests {
		var ttl time.Duration
		_, fj, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {})
		fj.handle = func(w http.ResponseWriter, r *http.Request) {
			tok, _ := connect.TokenFromRequest(r)
			c, err := connect.Verifier{Now: testNow}.VerifyHS256(tok, fj.secret, connect.RequestQSH(r, ""), false)
			if err != nil {
				t.Errorf("verify: %v", err)
				return
			}
			ttl = c.ExpiresAt.Sub(c.IssuedAt.Time)
		}
		c := newClient()
		c.TokenTTL = tt.given
		if err := c.Do(context.Background(), site, "GET", "/x", nil, nil); err != nil {
			t.Fatal(err)
		}
		if ttl != tt.expect {
			t.Errorf("TokenTTL %s: token ttl %s, want %s", tt.given, ttl, tt.expect)
		}
	}
}

func TestSiteWithBasePath(t *testing.T) {
	// given a site whose base URL has a path and a query with characters
	// that need canonical encoding
	var gotPath, gotQuery string
	_, _, site := newFakeJira(t, "/jira", func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.EscapedPath(), r.URL.RawQuery
		writeJSON(w, map[string]any{"accountId": "a"})
	})
	site.BaseURL += "/" // trailing slash on the base URL is tolerated
	// when calling it (the fake Jira verifies the qsh relative to /jira)
	var u User
	err := newClient().Do(context.Background(), site, "GET", "/rest/api/3/user?accountId=a%2Bb+c&x=*", nil, &u)
	// expect success and the base path kept in the URL
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/jira/rest/api/3/user" || gotQuery != "accountId=a%2Bb+c&x=*" {
		t.Errorf("request = %s?%s", gotPath, gotQuery)
	}
}

func TestQSHIsRelativeToBasePath(t *testing.T) {
	// A Jira that (wrongly) includes /jira in the qsh must reject us,
	// proving the client signs the relative path.
	_, fj, site := newFakeJira(t, "/jira", func(w http.ResponseWriter, r *http.Request) {})
	fj.basePath = ""
	err := newClient().Do(context.Background(), site, "GET", "/rest/api/3/myself", nil, nil)
	var je *Error
	if !errors.As(err, &je) || je.Status != http.StatusUnauthorized || !strings.Contains(je.Body, "qsh_mismatch") {
		t.Fatalf("err = %v, want 401 qsh_mismatch", err)
	}
}

func TestInvalidRequests(t *testing.T) {
	site := Site{BaseURL: "https://x.atlassian.net", SharedSecret: []byte("s")}
	tests := []struct {
		name  string
		site  Site
		given string
	}{
		{"absolute url", site, "https://evil.example/steal"},
		{"protocol relative", site, "//evil.example/steal"},
		{"no leading slash", site, "rest/api/3/myself"},
		{"fragment", site, "/x#frag"},
		{"bad base scheme", Site{BaseURL: "ftp://x", SharedSecret: []byte("s")}, "/x"},
		{"base without host", Site{BaseURL: "https://", SharedSecret: []byte("s")}, "/x"},
		{"base with query", Site{BaseURL: "https://x?y=1", SharedSecret: []byte("s")}, "/x"},
		{"base with userinfo", Site{BaseURL: "https://u:p@x", SharedSecret: []byte("s")}, "/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newClient().Do(context.Background(), tt.site, "GET", tt.given, nil, nil)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
	if err := (&Client{Now: testNow}).Do(context.Background(), site, "GET", "/x", nil, nil); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("empty app key: %v", err)
	}
	if err := newClient().Do(context.Background(), Site{BaseURL: site.BaseURL}, "GET", "/x", nil, nil); err == nil {
		t.Error("empty shared secret accepted")
	}
}

func TestContextCancellation(t *testing.T) {
	entered := make(chan struct{})
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	err := newClient().Do(ctx, site, "GET", "/slow", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Errorf("cancellation reported as unavailable: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := newClient()
	c.HTTP = &http.Client{Timeout: 50 * time.Millisecond}
	start := time.Now()
	err := c.Do(context.Background(), site, "GET", "/slow", nil, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %s despite a 50ms timeout", elapsed)
	}
}

func TestTransportFailure(t *testing.T) {
	srv, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {})
	srv.Close()
	err := newClient().Do(context.Background(), site, "GET", "/x", nil, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestDecodeFailure(t *testing.T) {
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html>")
	})
	var out map[string]any
	err := newClient().Do(context.Background(), site, "GET", "/x", nil, &out)
	if err == nil || !strings.Contains(err.Error(), "decode response") {
		t.Fatalf("err = %v", err)
	}
}

func TestNoContent(t *testing.T) {
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	var out map[string]any
	if err := newClient().Do(context.Background(), site, "DELETE", "/x", nil, &out); err != nil {
		t.Fatal(err)
	}
}
