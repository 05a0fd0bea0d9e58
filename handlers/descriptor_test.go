package handlers_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"agentpresence/handlers"
)

// sharedSchemaPath is where the team's copy of the Connect schema lies,
// beside the repository; schemaCopyPath is the repository's own copy
// (gzip), so that the validation runs on any checkout, never skipped.
const (
	sharedSchemaPath = "../../shared/connect/jira-connect-descriptor.schema.json"
	schemaCopyPath   = "testdata/jira-connect-descriptor.schema.json.gz"
)

// connectSchema compiles the Connect descriptor schema (draft 4) from the
// repository's copy, checked against the shared one where it lies beside
// the repository.
func connectSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(connectSchemaBytes(t)))
	if err != nil {
		t.Fatalf("parse schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	// The schema's patterns are ECMAScript (look-ahead), beyond Go's RE2.
	c.UseRegexpEngine(ecmaRegexp)
	if err := c.AddResource("connect-schema.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("connect-schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return schema
}

// connectSchemaBytes reads the repository's copy of the schema and, where
// the shared one is beside the repository, checks that the copy is the same.
func connectSchemaBytes(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open(schemaCopyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := os.ReadFile(sharedSchemaPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		t.Fatal(err)
	case !bytes.Equal(shared, raw):
		t.Fatalf("%s differs from the shared schema at %s: copy it again (gzip -9 -n)", schemaCopyPath, sharedSchemaPath)
	}
	return raw
}

func renderedDescriptor(t *testing.T) []byte {
	t.Helper()
	template, err := os.ReadFile("../atlassian-connect.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := handlers.NewDescriptor(template, "https://presence.example.com", "io.example.presence", `Name with "quotes"`)
	if err != nil {
		t.Fatal(err)
	}
	return d.Bytes()
}

// TestDescriptorValidatesAgainstConnectSchema validates the served
// descriptor with the Jira Connect JSON schema (draft 4).
func TestDescriptorValidatesAgainstConnectSchema(t *testing.T) {
	schema := connectSchema(t)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(renderedDescriptor(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Fatalf("descriptor does not validate:\n%v", err)
	}

	// The validator must be able to fail: a descriptor without a key does not validate.
	var broken map[string]any
	if err := json.Unmarshal(renderedDescriptor(t), &broken); err != nil {
		t.Fatal(err)
	}
	delete(broken, "key")
	broken["authentication"] = map[string]any{"type": "not-a-type"}
	b, err := json.Marshal(broken)
	if err != nil {
		t.Fatal(err)
	}
	if inst, err = jsonschema.UnmarshalJSON(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if schema.Validate(inst) == nil {
		t.Fatal("a broken descriptor validated: the schema check is not effective")
	}
}

type ecmaPattern regexp2.Regexp

func (re *ecmaPattern) MatchString(s string) bool {
	ok, err := (*regexp2.Regexp)(re).MatchString(s)
	return err == nil && ok
}

func (re *ecmaPattern) String() string { return (*regexp2.Regexp)(re).String() }

func ecmaRegexp(s string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(s, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return (*ecmaPattern)(re), nil
}

func TestDescriptorContents(t *testing.T) {
	var d struct {
		Key            string          `json:"key"`
		Name           string          `json:"name"`
		BaseURL        string          `json:"baseUrl"`
		Authentication map[string]any  `json:"authentication"`
		APIMigrations  map[string]bool `json:"apiMigrations"`
		Lifecycle      map[string]string
		Scopes         []string                    `json:"scopes"`
		Modules        map[string][]map[string]any `json:"modules"`
	}
	if err := json.Unmarshal(renderedDescriptor(t), &d); err != nil {
		t.Fatal(err)
	}
	if d.Key != "io.example.presence" || d.Name != `Name with "quotes"` || d.BaseURL != "https://presence.example.com" {
		t.Fatalf("placeholders not filled: key=%q name=%q baseUrl=%q", d.Key, d.Name, d.BaseURL)
	}
	if d.Authentication["type"] != "jwt" {
		t.Fatalf("authentication %v", d.Authentication)
	}
	for _, m := range []string{"signed-install", "context-qsh", "gdpr"} {
		if !d.APIMigrations[m] {
			t.Errorf("apiMigrations[%s] not true", m)
		}
	}
	for _, l := range []string{"installed", "uninstalled", "enabled", "disabled"} {
		if d.Lifecycle[l] == "" {
			t.Errorf("lifecycle %s missing", l)
		}
	}
	if strings.Join(d.Scopes, ",") != "READ" {
		t.Errorf("scopes %v: the app needs READ only", d.Scopes)
	}
	header := d.Modules["webItems"][0]
	if header["location"] != "system.top.navigation.bar" {
		t.Errorf("header item location %v", header["location"])
	}
	for _, m := range []string{"dialogs", "serviceDeskPortalFooters", "adminPages", "jiraProjectAdminTabPanels", "webhooks"} {
		if len(d.Modules[m]) == 0 {
			t.Errorf("module %s missing", m)
		}
	}
	events := map[string]bool{}
	for _, w := range d.Modules["webhooks"] {
		events[w["event"].(string)] = true
	}
	if !events["comment_created"] || !events["jira:issue_updated"] {
		t.Errorf("webhooks %v", events)
	}
}

// TestDescriptorURLsAnswer checks that every URL the descriptor names is a
// route of the server (pages answer 401 without a token, not 404).
func TestDescriptorURLsAnswer(t *testing.T) {
	env := newHarness(t)
	var d struct {
		Lifecycle map[string]string           `json:"lifecycle"`
		Modules   map[string][]map[string]any `json:"modules"`
	}
	if err := json.Unmarshal(renderedDescriptor(t), &d); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, u := range d.Lifecycle {
		urls = append(urls, "POST "+strings.TrimPrefix(u, "https://presence.example.com"))
	}
	for name, mods := range d.Modules {
		for _, m := range mods {
			u, _ := m["url"].(string)
			if target, ok := m["target"].(map[string]any); ok && u == "" {
				u, _ = target["url"].(string) // an issue context's panel
			}
			method := "GET"
			if name == "webhooks" {
				method = "POST"
			}
			urls = append(urls, method+" "+u)
			if icon, ok := m["icon"].(map[string]any); ok {
				urls = append(urls, "GET "+icon["url"].(string))
			}
		}
	}
	for _, mu := range urls {
		method, u, _ := strings.Cut(mu, " ")
		u = strings.NewReplacer("{project.key}", "HELP", "{servicedesk.serviceDeskId}", "1").Replace(u)
		if r := env.request(t, method, u, "", "{}"); r.status == http.StatusNotFound || r.status == http.StatusMethodNotAllowed {
			t.Errorf("%s %s answers %d: the descriptor points at nothing", method, u, r.status)
		}
	}
}
