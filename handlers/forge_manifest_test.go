package handlers_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// pendingForgeRoutes are the routes forge/manifest.yml sends Forge's
// events and triggers to that the service does not serve yet: none. A
// route the manifest gains is listed here until the router serves it; the
// test fails for a manifest route that is neither served nor listed, and
// for a listed route that is served already.
var pendingForgeRoutes = []string{}

// forgeManifest is the part of forge/manifest.yml the service must match.
type forgeManifest struct {
	Modules   map[string][]map[string]any `yaml:"modules"`
	Remotes   []struct{ Key string }      `yaml:"remotes"`
	Resources []struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	} `yaml:"resources"`
}

// forgePages is forge/pages.json: the static/ page of each resource.
type forgePages struct {
	Pages map[string]struct {
		HTML string `json:"html"`
		Todo string `json:"todo"`
	} `json:"pages"`
}

// TestForgeManifestRoutes checks forge/manifest.yml against the service:
// every endpoint route is served by the router (or listed as pending),
// every module names an endpoint, remote and resource the manifest
// defines, and every resource is built from a static/ page that exists.
// Atlassian's own validator (forge/validate.mjs, run by .ci/test-all)
// checks the manifest's schema and the built resource folders.
func TestForgeManifestRoutes(t *testing.T) {
	raw, err := os.ReadFile("../forge/manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	var m forgeManifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("parse manifest: %v", err)
	}
	env := newHarness(t)
	forgeEnv := newForgeHarness(t)
	served := map[string]bool{}
	for _, r := range env.server.Routes() {
		served[r.Method+" "+r.Path] = true
	}

	remotes := map[string]bool{}
	for _, r := range m.Remotes {
		remotes[r.Key] = true
	}
	endpoints := map[string]map[string]any{}
	for _, e := range m.Modules["endpoint"] {
		key, _ := e["key"].(string)
		if r, _ := e["remote"].(string); !remotes[r] {
			t.Errorf("endpoint %s: remote %q is not in remotes", key, r)
		}
		endpoints[key] = e
	}
	if len(endpoints) == 0 {
		t.Fatal("the manifest defines no endpoint")
	}

	// Every endpoint with a route is POSTed to by Forge (events, triggers,
	// preUninstall); endpoints without one are UI resolvers, whose paths
	// the pages choose (the /api/v1 routes).
	var named []string
	for key, e := range endpoints {
		route, _ := e["route"].(map[string]any)
		path, _ := route["path"].(string)
		if path == "" {
			continue
		}
		r := http.MethodPost + " " + path
		named = append(named, r)
		// Served routes take Forge's FITs only: no token, no entry.
		if served[r] {
			if res := forgeEnv.request(t, http.MethodPost, path, "", "{}"); res.status != http.StatusUnauthorized || res.errorCode(t) != "no_token" {
				t.Errorf("endpoint %s: %s without a FIT answered %d %s", key, r, res.status, res.body)
			}
		}
		switch {
		case served[r] && slices.Contains(pendingForgeRoutes, r):
			t.Errorf("endpoint %s: %s is served now: delete it from pendingForgeRoutes", key, r)
		case !served[r] && !slices.Contains(pendingForgeRoutes, r):
			t.Errorf("endpoint %s: %s is not served by the router", key, r)
		}
	}
	for _, r := range pendingForgeRoutes {
		if !slices.Contains(named, r) {
			t.Errorf("pendingForgeRoutes lists %s, which the manifest does not name", r)
		}
	}

	resources := map[string]string{}
	for _, r := range m.Resources {
		resources[r.Key] = r.Path
	}
	uiEndpointUsed := false
	for typ, mods := range m.Modules {
		for _, mod := range mods {
			key, _ := mod["key"].(string)
			if ep, ok := mod["endpoint"].(string); ok {
				if e, found := endpoints[ep]; !found {
					t.Errorf("%s %s: endpoint %q is not defined", typ, key, ep)
				} else if route, _ := e["route"].(map[string]any); route == nil {
					t.Errorf("%s %s: endpoint %q has no route for Forge to POST to", typ, key, ep)
				}
			}
			if res, _ := mod["resolver"].(map[string]any); res != nil {
				ep, _ := res["endpoint"].(string)
				if _, found := endpoints[ep]; !found {
					t.Errorf("%s %s: resolver endpoint %q is not defined", typ, key, ep)
				}
				uiEndpointUsed = true
			}
			if res, ok := mod["resource"].(string); ok {
				if _, found := resources[res]; !found {
					t.Errorf("%s %s: resource %q is not defined", typ, key, res)
				}
			}
		}
	}
	if !uiEndpointUsed {
		t.Error("no UI module resolves through an endpoint")
	}
	// The pages call the agent API through the bridge.
	if !served["GET /api/v1/me"] {
		t.Error("GET /api/v1/me, which the pages call first, is not served")
	}

	checkForgeResources(t, resources)
}

// checkForgeResources checks that each resource is built into
// build/<key> from a page of forge/pages.json that exists on disk (or is
// (a todo fails).
func checkForgeResources(t *testing.T, resources map[string]string) {
	t.Helper()
	raw, err := os.ReadFile("../forge/pages.json")
	if err != nil {
		t.Fatal(err)
	}
	var pages forgePages
	if err := json.Unmarshal(raw, &pages); err != nil {
		t.Fatalf("parse pages.json: %v", err)
	}
	if len(resources) == 0 {
		t.Fatal("the manifest declares no resource")
	}
	for key, path := range resources {
		if path != "build/"+key {
			t.Errorf("resource %s: path %q, want build/%s (where forge/build.mjs writes it)", key, path, key)
		}
		page, ok := pages.Pages[key]
		switch {
		case !ok:
			t.Errorf("resource %s: no entry in forge/pages.json", key)
		case page.HTML == "":
			t.Errorf("resource %s: pages.json names no static/ page", key)
		case page.HTML != "":
			if !strings.HasPrefix(page.HTML, "static/") {
				t.Errorf("resource %s: page %q is not under static/", key, page.HTML)
			}
			if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(page.HTML))); err != nil {
				t.Errorf("resource %s: %v", key, err)
			}
		}
		if page.Todo != "" {
			t.Errorf("resource %s is not built from a page: %s", key, page.Todo)
		}
	}
	for key := range pages.Pages {
		if _, ok := resources[key]; !ok {
			t.Errorf("pages.json builds %s, which the manifest does not declare", key)
		}
	}
}
