package jira

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"agentpresence/handlers/forge"
)

// bearerJira records the Authorization header and body of each call and
// answers a permission check granting everything asked.
type bearerJira struct {
	mu    sync.Mutex
	calls []bearerCall
}

type bearerCall struct {
	path, auth, accountID string
}

func (b *bearerJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body permissionCheckRequest
	_ = json.NewDecoder(r.Body).Decode(&body)
	b.mu.Lock()
	b.calls = append(b.calls, bearerCall{path: r.URL.Path, auth: r.Header.Get("Authorization"), accountID: body.AccountID})
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/ex/jira/c1/rest/api/3/permissions/check":
		_, _ = w.Write([]byte(`{"globalPermissions":["ADMINISTER"],"projectPermissions":[]}`))
	default:
		_, _ = w.Write([]byte(`{"isLastPage":true,"values":[]}`))
	}
}

func (b *bearerJira) all() []bearerCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]bearerCall(nil), b.calls...)
}

// TestForgeSiteCallsCarryTokens: a Forge site's calls carry the system
// token as a Bearer token and no Connect JWT; the permission check of the
// user whose token the request carries is asked as that user, without an
// accountId; any other user is asked about with the system token; a
// missing or expiring token sends nothing.
func TestForgeSiteCallsCarryTokens(t *testing.T) {
	fj := &bearerJira{}
	srv := httptest.NewServer(fj)
	t.Cleanup(srv.Close)
	now := testNow()
	c := &Client{AppKey: testAppKey, Now: func() time.Time { return now }, Targets: TargetPolicy{AllowLoopback: true}}
	site := ForgeSite(srv.URL+"/ex/jira/c1", forge.NewOAuthToken("system-token", now.Add(2*time.Hour)))
	ctx := WithUserToken(context.Background(), "557058:alice", forge.NewOAuthToken("alice-token", now.Add(2*time.Hour)))

	if _, err := c.ServiceDesks(ctx, site); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckPermissions(ctx, site, "557058:alice", []string{"ADMINISTER"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckPermissions(ctx, site, "557058:bob", []string{"ADMINISTER"}, nil); err != nil {
		t.Fatal(err)
	}
	want := []bearerCall{
		{"/ex/jira/c1/rest/servicedeskapi/servicedesk", "Bearer system-token", ""},
		{"/ex/jira/c1/rest/api/3/permissions/check", "Bearer alice-token", ""},
		{"/ex/jira/c1/rest/api/3/permissions/check", "Bearer system-token", "557058:bob"},
	}
	got := fj.all()
	if len(got) != len(want) {
		t.Fatalf("calls %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	// A user token about to expire is not used; the system token is.
	soon := WithUserToken(context.Background(), "557058:alice", forge.NewOAuthToken("alice-old", now.Add(30*time.Second)))
	if _, err := c.CheckPermissions(soon, site, "557058:alice", nil, nil); err != nil {
		t.Fatal(err)
	}
	if last := fj.all()[len(fj.all())-1]; last.auth != "Bearer system-token" || last.accountID != "557058:alice" {
		t.Errorf("with an expiring user token: %+v", last)
	}

	before := len(fj.all())
	for name, s := range map[string]Site{
		"no system token":       ForgeSite(srv.URL+"/ex/jira/c1", forge.OAuthToken{}),
		"expiring system token": ForgeSite(srv.URL+"/ex/jira/c1", forge.NewOAuthToken("old", now.Add(10*time.Second))),
	} {
		_, err := c.ServiceDesks(context.Background(), s)
		if !errors.Is(err, ErrNoSystemToken) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrNoSystemToken as ErrUnavailable", name, err)
		}
	}
	// A Connect site without a secret is never signed for.
	if _, err := c.ServiceDesks(context.Background(), Site{BaseURL: srv.URL}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Connect site without secret: %v, want ErrInvalidRequest", err)
	}
	if n := len(fj.all()); n != before {
		t.Fatalf("%d calls were sent without a usable token", n-before)
	}
}
