package handlers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestVerifiedTokenReuse: a Connect token that verified once is answered
// from memory on its next uses (handlers.TenantCache keeps it by digest),
// yet every use is checked as the first was: a token past exp (with the
// leeway) is refused, a request token's qsh is checked against each
// request, and a token signed with a secret the tenant no longer has is
// refused, each with the reason its first use would get.
func TestVerifiedTokenReuse(t *testing.T) {
	dbtest.Each(t, testVerifiedTokenReuse)
}

func testVerifiedTokenReuse(t *testing.T, dialect models.Dialect) {
	h := newHarness(t, on(dialect), served())
	site := h.newSite(t)
	h.install(t, site)
	code := func(r apiResult) string {
		if r.status == http.StatusOK {
			return "ok"
		}
		return r.errorCode(t)
	}
	cases := []struct {
		name   string
		given  func() (token string)
		first  string // the request that verifies it
		change func()
		then   string // the same token again, after change
		expect string // its error code
	}{
		{
			name:  "context token past exp and the leeway",
			given: func() string { return site.ContextToken("alice") },
			first: "/api/v1/me", then: "/api/v1/me",
			change: func() { h.clock.Advance(3*time.Minute + 31*time.Second) },
			expect: "expired",
		},
		{
			name: "request token sent to another request",
			given: func() string {
				tok, err := site.SignToken("GET", h.baseURL+"/api/v1/me", "alice", nil)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			},
			first: "/api/v1/me", then: "/api/v1/me/schedule",
			change: func() {},
			expect: "qsh_mismatch",
		},
		{
			name:  "context token of a secret replaced by a reinstall",
			given: func() string { return site.ContextToken("alice") },
			first: "/api/v1/me", then: "/api/v1/me",
			change: func() {
				site.RotateSecret()
				if err := site.Install(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			expect: "bad_signature",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := c.given()
			for range 2 {
				if got := code(h.request(t, "GET", c.first, tok, "")); got != "ok" {
					t.Fatalf("first uses: %s, want ok", got)
				}
			}
			c.change()
			if got := code(h.request(t, "GET", c.then, tok, "")); got != c.expect {
				t.Errorf("after the change: %s, want %s", got, c.expect)
			}
		})
	}
}
