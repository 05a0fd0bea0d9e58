package forgetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
)

const appID = "ari:cloud:ecosystem::app/6c0a2e9b-1f4d-4c1e-9a57-0d7f3c2b8e11"

// remote is a minimal Forge Remote: it verifies every request and echoes
// what it learnt.
type remote struct {
	verifier *forge.Verifier
	calls    atomic.Int64
}

func (rm *remote) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rm.calls.Add(1)
	inv, err := rm.verifier.VerifyRequest(r)
	if err != nil {
		w.WriteHeader(forge.HTTPStatus(err))
		return
	}
	var body map[string]any
	if r.Body != nil {
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
	}
	_, sysErr := forge.SystemToken(r.Header)
	_, userErr := forge.UserToken(r.Header)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"installation": inv.InstallationID, "cloud": inv.CloudID, "principal": inv.Principal,
		"module": inv.ModuleType, "system": sysErr == nil, "user": userErr == nil,
		"event": body["eventType"], "path": r.URL.Path, "method": r.Method,
	})
}

func setup(t *testing.T) (*forgetest.Platform, forgetest.Installation, *remote, *httptest.Server) {
	t.Helper()
	p, err := forgetest.New(appID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	v, err := forge.NewVerifier(appID, forge.NewKeySet(p.JWKSURL()), forge.WithLoopbackURLs())
	if err != nil {
		t.Fatal(err)
	}
	rm := &remote{verifier: v}
	srv := httptest.NewServer(rm)
	t.Cleanup(srv.Close)
	return p, forgetest.NewInstallation("http://127.0.0.1:1/jira", "http://127.0.0.1:1"), rm, srv
}

// TestRequestsForgeSends: every kind of request the stand-in builds
// verifies at a remote and carries the tokens Forge would send.
func TestRequestsForgeSends(t *testing.T) {
	p, inst, _, srv := setup(t)
	ctx := context.Background()
	const user = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"
	build := map[string]func() (*http.Request, error){
		"invokeRemote": func() (*http.Request, error) {
			return p.InvokeRemote(ctx, srv.URL, inst, user, http.MethodPut, "/api/v1/me/status", map[string]any{"online": true})
		},
		"requestRemote": func() (*http.Request, error) {
			return p.RequestRemote(ctx, srv.URL, inst, user, http.MethodGet, "/api/v1/me", nil)
		},
		"commented": func() (*http.Request, error) {
			return p.ProductEvent(ctx, srv.URL, "/forge/events/activity", inst, forgetest.EventCommented, user, map[string]any{"key": "HELP-1"})
		},
		"installed": func() (*http.Request, error) {
			return p.Installed(ctx, srv.URL, "/forge/lifecycle/installed", inst, user)
		},
		"upgraded": func() (*http.Request, error) {
			return p.Upgraded(ctx, srv.URL, "/forge/lifecycle/installed", inst, user)
		},
		"preUninstall": func() (*http.Request, error) {
			return p.PreUninstall(ctx, srv.URL, "/forge/lifecycle/uninstalling", inst)
		},
		"scheduled": func() (*http.Request, error) {
			return p.ScheduledTrigger(ctx, srv.URL, "/forge/lifecycle/refresh", inst)
		},
	}
	want := map[string]map[string]any{
		"invokeRemote":  {"principal": user, "system": true, "user": true, "module": "jira:globalPage", "method": "PUT", "path": "/api/v1/me/status"},
		"requestRemote": {"principal": user, "system": false, "user": false, "method": "GET"},
		"commented":     {"principal": "", "system": true, "user": false, "module": "core:endpoint", "event": forgetest.EventCommented, "method": "POST"},
		"installed":     {"principal": "", "system": true, "event": forgetest.EventInstalled, "path": "/forge/lifecycle/installed"},
		"upgraded":      {"event": forgetest.EventUpgraded},
		"preUninstall":  {"principal": "", "system": true, "path": "/forge/lifecycle/uninstalling"},
		"scheduled":     {"system": true, "user": false, "path": "/forge/lifecycle/refresh"},
	}
	for name, mk := range build {
		t.Run(name, func(t *testing.T) {
			req, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := forgetest.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var got map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got["installation"] != inst.ID || got["cloud"] != inst.CloudID {
				t.Fatalf("tenant %v / %v", got["installation"], got["cloud"])
			}
			for k, v := range want[name] {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// TestOnlyLoopback: a remote off loopback gets no request at all, so
// nothing can be sent there.
func TestOnlyLoopback(t *testing.T) {
	p, inst, _, _ := setup(t)
	ctx := context.Background()
	for _, target := range []string{"http://10.0.0.1", "http://192.168.1.10:8080", "http://169.254.169.254",
		"https://example.com", "http://[fe80::1]", "http://127.0.0.1.nip.io", "http://0.0.0.0:8080"} {
		req, err := p.InvokeRemote(ctx, target, inst, "", http.MethodGet, "/api/v1/me", nil)
		if !errors.Is(err, forgetest.ErrNotLoopback) || req != nil {
			t.Errorf("%s: request %v, error %v; want ErrNotLoopback", target, req != nil, err)
		}
	}
	if _, err := p.Installed(ctx, "ftp://127.0.0.1", "/x", inst, ""); err == nil {
		t.Error("ftp remote accepted")
	}
}

// TestModesAndRotation: the key set server's modes and rotation, as
// remotes see them.
func TestModesAndRotation(t *testing.T) {
	p, inst, rm, srv := setup(t)
	ctx := context.Background()
	send := func() int {
		t.Helper()
		req, err := p.RequestRemote(ctx, srv.URL, inst, "", http.MethodGet, "/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := forgetest.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	p.SetMode(forgetest.Down)
	if s := send(); s != http.StatusServiceUnavailable {
		t.Fatalf("JWKS down: status %d, want 503", s)
	}
	if p.JWKSRequests() != 1 || rm.calls.Load() != 1 {
		t.Fatalf("JWKS asked %d times, remote called %d times", p.JWKSRequests(), rm.calls.Load())
	}
	before := p.Kid()
	kid, err := p.Rotate()
	if err != nil || kid == before || p.Kid() != kid || p.PublicKey(before) == nil {
		t.Fatalf("rotate: %v (kid %q, before %q)", err, kid, before)
	}
	p.Retire(before)
	if p.PublicKey(before) != nil {
		t.Fatal("retired key still published")
	}
}
