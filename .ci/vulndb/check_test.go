package main

import (
	"slices"
	"strings"
	"testing"
)

// A govulncheck -format json stream in the shape of v1.9.0's output.
const (
	header = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck","scanner_version":"v1.9.0","db":"file:///tmp/db","db_last_modified":"2026-11-05T23:49:57Z","go_version":"go1.26.8","scan_level":"symbol","scan_mode":"source"}}
{"SBOM":{"go_version":"go1.26.8","modules":[{"path":"agentpresence"},{"path":"example.com/dep","version":"v1.0.0"}]}}
{"progress":{"message":"Checking the code against the vulnerabilities..."}}
`
	// GO-2026-0001: stdlib, fixed in a served release, called.
	stdlibServed = `{"osv":{"id":"GO-2026-0001","summary":"net/http thing"}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8"}]}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http"}]}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Serve","receiver":"*Server"},{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"ListenAndServe","receiver":"*Server"},{"module":"agentpresence","package":"agentpresence/app","function":"Start","position":{"filename":"app/app.go","line":192,"column":27}}]}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Get"},{"module":"agentpresence","package":"agentpresence/bench","function":"Start","position":{"filename":"bench/proc.go","line":111,"column":24}}]}}
`
	// GO-2026-0002: stdlib, fixed only in a release the proxy lacks.
	stdlibUnserved = `{"osv":{"id":"GO-2026-0002","summary":"crypto thing"}}
{"finding":{"osv":"GO-2026-0002","fixed_version":"v1.26.12","trace":[{"module":"stdlib","version":"v1.26.8","package":"crypto/x509","function":"Verify","receiver":"*Certificate"},{"module":"agentpresence","package":"agentpresence","function":"main"}]}}
`
	// GO-2026-0003: a dependency, called, fixed in v1.0.1.
	depFixed = `{"osv":{"id":"GO-2026-0003","summary":"dep thing"}}
{"finding":{"osv":"GO-2026-0003","fixed_version":"v1.0.1","trace":[{"module":"example.com/dep","version":"v1.0.0","package":"example.com/dep","function":"F"},{"module":"agentpresence","package":"agentpresence","function":"main"}]}}
`
	// GO-2026-0004: a dependency, called, no fix.
	depUnfixed = `{"osv":{"id":"GO-2026-0004","summary":"dep thing without fix"}}
{"finding":{"osv":"GO-2026-0004","trace":[{"module":"example.com/dep","version":"v1.0.0","package":"example.com/dep","function":"G"},{"module":"agentpresence","package":"agentpresence","function":"main"}]}}
`
	// GO-2026-0005: a dependency, package imported but nothing called.
	depNotCalled = `{"osv":{"id":"GO-2026-0005","summary":"dep thing not called"}}
{"finding":{"osv":"GO-2026-0005","fixed_version":"v1.0.2","trace":[{"module":"example.com/dep","version":"v1.0.0","package":"example.com/dep"}]}}
`
	toolchains = "golang.org/toolchain v0.0.1-go1.26.8.linux-amd64 v0.0.1-go1.26.10.darwin-arm64 v0.0.1-go1.26.11.linux-amd64 v0.0.1-go1.26.11.windows-amd64 v0.0.1-go1.27rc1.linux-amd64"
)

func runCheck(t *testing.T, input string, allow ...string) (bool, string) {
	t.Helper()
	pol := policy{allow: map[string]bool{}, released: servedReleases(toolchains, "linux-amd64")}
	for _, id := range allow {
		pol.allow[id] = true
	}
	var out strings.Builder
	failed, err := check(strings.NewReader(input), &out, pol)
	if err != nil {
		t.Fatal(err)
	}
	return failed, out.String()
}

func TestCheck(t *testing.T) {
	for name, tc := range map[string]struct {
		input      string
		allow      []string
		wantFailed bool
		want       []string
	}{
		"stdlib fix served": {header + stdlibServed, nil, true, []string{
			"govulncheck: go1.26.8, database file:///tmp/db of 2026-11-05",
			"FAIL GO-2026-0001 in the standard library of go1.26.8: net/http thing",
			"fixed in go1.26.9; the module proxy serves go1.26.11 (golang.org/toolchain): upgrade Go",
			// the shorter of the two traces
			"e.g. bench/proc.go:111: agentpresence/bench.Start calls net/http.Get",
			"1 fail, 0 warn, 0 allowed, 0 not called",
		}},
		"stdlib fix not served": {header + stdlibUnserved, nil, false, []string{
			"WARN GO-2026-0002 in the standard library of go1.26.8: crypto thing",
			"fixed in go1.26.12, which the module proxy does not serve yet",
		}},
		"dependency with fix": {header + depFixed, nil, true, []string{
			"FAIL GO-2026-0003 in example.com/dep@v1.0.0: dep thing",
			"fixed in example.com/dep@v1.0.1: go get it",
		}},
		"dependency without fix": {header + depUnfixed, nil, true, []string{
			"FAIL GO-2026-0004 in example.com/dep@v1.0.0",
			"no fixed version: replace the module, or allow the ID",
		}},
		"allowed without fix": {header + depUnfixed, []string{"GO-2026-0004"}, false, []string{
			"ALLOW GO-2026-0004 in example.com/dep@v1.0.0",
			"0 fail, 0 warn, 1 allowed, 0 not called",
		}},
		"allowed but fixed now": {header + depFixed, []string{"GO-2026-0003"}, true, []string{
			"FAIL GO-2026-0003",
			"on the allow list, but fixed in v1.0.1 now",
		}},
		"allowed but gone": {header, []string{"GO-2026-0009"}, false, []string{
			"note: allowed GO-2026-0009 is no longer reported as called",
		}},
		"not called": {header + depNotCalled, nil, false, []string{
			"not called by our code (1, not counted):\n  GO-2026-0005 in example.com/dep@v1.0.0, fixed in v1.0.2",
		}},
		"all": {header + stdlibServed + stdlibUnserved + depFixed + depUnfixed + depNotCalled, []string{"GO-2026-0004"}, true, []string{
			"2 fail, 1 warn, 1 allowed, 1 not called",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			failed, out := runCheck(t, tc.input, tc.allow...)
			if failed != tc.wantFailed {
				t.Errorf("failed = %v, want %v", failed, tc.wantFailed)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCheckRejectsOtherInput(t *testing.T) {
	pol := policy{allow: map[string]bool{}}
	for name, input := range map[string]string{
		"empty":        "",
		"text output":  "=== Symbol Results ===\n",
		"module level": strings.Replace(header, `"scan_level":"symbol"`, `"scan_level":"module"`, 1),
	} {
		if _, err := check(strings.NewReader(input), new(strings.Builder), pol); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestServedReleases(t *testing.T) {
	got := servedReleases(toolchains, "linux-amd64")
	if want := []string{"go1.26.8", "go1.26.11"}; !slices.Equal(got, want) {
		t.Errorf("servedReleases = %v, want %v", got, want)
	}
}

func TestGoRelease(t *testing.T) {
	for in, want := range map[string]string{"v1.26.9": "go1.26.9", "v1.27.0": "go1.27.0", "v1.27.0-rc.1": "go1.27rc1"} {
		if got := goRelease(in); got != want {
			t.Errorf("goRelease(%s) = %s, want %s", in, got, want)
		}
	}
}
