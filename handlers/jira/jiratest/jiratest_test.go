package jiratest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
)

func TestServiceDesksThroughRealClient(t *testing.T) {
	// given a site with 250 service desks
	site := newBareSite(t, "")
	for i := range 250 {
		if err := site.AddProject(jiratest.ProjectSpec{ID: int64(10000 + i), Key: fmt.Sprintf("P%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c, js := client(site)
	// when the app lists them (pages of 100)
	desks, err := c.ServiceDesks(context.Background(), js)
	// expect all of them, in order, in three calls
	if err != nil {
		t.Fatal(err)
	}
	if len(desks) != 250 {
		t.Fatalf("got %d desks", len(desks))
	}
	want := jira.ServiceDesk{ID: "250", ProjectID: "10249", ProjectKey: "P249", ProjectName: "P249"}
	if desks[0].ID != "1" || desks[249] != want {
		t.Errorf("desks[0] = %+v, desks[249] = %+v", desks[0], desks[249])
	}
	if n := site.Calls("/rest/servicedeskapi/servicedesk"); n != 3 {
		t.Errorf("calls = %d, want 3", n)
	}
}

func TestServiceDeskPaging(t *testing.T) {
	site := newBareSite(t, "")
	for i := range 120 {
		if err := site.AddProject(jiratest.ProjectSpec{ID: int64(i + 1), Key: fmt.Sprintf("P%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c, js := client(site)
	type page struct {
		Size, Start, Limit int
		IsLastPage         bool
		Values             []jira.ServiceDesk
	}
	tests := []struct {
		given      string // query
		expect     page   // Values holds only the first desk
		expectCode int
	}{
		{given: "", expect: page{Size: 50, Start: 0, Limit: 50, Values: []jira.ServiceDesk{{ID: "1", ProjectID: "1", ProjectKey: "P0", ProjectName: "P0"}}}},
		{given: "start=100&limit=100", expect: page{Size: 20, Start: 100, Limit: 100, IsLastPage: true, Values: []jira.ServiceDesk{{ID: "101", ProjectID: "101", ProjectKey: "P100", ProjectName: "P100"}}}},
		{given: "start=3&limit=2", expect: page{Size: 2, Start: 3, Limit: 2, Values: []jira.ServiceDesk{{ID: "4", ProjectID: "4", ProjectKey: "P3", ProjectName: "P3"}}}},
		{given: "limit=500", expect: page{Size: 100, Limit: 100, Values: []jira.ServiceDesk{{ID: "1", ProjectID: "1", ProjectKey: "P0", ProjectName: "P0"}}}},
		{given: "start=500", expect: page{Start: 500, Limit: 50, IsLastPage: true, Values: []jira.ServiceDesk{}}},
		{given: "limit=0", expectCode: http.StatusBadRequest},
		{given: "start=-1", expectCode: http.StatusBadRequest},
		{given: "limit=ten", expectCode: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.given, func(t *testing.T) {
			var got page
			err := c.Do(context.Background(), js, "GET", "/rest/servicedeskapi/servicedesk?"+tt.given, nil, &got)
			if tt.expectCode != 0 {
				if code, _ := statusOf(t, err); code != tt.expectCode {
					t.Fatalf("status = %d, want %d", code, tt.expectCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Values) != got.Size {
				t.Errorf("size %d but %d values", got.Size, len(got.Values))
			}
			got.Values = got.Values[:min(1, len(got.Values))]
			if !reflect.DeepEqual(got, tt.expect) {
				t.Errorf("page = %+v\nwant   %+v", got, tt.expect)
			}
		})
	}
}

func TestCheckPermissions(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	all := []int64{10000, 10001, 10002, 99999}
	query := []jira.ProjectPermissionQuery{{Permissions: []string{"SERVICEDESK_AGENT", "ADMINISTER_PROJECTS"}, Projects: all}}
	tests := []struct {
		given       string // account id
		expectAdmin bool
		expectAgent []int64
		expectPAdm  []int64
	}{
		{given: mia, expectAgent: []int64{10000, 10001}, expectPAdm: []int64{10000}},
		// Jira admin implies no project permission in the simulation.
		{given: ada, expectAdmin: true, expectAgent: []int64{10002}},
		{given: "557058:nobody"},
		{given: ""},
	}
	for _, tt := range tests {
		t.Run(tt.given, func(t *testing.T) {
			res, err := c.CheckPermissions(context.Background(), js, tt.given, []string{"ADMINISTER"}, query)
			if err != nil {
				t.Fatal(err)
			}
			if res.HasGlobal("ADMINISTER") != tt.expectAdmin {
				t.Errorf("ADMINISTER = %v", !tt.expectAdmin)
			}
			for _, id := range all {
				if got, want := res.HasProject("SERVICEDESK_AGENT", id), contains(tt.expectAgent, id); got != want {
					t.Errorf("agent on %d = %v", id, got)
				}
				if got, want := res.HasProject("ADMINISTER_PROJECTS", id), contains(tt.expectPAdm, id); got != want {
					t.Errorf("project admin on %d = %v", id, got)
				}
			}
		})
	}
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestCheckPermissionsAnswerShape(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	// given two queries repeating a permission
	body := map[string]any{"accountId": mia, "projectPermissions": []any{
		map[string]any{"permissions": []string{"SERVICEDESK_AGENT"}, "projects": []int64{10000}},
		map[string]any{"permissions": []string{"SERVICEDESK_AGENT"}, "projects": []int64{10001, 10002}},
	}}
	var got map[string]any
	if err := c.Do(context.Background(), js, "POST", "/rest/api/3/permissions/check", body, &got); err != nil {
		t.Fatal(err)
	}
	// expect one merged entry and empty lists, not nulls
	want := map[string]any{
		"globalPermissions": []any{},
		"projectPermissions": []any{map[string]any{
			"permission": "SERVICEDESK_AGENT", "issues": []any{}, "projects": []any{10000.0, 10001.0},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("answer = %#v", got)
	}
}

func TestCheckPermissionsRejectsWhatItDoesNotSimulate(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	tests := []struct {
		name  string
		given map[string]any
	}{
		{"unknown global permission", map[string]any{"accountId": mia, "globalPermissions": []string{"SYSTEM_ADMIN"}}},
		{"unknown project permission", map[string]any{"accountId": mia, "projectPermissions": []any{
			map[string]any{"permissions": []string{"BROWSE_PROJECTS"}, "projects": []int64{10000}}}}},
		{"misspelt field", map[string]any{"accountId": mia, "projectPermissions": []any{
			map[string]any{"permissions": []string{"SERVICEDESK_AGENT"}, "projectIds": []int64{10000}}}}},
		{"issue permissions", map[string]any{"accountId": mia, "projectPermissions": []any{
			map[string]any{"permissions": []string{"SERVICEDESK_AGENT"}, "issues": []int64{1}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Do(context.Background(), js, "POST", "/rest/api/3/permissions/check", tt.given, nil)
			if code, _ := statusOf(t, err); code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", code)
			}
		})
	}
}

func TestPermissionChangesAtRunTime(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	agentOnSUP := func() bool {
		t.Helper()
		res, err := c.CheckPermissions(context.Background(), js, mia, nil,
			[]jira.ProjectPermissionQuery{{Permissions: []string{"SERVICEDESK_AGENT"}, Projects: []int64{10000}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.HasProject("SERVICEDESK_AGENT", 10000)
	}
	if !agentOnSUP() {
		t.Fatal("mia is not an agent of SUP at start")
	}
	// when mia loses SUP
	if err := site.SetUser(jiratest.UserSpec{AccountID: mia, DisplayName: "Mia Krystof", Agent: []string{"HR"}}); err != nil {
		t.Fatal(err)
	}
	if agentOnSUP() {
		t.Error("still an agent of SUP after SetUser")
	}
	// when mia is removed altogether
	if !site.RemoveUser(mia) || site.RemoveUser(mia) {
		t.Error("RemoveUser did not report existence")
	}
	if _, err := c.User(context.Background(), js, mia); !errors.Is(err, jira.ErrNotFound) {
		t.Errorf("removed user: %v", err)
	}
	// when SUP itself goes away, it is no longer listed
	if !site.RemoveProject("SUP") {
		t.Error("RemoveProject(SUP) = false")
	}
	desks, err := c.ServiceDesks(context.Background(), js)
	if err != nil || len(desks) != 2 || desks[0].ProjectKey != "HR" {
		t.Errorf("desks = %+v, %v", desks, err)
	}
	// the slices given are copied
	spec := jiratest.UserSpec{AccountID: "557058:new", Agent: []string{"HR"}}
	if err := site.AddUser(spec); err != nil {
		t.Fatal(err)
	}
	spec.Agent[0] = "IT"
	if u, _ := site.User("557058:new"); u.Agent[0] != "HR" || u.DisplayName != "557058:new" || u.TimeZone != "UTC" {
		t.Errorf("user = %+v", u)
	}
}

// TestRenameProject: a renamed project keeps its id and desk, grants follow
// it, and its old key can be given to a new project.
func TestRenameProject(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	before, err := c.ServiceDesks(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	if err := site.RenameProject("SUP", "OLDSUP"); err != nil {
		t.Fatal(err)
	}
	if err := site.AddProject(jiratest.ProjectSpec{ID: 20000, Key: "SUP"}); err != nil {
		t.Fatalf("the old key is not free: %v", err)
	}
	after, err := c.ServiceDesks(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	if after[0].ProjectID != before[0].ProjectID || after[0].ID != before[0].ID || after[0].ProjectKey != "OLDSUP" {
		t.Errorf("renamed desk %+v, was %+v", after[0], before[0])
	}
	if last := after[len(after)-1]; last.ProjectKey != "SUP" || last.ProjectID != "20000" {
		t.Errorf("new desk %+v", last)
	}
	if u, _ := site.User(mia); !slices.Contains(u.Agent, "OLDSUP") || slices.Contains(u.Agent, "SUP") {
		t.Errorf("grants did not follow the project: %+v", u.Agent)
	}
	res, err := c.CheckPermissions(context.Background(), js, mia, nil,
		[]jira.ProjectPermissionQuery{{Permissions: []string{"SERVICEDESK_AGENT"}, Projects: []int64{10000, 20000}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasProject("SERVICEDESK_AGENT", 10000) || res.HasProject("SERVICEDESK_AGENT", 20000) {
		t.Errorf("permissions after the rename: %+v", res)
	}
	for _, bad := range [][2]string{{"NOPE", "X"}, {"HR", "OLDSUP"}, {"HR", ""}} {
		if err := site.RenameProject(bad[0], bad[1]); err == nil {
			t.Errorf("RenameProject(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

func TestDataValidation(t *testing.T) {
	site := newSite(t, "")
	tests := []struct {
		name  string
		given error
	}{
		{"duplicate user", site.AddUser(jiratest.UserSpec{AccountID: mia})},
		{"empty account id", site.AddUser(jiratest.UserSpec{})},
		{"empty account id on set", site.SetUser(jiratest.UserSpec{})},
		{"duplicate project id", site.AddProject(jiratest.ProjectSpec{ID: 10000, Key: "NEW"})},
		{"duplicate project key", site.AddProject(jiratest.ProjectSpec{ID: 1, Key: "SUP"})},
		{"duplicate desk id", site.AddProject(jiratest.ProjectSpec{ID: 1, Key: "NEW", ServiceDeskID: "1"})},
		{"no key", site.AddProject(jiratest.ProjectSpec{ID: 1})},
		{"no id", site.AddProject(jiratest.ProjectSpec{Key: "NEW"})},
		{"relative base url", site.SetBaseURL("/jira")},
		{"base url with query", site.SetAppBaseURL("http://127.0.0.1/?x=1")},
	}
	for _, tt := range tests {
		if tt.given == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	// a free desk id is found after explicit ones
	if err := site.AddProject(jiratest.ProjectSpec{ID: 5, Key: "FOUR", ServiceDeskID: "4"}); err != nil {
		t.Fatal(err)
	}
	if err := site.AddProject(jiratest.ProjectSpec{ID: 6, Key: "NEXT"}); err != nil {
		t.Fatal(err)
	}
	if p := site.Projects(); p[4].ServiceDeskID != "5" || p[4].Name != "NEXT" {
		t.Errorf("projects = %+v", p)
	}

	for name, opts := range map[string]jiratest.Options{
		"no app key":       {InstallKey: testKey(t)},
		"bad kid":          {AppKey: testAppKey, InstallKey: testKey(t), Kid: "../etc"},
		"non-UTF-8 secret": {AppKey: testAppKey, InstallKey: testKey(t), SharedSecret: []byte{0xff, 0xfe}},
	} {
		if _, err := jiratest.New(opts); err == nil {
			t.Errorf("New with %s: accepted", name)
		}
	}
}

func TestUser(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	u, err := c.User(context.Background(), js, mia)
	if err != nil {
		t.Fatal(err)
	}
	avatar := site.BaseURL() + "/avatars/557058:mia.svg"
	want := jira.User{AccountID: mia, DisplayName: "Mia Krystof", TimeZone: "Europe/Berlin",
		AvatarURLs: jira.AvatarURLs{Size16: avatar, Size24: avatar, Size32: avatar, Size48: avatar}}
	if u != want {
		t.Errorf("user = %+v\nwant   %+v", u, want)
	}
	if _, err := c.User(context.Background(), js, "557058:nobody"); !errors.Is(err, jira.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	err = c.Do(context.Background(), js, "GET", "/rest/api/3/user", nil, nil)
	if code, _ := statusOf(t, err); code != http.StatusBadRequest {
		t.Errorf("no accountId: status %d", code)
	}
}

func TestUserBulk(t *testing.T) {
	site := newSite(t, "")
	for i := range 12 {
		if err := site.AddUser(jiratest.UserSpec{AccountID: fmt.Sprintf("u%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c, js := client(site)
	type page struct {
		StartAt, MaxResults, Total int
		IsLast                     bool
		Values                     []jira.User
	}
	get := func(query url.Values) page {
		t.Helper()
		var p page
		if err := c.Do(context.Background(), js, "GET", "/rest/api/3/user/bulk?"+query.Encode(), nil, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// unknown ids are left out, repeated ones listed once
	p := get(url.Values{"accountId": {mia, "557058:nobody", ada, mia}})
	if p.Total != 2 || !p.IsLast || len(p.Values) != 2 || p.Values[0].DisplayName != "Mia Krystof" || p.Values[1].AccountID != ada {
		t.Errorf("page = %+v", p)
	}
	// Jira's default page is 10 users
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("u%02d", i))
	}
	p = get(url.Values{"accountId": ids})
	if p.Total != 12 || p.IsLast || len(p.Values) != 10 || p.MaxResults != 10 {
		t.Errorf("first page = %+v", p)
	}
	p = get(url.Values{"accountId": ids, "startAt": {"10"}})
	if !p.IsLast || len(p.Values) != 2 || p.Values[1].AccountID != "u11" {
		t.Errorf("second page = %+v", p)
	}
	err := c.Do(context.Background(), js, "GET", "/rest/api/3/user/bulk", nil, nil)
	if code, _ := statusOf(t, err); code != http.StatusBadRequest {
		t.Errorf("no accountId: status %d", code)
	}
}

func TestRESTRejectsBadTokens(t *testing.T) {
	site := newSite(t, "/jira")
	secret := site.SharedSecret()
	now := testNow()
	target := site.BaseURL() + "/rest/api/3/user?accountId=" + url.QueryEscape(mia)
	u, _ := url.Parse(target)
	sign := func(issuer string, u *url.URL, basePath string, secret []byte, now time.Time, ttl time.Duration) string {
		tok, err := connect.NewRequestToken(issuer, "", "GET", u, basePath, secret, now, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := url.Parse(site.BaseURL() + "/rest/api/3/user?accountId=" + url.QueryEscape(ada))
	ctxTok, err := connect.NewContextToken(testAppKey, "", secret, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		given  string // Authorization header value
		expect string // reason, "" for success
	}{
		{name: "valid", given: "JWT " + sign(testAppKey, u, "/jira", secret, now, 3*time.Minute)},
		{name: "no token", given: "", expect: "no_token"},
		{name: "bearer scheme", given: "Bearer " + sign(testAppKey, u, "/jira", secret, now, time.Minute), expect: "no_token"},
		{name: "garbage", given: "JWT a.b.c", expect: "malformed"},
		{name: "wrong secret", given: "JWT " + sign(testAppKey, u, "/jira", []byte("stale"), now, time.Minute), expect: "bad_signature"},
		{name: "other app", given: "JWT " + sign("other.app", u, "/jira", secret, now, time.Minute), expect: "issuer"},
		{name: "expired", given: "JWT " + sign(testAppKey, u, "/jira", secret, now.Add(-10*time.Minute), 3*time.Minute), expect: "expired"},
		{name: "issued in the future", given: "JWT " + sign(testAppKey, u, "/jira", secret, now.Add(5*time.Minute), time.Minute), expect: "not_yet_valid"},
		{name: "ttl over 3 minutes", given: "JWT " + sign(testAppKey, u, "/jira", secret, now, 10*time.Minute), expect: "ttl_too_long"},
		{name: "context qsh", given: "JWT " + ctxTok, expect: "qsh_mismatch"},
		{name: "qsh of another request", given: "JWT " + sign(testAppKey, other, "/jira", secret, now, time.Minute), expect: "qsh_mismatch"},
		{name: "qsh including the base path", given: "JWT " + sign(testAppKey, u, "", secret, now, time.Minute), expect: "qsh_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", target, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.given != "" {
				req.Header.Set("Authorization", tt.given)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			reqs := site.Requests()
			last := reqs[len(reqs)-1]
			switch {
			case tt.expect == "" && resp.StatusCode != http.StatusOK:
				t.Fatalf("status = %d: %s", resp.StatusCode, body)
			case tt.expect != "" && resp.StatusCode != http.StatusUnauthorized:
				t.Fatalf("status = %d, want 401: %s", resp.StatusCode, body)
			}
			if last.Reason != tt.expect || last.Path != "/rest/api/3/user" || last.Status != resp.StatusCode {
				t.Errorf("logged %+v, want reason %q", last, tt.expect)
			}
			if tt.expect != "" && !strings.Contains(string(body), tt.expect) {
				t.Errorf("body %s does not say %q", body, tt.expect)
			}
		})
	}
}

func TestTokenRejectedThroughRealClient(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	c.AppKey = "other.app"
	if _, err := c.User(context.Background(), js, mia); !errors.Is(err, jira.ErrUnauthorized) {
		t.Errorf("other app key: %v", err)
	}
	c, js = client(site)
	js.SharedSecret = []byte("stale")
	if _, err := c.ServiceDesks(context.Background(), js); !errors.Is(err, jira.ErrUnauthorized) {
		t.Errorf("stale secret: %v", err)
	}
}

func TestDown(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	// given Jira is down
	site.SetDown(true)
	// expect REST calls to fail as unavailable, and to be counted
	if _, err := c.ServiceDesks(context.Background(), js); !errors.Is(err, jira.ErrUnavailable) {
		t.Errorf("down: %v", err)
	}
	if n := site.Calls("/rest/servicedeskapi/servicedesk"); n != 1 {
		t.Errorf("calls = %d", n)
	}
	// but avatars and keys are still served
	for _, path := range []string{"/avatars/x.svg", "/install-keys/" + site.Kid()} {
		if code := get(t, site.BaseURL()+path).StatusCode; code != http.StatusOK {
			t.Errorf("%s: status %d while down", path, code)
		}
	}
	// and Jira comes back
	site.SetDown(false)
	if _, err := c.ServiceDesks(context.Background(), js); err != nil {
		t.Errorf("back up: %v", err)
	}
	site.ResetCalls()
	if site.Calls("/rest/servicedeskapi/servicedesk") != 0 || len(site.Requests()) != 0 {
		t.Error("ResetCalls kept counts")
	}
}

// get fetches url without a token and returns the response with its body
// read into Body.
func get(t *testing.T, target string) *http.Response {
	t.Helper()
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestBasePath(t *testing.T) {
	// given a site mounted under /jira (the server hands it every path)
	site := newSite(t, "/jira/")
	if !strings.HasSuffix(site.BaseURL(), "/jira") || site.KeysURL() != site.BaseURL()+"/install-keys" {
		t.Fatalf("base %s, keys %s", site.BaseURL(), site.KeysURL())
	}
	// expect the real client to work with qsh relative to /jira
	c, js := client(site)
	u, err := c.User(context.Background(), js, mia)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.AvatarURLs.Size48, site.BaseURL()+"/avatars/") {
		t.Errorf("avatar %s is not under the base", u.AvatarURLs.Size48)
	}
	if code := get(t, u.AvatarURLs.Size48).StatusCode; code != http.StatusOK {
		t.Errorf("avatar: status %d", code)
	}
	if site.Calls("/rest/api/3/user") != 1 {
		t.Errorf("calls are not counted by path relative to the base")
	}
	// and paths outside /jira to be unknown, including look-alikes
	root := strings.TrimSuffix(site.BaseURL(), "/jira")
	for _, path := range []string{"/rest/api/3/user?accountId=x", "/jirax/rest/api/3/user", "/avatars/x.svg"} {
		if code := get(t, root+path).StatusCode; code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, code)
		}
	}
}

func TestBaseURLNotSet(t *testing.T) {
	site, err := jiratest.New(jiratest.Options{AppKey: testAppKey, InstallKey: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://jira.test/avatars/x.svg", nil)
	rec := &recorder{header: http.Header{}}
	site.ServeHTTP(rec, req)
	if rec.status != http.StatusInternalServerError {
		t.Errorf("status = %d", rec.status)
	}
	if _, err := site.InstallRequest(context.Background()); err == nil {
		t.Error("install without app base url accepted")
	}
}

// recorder is a minimal ResponseWriter.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int)   { r.status = s }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}

func TestAvatar(t *testing.T) {
	site := newSite(t, "")
	if err := site.AddUser(jiratest.UserSpec{AccountID: "zoe", DisplayName: "<b> zoë ängström"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		given      string
		expectCode int
		expect     string
	}{
		{given: "/avatars/557058:mia.svg", expectCode: 200, expect: ">MK</text>"},
		{given: "/avatars/557058%3Amia.svg", expectCode: 200, expect: ">MK</text>"},
		{given: "/avatars/zoe.svg", expectCode: 200, expect: ">ZÄ</text>"},
		{given: "/avatars/unknown.svg", expectCode: 200, expect: ">?</text>"},
		{given: "/avatars/557058:mia.png", expectCode: 404},
		{given: "/avatars/.svg", expectCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.given, func(t *testing.T) {
			resp := get(t, site.BaseURL()+tt.given)
			body := readBody(t, resp)
			if resp.StatusCode != tt.expectCode {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if tt.expectCode != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "image/svg+xml" {
				t.Errorf("content type %q", ct)
			}
			if !strings.HasPrefix(body, "<svg") || !strings.Contains(body, tt.expect) {
				t.Errorf("body = %s", body)
			}
		})
	}
}

func TestInstallIsVerifiedByInstallVerifier(t *testing.T) {
	site := newSite(t, "/jira")
	app := newFakeApp(t, site)
	// when the site installs the app
	if err := site.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	// expect the app to have verified it against the site's key server
	got := app.last()
	if got.path != "/lifecycle/installed" || got.claims.Issuer != site.ClientKey() || got.claims.Subject != "" {
		t.Errorf("received %s with claims %+v", got.path, got.claims)
	}
	if ttl := got.claims.ExpiresAt.Sub(got.claims.IssuedAt.Time); ttl != 3*time.Minute {
		t.Errorf("ttl = %s", ttl)
	}
	want := map[string]any{
		"key": testAppKey, "clientKey": site.ClientKey(), "sharedSecret": string(site.SharedSecret()),
		"baseUrl": site.BaseURL(), "displayUrl": site.BaseURL(), "productType": "jira",
		"description": "Simulated Jira", "serverVersion": "100287", "pluginsVersion": "1001.0.0-SNAPSHOT",
		"eventType": "installed",
	}
	if !reflect.DeepEqual(got.body, want) {
		t.Errorf("payload = %v\nwant      %v", got.body, want)
	}
	if n := site.Calls("/install-keys/" + site.Kid()); n != 1 {
		t.Errorf("key fetched %d times", n)
	}
	// and the uninstall too, with the cached key
	if err := site.Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := app.last(); got.path != "/lifecycle/uninstalled" || got.body["eventType"] != "uninstalled" {
		t.Errorf("received %s %v", got.path, got.body)
	}
	if n := site.Calls("/install-keys/" + site.Kid()); n != 1 {
		t.Errorf("key fetched %d times", n)
	}
}

func TestTamperedInstallsAreRejected(t *testing.T) {
	site := newSite(t, "")
	newFakeApp(t, site)
	now := testNow()
	tests := []struct {
		name   string
		given  func(*connect.Claims)
		expect string
	}{
		{"audience of another app", func(c *connect.Claims) { c.Audience = jwt.ClaimStrings{"https://evil.example"} }, "audience"},
		{"another issuer", func(c *connect.Claims) { c.Issuer = "other-client" }, "issuer"},
		{"expired", func(c *connect.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour)) }, "expired"},
		{"qsh of uninstall", func(c *connect.Claims) { c.QSH = connect.QSH("POST", "/lifecycle/uninstalled", "", "") }, "qsh_mismatch"},
		{"no qsh", func(c *connect.Claims) { c.QSH = "" }, "qsh_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := site.InstallRequest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := site.SignInstall(req.Method, req.URL.String(), tt.given)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "JWT "+tok)
			code, body := statusOf(t, site.Send(req))
			if code != http.StatusUnauthorized || !strings.Contains(body, tt.expect) {
				t.Errorf("status %d %q, want 401 %s", code, body, tt.expect)
			}
		})
	}
	t.Run("HS256 with the shared secret", func(t *testing.T) {
		req, err := site.InstallRequest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := site.Sign(req, ""); err != nil {
			t.Fatal(err)
		}
		code, body := statusOf(t, site.Send(req))
		if code != http.StatusUnauthorized || !strings.Contains(body, "algorithm") {
			t.Errorf("status %d %q", code, body)
		}
	})
	t.Run("kid the key server does not know", func(t *testing.T) {
		impostor, err := jiratest.New(jiratest.Options{AppKey: testAppKey, InstallKey: testKey(t), Kid: "impostor",
			ClientKey: site.ClientKey(), Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		if err := impostor.SetBaseURL(site.BaseURL()); err != nil {
			t.Fatal(err)
		}
		if err := impostor.SetAppBaseURL(site.AppBaseURL()); err != nil {
			t.Fatal(err)
		}
		code, body := statusOf(t, impostor.Install(context.Background()))
		if code != http.StatusUnauthorized || !strings.Contains(body, "unknown_key") {
			t.Errorf("status %d %q", code, body)
		}
	})
}

func TestInstallKeyServer(t *testing.T) {
	site := newSite(t, "")
	app := newFakeApp(t, site)
	// the key served is the install key's public half
	resp := get(t, site.KeysURL()+"/"+site.Kid())
	want, err := connect.EncodePublicKeyPEM(&testKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || body != string(want) {
		t.Errorf("key: status %d, body %q", resp.StatusCode, body)
	}
	if code := get(t, site.KeysURL()+"/other").StatusCode; code != http.StatusNotFound {
		t.Errorf("other kid: status %d", code)
	}
	// when the key server is down, the install cannot be verified
	site.SetKeyServerDown(true)
	if code := get(t, site.KeysURL()+"/"+site.Kid()).StatusCode; code != http.StatusServiceUnavailable {
		t.Errorf("down: status %d", code)
	}
	code, body := statusOf(t, site.Install(context.Background()))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "key_unavailable") {
		t.Errorf("install while keys are down: %d %q", code, body)
	}
	// and works once it is back
	site.SetKeyServerDown(false)
	if err := site.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	if app.last().path != "/lifecycle/installed" {
		t.Error("install not received")
	}
}

func TestHS256CallsToTheApp(t *testing.T) {
	site := newSite(t, "")
	app := newFakeApp(t, site)
	ctx := context.Background()
	if err := site.Install(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		given       func() error
		expectPath  string
		expectSub   string
		expectActor string // the account the payload names
	}{
		{name: "enabled", given: func() error { return site.Enable(ctx) }, expectPath: "/lifecycle/enabled"},
		{name: "disabled", given: func() error { return site.Disable(ctx) }, expectPath: "/lifecycle/disabled"},
		{name: "comment webhook", given: func() error { return site.SendWebhook(ctx, jiratest.WebhookCommentCreated, mia) },
			expectPath: "/webhooks/activity", expectActor: mia},
		{name: "issue webhook", given: func() error { return site.SendWebhook(ctx, jiratest.WebhookIssueUpdated, ada) },
			expectPath: "/webhooks/activity", expectActor: ada},
		{name: "page load", given: func() error {
			return status(get(t, site.SignedURL("GET", "/pages/presence", url.Values{"projectKey": {"SUP"}, "x": {"a b"}}, mia)))
		}, expectPath: "/pages/presence", expectSub: mia},
		{name: "page load without query", given: func() error {
			return status(get(t, site.SignedURL("GET", "/pages/admin", nil, ada)))
		}, expectPath: "/pages/admin", expectSub: ada},
		{name: "signed request", given: func() error {
			req, _ := http.NewRequest("POST", site.AppBaseURL()+"/webhooks/activity?a=1", strings.NewReader("{}"))
			if err := site.Sign(req, ""); err != nil {
				return err
			}
			return site.Send(req)
		}, expectPath: "/webhooks/activity"},
		{name: "context token", given: func() error {
			req, _ := http.NewRequest("GET", site.AppBaseURL()+"/api/v1/me", nil)
			req.Header.Set("Authorization", "JWT "+site.ContextToken(mia))
			return site.Send(req)
		}, expectPath: "/api/v1/me", expectSub: mia},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.given(); err != nil {
				t.Fatal(err)
			}
			got := app.last()
			if got.path != tt.expectPath || got.claims.Issuer != site.ClientKey() || got.claims.Subject != tt.expectSub {
				t.Errorf("received %s, iss %q, sub %q", got.path, got.claims.Issuer, got.claims.Subject)
			}
			if ev, _ := got.body["eventType"].(string); strings.HasPrefix(tt.expectPath, "/lifecycle/") && ev != tt.name {
				t.Errorf("eventType = %q", ev)
			}
			if tt.expectActor != "" {
				if actor := webhookActor(t, got.body); actor != tt.expectActor {
					t.Errorf("actor = %q in %v", actor, got.body)
				}
			}
		})
	}
}

// status turns a non-2xx response into an error.
func status(resp *http.Response) error {
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// webhookActor decodes the payload the way handlers/webhooks.go does and
// returns who acted.
func webhookActor(t *testing.T, body map[string]any) string {
	t.Helper()
	raw, _ := json.Marshal(body)
	var ev struct {
		WebhookEvent string `json:"webhookEvent"`
		User         *struct {
			AccountID string `json:"accountId"`
		} `json:"user"`
		Comment *struct {
			Author       struct{ AccountID string } `json:"author"`
			UpdateAuthor struct{ AccountID string } `json:"updateAuthor"`
		} `json:"comment"`
		Issue struct {
			Key    string `json:"key"`
			Fields struct {
				Project struct{ Key string } `json:"project"`
			} `json:"fields"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Issue.Key == "" || ev.Issue.Fields.Project.Key == "" {
		t.Errorf("no issue in %s", raw)
	}
	switch ev.WebhookEvent {
	case "comment_created":
		if ev.User != nil || ev.Comment == nil || ev.Comment.Author.AccountID != ev.Comment.UpdateAuthor.AccountID {
			t.Errorf("comment payload %s", raw)
			return ""
		}
		return ev.Comment.Author.AccountID
	case "jira:issue_updated":
		if ev.User == nil || ev.Comment != nil {
			t.Errorf("issue payload %s", raw)
			return ""
		}
		return ev.User.AccountID
	}
	t.Errorf("event %q", ev.WebhookEvent)
	return ""
}

func TestMisuseOfOutgoingCalls(t *testing.T) {
	site := newSite(t, "")
	newFakeApp(t, site)
	ctx := context.Background()
	if err := site.SendWebhook(ctx, "issue_deleted", mia); err == nil {
		t.Error("unknown webhook event sent")
	}
	if err := site.SendWebhook(ctx, jiratest.WebhookIssueUpdated, ""); err == nil {
		t.Error("webhook without account sent")
	}
	if _, err := site.LifecycleRequest(ctx, "upgraded"); err == nil {
		t.Error("unknown lifecycle event built")
	}
	// the site signs for the app only
	req, _ := http.NewRequest("GET", "https://evil.example/app/pages/presence", nil)
	if err := site.Sign(req, mia); err == nil {
		t.Error("signed a request to another host")
	}
	req, _ = http.NewRequest("GET", site.AppBaseURL()+"x/pages/presence", nil)
	if err := site.Sign(req, mia); err == nil {
		t.Error("signed a request outside the app's base path")
	}
}

func TestRotateSecret(t *testing.T) {
	site := newSite(t, "")
	app := newFakeApp(t, site)
	ctx := context.Background()
	if err := site.Install(ctx); err != nil {
		t.Fatal(err)
	}
	c, oldSite := client(site)
	// when the site rotates its secret
	site.RotateSecret()
	// expect the old one to stop working both ways until the reinstall
	if _, err := c.User(ctx, oldSite, mia); !errors.Is(err, jira.ErrUnauthorized) {
		t.Errorf("old secret on REST: %v", err)
	}
	if code, _ := statusOf(t, site.Enable(ctx)); code != http.StatusUnauthorized {
		t.Errorf("enable before reinstall: %d", code)
	}
	if err := site.Install(ctx); err != nil {
		t.Fatal(err)
	}
	if got := app.last().body["sharedSecret"]; got != string(site.SharedSecret()) || got == string(oldSite.SharedSecret) {
		t.Errorf("reinstall sent secret %v", got)
	}
	if err := site.Enable(ctx); err != nil {
		t.Errorf("enable after reinstall: %v", err)
	}
	_, newSite := client(site)
	if _, err := c.User(ctx, newSite, mia); err != nil {
		t.Errorf("new secret on REST: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	// Run with -race: data changes while the app reads must be safe.
	site := newSite(t, "")
	c, js := client(site)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				id := "557058:u" + strconv.Itoa(i)
				_ = site.SetUser(jiratest.UserSpec{AccountID: id, Agent: []string{"SUP"}})
				if _, err := c.CheckPermissions(context.Background(), js, id, nil,
					[]jira.ProjectPermissionQuery{{Permissions: []string{"SERVICEDESK_AGENT"}, Projects: []int64{10000}}}); err != nil {
					t.Error(err)
				}
				if j%5 == 0 {
					site.RemoveUser(id)
					_ = site.Requests()
				}
			}
		})
	}
	wg.Wait()
	if n := site.Calls("/rest/api/3/permissions/check"); n != 80 {
		t.Errorf("calls = %d, want 80", n)
	}
}

func TestMethodsAndListing(t *testing.T) {
	site := newSite(t, "")
	c, js := client(site)
	// a signed request with the wrong method is refused with Allow
	err := c.Do(context.Background(), js, "DELETE", "/rest/api/3/user?accountId=x", nil, nil)
	if code, _ := statusOf(t, err); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE user: status %d", code)
	}
	if last := site.Requests()[len(site.Requests())-1]; last.Method != "DELETE" || last.Status != http.StatusMethodNotAllowed {
		t.Errorf("logged %+v", last)
	}
	// an unknown REST path is 404 once signed
	err = c.Do(context.Background(), js, "GET", "/rest/api/3/myself", nil, nil)
	if !errors.Is(err, jira.ErrNotFound) {
		t.Errorf("unknown path: %v", err)
	}
	var ids []string
	for _, u := range site.Users() {
		ids = append(ids, u.AccountID)
	}
	if !reflect.DeepEqual(ids, []string{ada, mia}) {
		t.Errorf("users = %v", ids)
	}
	if site.AppKey() != testAppKey {
		t.Errorf("app key %q", site.AppKey())
	}
	se := &jiratest.StatusError{Method: "POST", URL: "http://app/lifecycle/installed", Status: 401, Body: "expired"}
	if msg := se.Error(); !strings.Contains(msg, "401") || !strings.Contains(msg, "expired") {
		t.Errorf("message %q", msg)
	}
}
