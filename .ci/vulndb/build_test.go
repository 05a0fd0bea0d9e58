package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two entries shaped like vulndb's data/osv: zero "modified", one module
// named twice in "affected", one entry withdrawn.
const (
	entryA = `{
  "schema_version": "1.3.1",
  "id": "GO-2024-0001",
  "modified": "0001-01-01T00:00:00Z",
  "published": "0001-01-01T00:00:00Z",
  "aliases": ["CVE-2024-1"],
  "summary": "a",
  "affected": [
    {"package": {"name": "example.com/b", "ecosystem": "Go"},
     "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]},
    {"package": {"name": "stdlib", "ecosystem": "Go"},
     "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.26.9"}]}]},
    {"package": {"name": "stdlib", "ecosystem": "Go"},
     "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.27.0-0"}, {"fixed": "1.27.1"}]}]}
  ]
}`
	entryB = `{
  "schema_version": "1.3.1",
  "id": "GO-2024-0002",
  "modified": "0001-01-01T00:00:00Z",
  "published": "2021-04-14T20:04:52Z",
  "withdrawn": "2024-08-21T16:25:56Z",
  "summary": "b",
  "affected": [
    {"package": {"name": "example.com/b", "ecosystem": "Go"},
     "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}
  ]
}`
	testVersion = "v0.0.0-20261105234957-e22db6528018"
)

func writeSrc(t *testing.T, files map[string]string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "vulndb@"+testVersion)
	if err := os.MkdirAll(filepath.Join(src, "data", "osv"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(src, "data", "osv", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

func TestBuild(t *testing.T) {
	src := writeSrc(t, map[string]string{"GO-2024-0001.json": entryA, "GO-2024-0002.json": entryB})
	out := filepath.Join(t.TempDir(), "db")
	s, err := build(src, out, testVersion, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	if s.entries != 2 || s.withdrawn != 1 || s.modules != 2 || !s.modified.Equal(want) {
		t.Errorf("summary = %+v", s)
	}

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("ID/GO-2024-0001.json"); got != entryA {
		t.Errorf("entry not copied byte for byte:\n%s", got)
	}
	if got := read("index/db.json"); got != `{"modified":"2026-11-05T23:49:57Z"}` {
		t.Errorf("db.json = %s", got)
	}
	// The module named twice in one entry is indexed once; modules and
	// vulns are sorted; no "fixed" (see moduleVuln).
	z := `"modified":"0001-01-01T00:00:00Z"`
	wantModules := `[{"path":"example.com/b","vulns":[{"id":"GO-2024-0001",` + z + `},{"id":"GO-2024-0002",` + z + `}]},` +
		`{"path":"stdlib","vulns":[{"id":"GO-2024-0001",` + z + `}]}]`
	if got := read("index/modules.json"); got != wantModules {
		t.Errorf("modules.json =\n%s\nwant\n%s", got, wantModules)
	}
	wantVulns := `[{"id":"GO-2024-0001",` + z + `,"aliases":["CVE-2024-1"]},{"id":"GO-2024-0002",` + z + `}]`
	if got := read("index/vulns.json"); got != wantVulns {
		t.Errorf("vulns.json =\n%s\nwant\n%s", got, wantVulns)
	}
	var v []map[string]any
	if err := json.Unmarshal([]byte(read("index/vulns.json")), &v); err != nil || len(v) != 2 {
		t.Errorf("vulns.json does not parse as two entries: %v", err)
	}

	if _, err := build(src, out, testVersion, 2); err == nil || !strings.Contains(err.Error(), "must be empty") {
		t.Errorf("second build into the same directory: err = %v, want refusal", err)
	}
}

func TestBuildRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		files   map[string]string
		version string
		min     int
		want    string
	}{
		"too few":           {map[string]string{"GO-2024-0001.json": entryA}, testVersion, 2, "expected at least 2"},
		"not JSON":          {map[string]string{"GO-2024-0001.json": "{"}, testVersion, 1, "unexpected end"},
		"id and file":       {map[string]string{"GO-2024-0003.json": entryA}, testVersion, 1, "does not match the file name"},
		"other ecosystem":   {map[string]string{"GO-2024-0001.json": strings.Replace(entryA, `"ecosystem": "Go"`, `"ecosystem": "npm"`, 1)}, testVersion, 1, "ecosystem"},
		"no affected":       {map[string]string{"GO-2024-0001.json": `{"schema_version": "1.3.1", "id": "GO-2024-0001"}`}, testVersion, 1, "no affected"},
		"schema 2":          {map[string]string{"GO-2024-0001.json": strings.Replace(entryA, `"1.3.1"`, `"2.0.0"`, 1)}, testVersion, 1, "schema_version"},
		"tag, not a pseudo": {map[string]string{"GO-2024-0001.json": entryA}, "v1.0.0", 1, "not a pseudo-version"},
	} {
		t.Run(name, func(t *testing.T) {
			src := writeSrc(t, tc.files)
			_, err := build(src, filepath.Join(t.TempDir(), "db"), tc.version, tc.min)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPseudoVersionTime(t *testing.T) {
	for v, want := range map[string]string{
		"v0.0.0-20261105234957-e22db6528018":       "2026-11-05T23:49:57Z",
		"v1.2.4-0.20250101000000-abcdefabcdef":     "2025-01-01T00:00:00Z",
		"v1.2.3-pre.0.20250102030405-abcdefabcdef": "2025-01-02T03:04:05Z",
	} {
		got, err := pseudoVersionTime(v)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("pseudoVersionTime(%s) = %v, %v; want %s", v, got, err, want)
		}
	}
}
