package handlers_test

import (
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesRoutes checks that the served OpenAPI document and the
// router list the same API operations, both ways.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	env := newHarness(t)
	rec := env.request(t, http.MethodGet, "/openapi.yaml", "", "")
	if rec.status != http.StatusOK {
		t.Fatalf("GET /openapi.yaml: %d", rec.status)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(rec.body, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	param := regexp.MustCompile(`:([A-Za-z]+)`)
	var routed []string
	for _, r := range env.server.Routes() {
		if (!strings.HasPrefix(r.Path, "/api/") && !strings.HasPrefix(r.Path, "/public/")) || strings.HasPrefix(r.Method, "echo_") {
			continue
		}
		routed = append(routed, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	sort.Strings(documented)
	sort.Strings(routed)
	routed = slices.Compact(routed)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("openapi.yaml documents %s, which no route serves", d)
		}
	}
}
