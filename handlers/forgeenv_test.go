package handlers_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"

	"agentpresence/handlers"
	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
)

// testForgeApp is the Forge app the tests' platform signs for.
const testForgeApp = "ari:cloud:ecosystem::app/6c0a2e9b-1f4d-4c1e-9a57-0d7f3c2b8e11"

// forgeHarness is the served harness whose router is also a Forge remote:
// a stand-in Forge platform (forgetest) serves its JWKS on loopback and
// mints the FITs and OAuth tokens, and simulated Jira sites take those
// tokens.
type forgeHarness struct {
	*harness
	platform *forgetest.Platform
}

// withForge makes the router a Forge remote of testForgeApp, verifying
// FITs against p's keys.
func withForge(t testing.TB, p **forgetest.Platform) option {
	return withDeps(func(d *handlers.Deps) {
		var err error
		*p, err = forgetest.New(testForgeApp, forgetest.WithClock(d.Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup((*p).Close)
		keys := forge.NewKeySet((*p).JWKSURL(), forge.WithKeySetClock(d.Now))
		v, err := forge.NewVerifier(testForgeApp, keys, forge.WithClock(d.Now), forge.WithLoopbackURLs())
		if err != nil {
			t.Fatal(err)
		}
		d.Forge = &handlers.ForgeAuth{Verifier: v, Store: d.Store, Log: d.Log, Now: d.Now}
	})
}

func newForgeHarness(t testing.TB, opts ...option) *forgeHarness {
	t.Helper()
	var p *forgetest.Platform
	h := newHarness(t, append([]option{served(), withForge(t, &p)}, opts...)...)
	return &forgeHarness{harness: h, platform: p}
}

// newForgeSite starts a simulated site (HELP and IT; alice, bob, ada,
// carol) with the Forge app installed as a new installation; nothing is
// sent to the app yet.
func (h *forgeHarness) newForgeSite(t testing.TB) (*jiratest.Site, forgetest.Installation) {
	t.Helper()
	site := h.newSite(t)
	inst := forgetest.NewInstallation(site.BaseURL(), site.BaseURL()+"/site")
	site.EnableForge(jiratest.ForgeOptions{Tokens: h.platform, InstallationID: inst.ID, CloudID: inst.CloudID})
	return site, inst
}

// installForge sends the avi:forge:installed:app event, as Forge does when
// an admin installs the app, and returns the tenant.
func (h *forgeHarness) installForge(t testing.TB, inst forgetest.Installation) models.Tenant {
	t.Helper()
	r := h.send(t)(h.platform.Installed(context.Background(), h.baseURL, "/forge/lifecycle/installed", inst, "ada"))
	if r.status != http.StatusNoContent {
		t.Fatalf("installed: %d %s", r.status, r.body)
	}
	tn, err := h.store.TenantByClientKey(context.Background(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// invoke sends what a page's invokeRemote makes Forge send: a FIT for the
// user and the system and user tokens.
func (h *forgeHarness) invoke(t testing.TB, inst forgetest.Installation, user, method, path, body string) apiResult {
	t.Helper()
	var b any
	if body != "" {
		b = jsonRaw(body)
	}
	return h.send(t)(h.platform.InvokeRemote(context.Background(), h.baseURL, inst, user, method, path, b))
}

// requestRemote sends what a page's requestRemote sends: the FIT only,
// and extra headers as name, value pairs.
func (h *forgeHarness) requestRemote(t testing.TB, inst forgetest.Installation, user, method, path string, header ...string) apiResult {
	t.Helper()
	req, err := h.platform.RequestRemote(context.Background(), h.baseURL, inst, user, method, path, nil)
	for i := 0; err == nil && i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.send(t)(req, err)
}

// withFIT sends method path with "Authorization: <scheme> <token>".
func (h *forgeHarness) withFIT(t testing.TB, scheme, token, method, path string) apiResult {
	t.Helper()
	req, err := http.NewRequest(method, h.baseURL+path, nil)
	if err == nil {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	return h.send(t)(req, err)
}

// send returns a function that sends a request built by forgetest
// (loopback only): it takes the builder's two results.
func (h *forgeHarness) send(t testing.TB) func(*http.Request, error) apiResult {
	return func(req *http.Request, err error) apiResult {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := forgetest.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return apiResult{status: resp.StatusCode, header: resp.Header, body: b}
	}
}

// firstForgeEvent opens the agent stream with a FIT and returns its first
// event.
func (h *forgeHarness) firstForgeEvent(t testing.TB, inst forgetest.Installation, user, path string) string {
	t.Helper()
	req, err := h.platform.RequestRemote(context.Background(), h.baseURL, inst, user, "GET", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := forgetest.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return string(firstEvent(bufio.NewReader(resp.Body)))
}

// jsonRaw is a JSON body given as text.
type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }

// registered says whether an installation id names a tenant.
func (h *forgeHarness) registered(inst string) bool {
	_, err := h.store.TenantByClientKey(context.Background(), inst)
	return err == nil
}

// widgetStatus asks the public API for a widget's status, as a customer's
// browser on no particular site would.
func (h *forgeHarness) widgetStatus(t testing.TB, widget string) apiResult {
	t.Helper()
	return h.request(t, http.MethodGet, "/public/v1/widgets/"+widget+"/status", "", "")
}
