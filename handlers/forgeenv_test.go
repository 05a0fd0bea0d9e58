package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"agentpresence/app/jirasim"
	"agentpresence/handlers"
	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
	"agentpresence/models"
)

// testForgeApp is the Forge app the tests' platform signs for.
const testForgeApp = "ari:cloud:ecosystem::app/6c0a2e9b-1f4d-4c1e-9a57-0d7f3c2b8e11"

// forgeEnv is a jiraEnv whose router is also a Forge remote: a stand-in
// Forge platform (forgetest) serves its JWKS on loopback and mints the
// FITs and OAuth tokens, and simulated Jira sites take those tokens.
type forgeEnv struct {
	*jiraEnv
	platform *forgetest.Platform
}

func newForgeEnv(t testing.TB, dialect models.Dialect) *forgeEnv {
	t.Helper()
	return newForgeEnvAt(t, dialect, slog.LevelDebug)
}

func newForgeEnvAt(t testing.TB, dialect models.Dialect, level slog.Level) *forgeEnv {
	t.Helper()
	var p *forgetest.Platform
	env := newJiraEnvWith(t, dialect, level, func(d *handlers.Deps) {
		var err error
		p, err = forgetest.New(testForgeApp, forgetest.WithClock(d.Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		keys := forge.NewKeySet(p.JWKSURL(), forge.WithKeySetClock(d.Now))
		v, err := forge.NewVerifier(testForgeApp, keys, forge.WithClock(d.Now), forge.WithLoopbackURLs())
		if err != nil {
			t.Fatal(err)
		}
		d.Forge = &handlers.ForgeAuth{Verifier: v, Store: d.Store, Log: d.Log}
	})
	return &forgeEnv{jiraEnv: env, platform: p}
}

// newForgeSite starts a simulated site (HELP and IT; alice, bob, ada,
// carol) with the Forge app installed as a new installation; nothing is
// sent to the app yet.
func (env *forgeEnv) newForgeSite() (*jirasim.Site, forgetest.Installation) {
	site := env.newSite()
	inst := forgetest.NewInstallation(site.BaseURL(), site.BaseURL()+"/site")
	site.EnableForge(jirasim.ForgeOptions{Tokens: env.platform, InstallationID: inst.ID, CloudID: inst.CloudID})
	return site, inst
}

// install sends the avi:forge:installed:app event, as Forge does when an
// admin installs the app, and returns the tenant.
func (env *forgeEnv) installForge(inst forgetest.Installation) models.Tenant {
	t := env.t
	t.Helper()
	r := env.send(env.platform.Installed(context.Background(), env.app.URL, "/forge/lifecycle/installed", inst, "ada"))
	if r.status != http.StatusNoContent {
		t.Fatalf("installed: %d %s", r.status, r.body)
	}
	tn, err := env.store.TenantByClientKey(context.Background(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// invoke sends what a page's invokeRemote makes Forge send: a FIT for the
// user and the system and user tokens.
func (env *forgeEnv) invoke(inst forgetest.Installation, user, method, path, body string) apiResult {
	env.t.Helper()
	var b any
	if body != "" {
		b = jsonRaw(body)
	}
	return env.send(env.platform.InvokeRemote(context.Background(), env.app.URL, inst, user, method, path, b))
}

// request sends what a page's requestRemote sends: the FIT only.
func (env *forgeEnv) request(inst forgetest.Installation, user, method, path string, header ...string) apiResult {
	env.t.Helper()
	req, err := env.platform.RequestRemote(context.Background(), env.app.URL, inst, user, method, path, nil)
	for i := 0; err == nil && i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return env.send(req, err)
}

// withFIT sends method path with "Authorization: <scheme> <token>".
func (env *forgeEnv) withFIT(scheme, token, method, path string) apiResult {
	env.t.Helper()
	req, err := http.NewRequest(method, env.app.URL+path, nil)
	if err == nil {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	return env.send(req, err)
}

// send sends a request built by forgetest (loopback only).
func (env *forgeEnv) send(req *http.Request, err error) apiResult {
	t := env.t
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := forgetest.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// jsonRaw is a JSON body given as text.
type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }

// tenantCount says whether an installation id names a tenant.
func (env *forgeEnv) registered(inst string) bool {
	_, err := env.store.TenantByClientKey(context.Background(), inst)
	return err == nil
}

// widgetStatus asks the public API for a widget's status, as a customer's
// browser on no particular site would.
func (env *forgeEnv) widgetStatus(widget string) apiResult {
	env.t.Helper()
	rec := httptest.NewRecorder()
	env.echo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/public/v1/widgets/"+widget+"/status", nil))
	return apiResult{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// logged returns the log written so far.
func (env *forgeEnv) logged() string {
	env.logsMu.Lock()
	defer env.logsMu.Unlock()
	return env.logs.String()
}
