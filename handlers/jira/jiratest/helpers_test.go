package jiratest_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
)

const testAppKey = "io.agentpresence.test"

// Accounts of the standard fixture.
const (
	mia = "557058:mia" // agent of SUP and HR, admin of SUP
	ada = "557058:ada" // Jira admin, agent of IT
)

func testNow() time.Time {
	return time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
}

// testKeyPEM is a throw-away RSA 2048 key, fixed so that tests do not spend
// a fraction of a second generating one each. "TESTING KEY" keeps secret
// scanners quiet; testKey restores the real PEM type.
const testKeyPEM = `
-----BEGIN TESTING KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDyp0rNt+8w9Mkp
K+ON72gQ5KAg4mxglGIykRjPjpXcTapPz2ds55zxZvrjIKe0IeGGTwH9Z6sFonIK
M1GK5KzKKqZNAY3fvm9DNIPXmQKBoZP9rBOI9NlhCnLHuUsaNIpNCtikyTvikjtl
BTHgLDfL2uui5mcFFmssykqxvIRb8iXbpNjBf++pRfSCPq7sQuXTOJhGBjQWfOQy
kaQ2+gzvG/XzbQDbqPbGedTLL14WJiutZUajs28L3qtaF0B6dawXmv+OtAk1u5mI
mREwBwWeTiUoI8UtbXk4hfCBUbnQ4ELZ6RhauczzAjj3/oLyyDedeS7lgGcWvH3o
VIzuZfaJAgMBAAECggEAAmdtCZUBo8piMhnMNqDF25hqi/+22ARk5TukM22mEHBB
r0WXwt1zbQcfKFbmVwOGWJwnfVI25R2J4/ux44w9SpLjBpyReR63cgwBSc+rQ2bx
+a+MmpF4Jm9B7CRYhtk4+rBr0edD6MMqaFUX19VvLBSTBMcj3wDjtqZQs/yoAC93
K/KTEXpIL2CNLChrHGI3nKnzWmYy3dYDwE+3YVqvnWe1ivBWfsXDvgqvIFheak/d
OrB04Gz3q1T83FY+7qGUPDZyjdW0PI8AxgXjZSwNexonYnLB/rIMDw1l9qcWO7Fa
DzAJbnJBFbgIlDSHAeVXgGyK4L47jgcmNRBdn64NnQKBgQD7ft8heB2EZkqDrxvD
Of0gpVh6zJODfg9Zt8FBO+e/zfKbTH1IDH0EmLb62V+eo3joc6Vx4n7AuJVxM/go
zelwN8rvjJDwqGJYqmEEsCy6A1K+hx3hiVx0YT0t+eMaasZc6pjTD2Xduv92gzm/
xYd4cbwjmmgAYmINHQ5c7Nc/mwKBgQD2/+D4qP/7a7JlHGiLvT1ES/Ty7Fwq3Vxp
ZpPm3hgPBdQZAKdlzE8r/ScoSDBT/eqOij/5W0LzQzMST7Q/04yDChHGHEh3ztE1
bHY8hXpIyM5fsFgBmKwRTlhpg7HdN/cS85za0TmlcVwkw00K/npEeSs17pCm0CA4
RY52u6wOqwKBgQC/Q0iMWp4QH/8RUK3LdiF0n2q/0S9qdAdWkvHtG5LvAsA7rRsm
HSFCyqV19rTKn8YG+lRbXQZKqNY2RnC3D4o15qh2L6/W5igNCF5KQ3VwbbCS540p
Bd8DPyRY/87gO03qQhvBf9dXnqxDxB66Io4ZYl3TsczgZfHtySgwMYqtewKBgQDy
7tSMfVvYIyLAw+InnqbFp5dx3fsAxduAZz2M0mADVo43USdTvlEYSNLckbPGyHSM
YXlufc4piKyQlAgKxrzqnVrB6Ut1Wtr1monoGLgfIjGod773QvvpwY6/qKGlnMfL
wgNCTIpQKGCiX9xEten3st1HHC71grpN3kuyh/9AJQKBgQCultBlvmqt0UrTTqpq
pUhprw3BHoqv/kcPKYAZ0hfblgVgrhiqLheOCXKOFquaZBA9nmXXdpIhvtA4R8Uh
aRZlV1FsuQ19OeYqBDLoedj2KMAuoimnzRbz9+ZPDQJ3fZGFoxatlXK3BCIdKXUZ
rbTfMW0rZsxI2VlIaePS9qzi4w==
-----END TESTING KEY-----
`

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode([]byte(strings.ReplaceAll(testKeyPEM, "TESTING KEY", "PRIVATE KEY")))
	if block == nil {
		t.Fatal("test key: no PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("test key: %v", err)
	}
	return key.(*rsa.PrivateKey)
}

// newBareSite starts a site with no data, served by its own server and
// mounted at basePath (the server passes every path to the site, so the
// site's own prefix handling is what is tested).
func newBareSite(t *testing.T, basePath string) *jiratest.Site {
	t.Helper()
	site, err := jiratest.New(jiratest.Options{AppKey: testAppKey, InstallKey: testKey(t), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	if err := site.SetBaseURL(srv.URL + basePath); err != nil {
		t.Fatal(err)
	}
	return site
}

// newSite starts a site with three service desks and two users.
func newSite(t *testing.T, basePath string) *jiratest.Site {
	t.Helper()
	site := newBareSite(t, basePath)
	for _, p := range []jiratest.ProjectSpec{
		{ID: 10000, Key: "SUP", Name: "Support"},
		{ID: 10001, Key: "HR", Name: "People"},
		{ID: 10002, Key: "IT", Name: "IT help"},
	} {
		if err := site.AddProject(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []jiratest.UserSpec{
		{AccountID: mia, DisplayName: "Mia Krystof", TimeZone: "Europe/Berlin", Agent: []string{"SUP", "HR"}, ProjectAdmin: []string{"SUP"}},
		{AccountID: ada, DisplayName: "Ada Lovelace", Agent: []string{"IT"}, JiraAdmin: true},
	} {
		if err := site.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	return site
}

// client is the app's real Jira client and the site as the app records it
// at install time.
func client(site *jiratest.Site) (*jira.Client, jira.Site) {
	return &jira.Client{AppKey: testAppKey, Now: testNow, Targets: jira.TargetPolicy{AllowLoopback: true}},
		jira.Site{BaseURL: site.BaseURL(), SharedSecret: site.SharedSecret()}
}

// statusOf returns the status of a *jira.Error or a *jiratest.StatusError.
func statusOf(t *testing.T, err error) (int, string) {
	t.Helper()
	var je *jira.Error
	var se *jiratest.StatusError
	switch {
	case errors.As(err, &je):
		return je.Status, je.Body
	case errors.As(err, &se):
		return se.Status, se.Body
	}
	t.Fatalf("err = %v, want a status error", err)
	return 0, ""
}

// received is one request the fake app accepted.
type received struct {
	path   string
	claims *connect.Claims
	body   map[string]any
}

// fakeApp plays the app's side of the protocol at base path /app: it
// verifies lifecycle callbacks with connect.InstallVerifier against the
// site's key server and everything else with the shared secret it was
// installed with, as handlers/lifecycle.go and handlers/auth.go do.
type fakeApp struct {
	t        *testing.T
	baseURL  string
	installs *connect.InstallVerifier

	mu     sync.Mutex
	secret []byte
	got    []received
}

const appBasePath = "/app"

func newFakeApp(t *testing.T, site *jiratest.Site) *fakeApp {
	t.Helper()
	a := &fakeApp{t: t, installs: &connect.InstallVerifier{KeysURL: site.KeysURL(), Now: testNow}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	a.baseURL = srv.URL + appBasePath
	if err := site.SetAppBaseURL(a.baseURL); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, appBasePath)
	if !ok {
		http.NotFound(w, r)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
	}
	token, err := connect.TokenFromRequest(r)
	if err != nil {
		http.Error(w, connect.Reason(err), http.StatusUnauthorized)
		return
	}
	qsh := connect.RequestQSH(r, appBasePath)
	var claims *connect.Claims
	switch path {
	case "/lifecycle/installed", "/lifecycle/uninstalled":
		clientKey, _ := body["clientKey"].(string)
		claims, err = a.installs.Verify(r.Context(), token, a.baseURL, qsh, clientKey)
		if errors.Is(err, connect.ErrKeyUnavailable) {
			http.Error(w, connect.Reason(err), http.StatusServiceUnavailable)
			return
		}
		if err == nil && path == "/lifecycle/installed" {
			secret, _ := body["sharedSecret"].(string)
			a.mu.Lock()
			a.secret = []byte(secret)
			a.mu.Unlock()
		}
	default:
		a.mu.Lock()
		secret := a.secret
		a.mu.Unlock()
		// Only the app's own API accepts context tokens.
		allowContext := strings.HasPrefix(path, "/api/")
		claims, err = connect.Verifier{Now: testNow}.VerifyHS256(token, secret, qsh, allowContext)
	}
	if err != nil {
		http.Error(w, connect.Reason(err), http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	a.got = append(a.got, received{path: path, claims: claims, body: body})
	a.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// last returns the last accepted request.
func (a *fakeApp) last() received {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.got) == 0 {
		a.t.Fatal("the app accepted no request")
	}
	return a.got[len(a.got)-1]
}
