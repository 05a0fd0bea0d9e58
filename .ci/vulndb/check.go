package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/version"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// The part of govulncheck's JSON output (golang.org/x/vuln/internal/govulncheck,
// protocol v1.0.0) that check reads: a stream of messages, each with one field.
type message struct {
	Config *struct {
		DB             string     `json:"db"`
		DBLastModified *time.Time `json:"db_last_modified"`
		GoVersion      string     `json:"go_version"`
		ScanLevel      string     `json:"scan_level"`
	} `json:"config"`
	SBOM *struct {
		Modules []struct {
			Path    string `json:"path"`
			Version string `json:"version"`
		} `json:"modules"`
	} `json:"SBOM"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

// A frame of a finding's trace. Trace[0] is the vulnerable module, package
// or function; with a function, the later frames lead back to our code.
type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
		Column   int    `json:"column"`
	} `json:"position"`
}

func (f frame) name() string {
	if f.Receiver != "" {
		return fmt.Sprintf("%s.%s.%s", f.Package, strings.TrimPrefix(f.Receiver, "*"), f.Function)
	}
	return f.Package + "." + f.Function
}

type policy struct {
	// allow holds IDs accepted while they have no fixed version.
	allow map[string]bool
	// released holds the Go releases (go1.N.M) the module proxy serves as
	// golang.org/toolchain for this platform.
	released []string
}

// A vulnerability of one module, with govulncheck's findings merged.
type vuln struct {
	id, module, version, fixed string
	called                     bool
	trace                      []frame // the shortest trace that reaches a vulnerable function
}

// check prints a verdict for each vulnerability in govulncheck's JSON
// output r and reports whether CI must fail.
//
// Only vulnerable functions that our code calls count, as in govulncheck's
// own exit status; the others (an imported package or a required module is
// affected, but not through anything we call) are listed as notes. A counted
// one fails, except:
//   - in the standard library (module "stdlib" or "toolchain"), when no Go
//     release the proxy serves has the fix: nothing in the repository can
//     fix it, so it is a warning;
//   - when its ID is in pol.allow and it has no fixed version. Once a fix
//     exists the finding fails again, so that the allow list cannot hide
//     an upgrade.
func check(r io.Reader, w io.Writer, pol policy) (failed bool, err error) {
	dec := json.NewDecoder(r)
	var cfg *message
	mainModules := map[string]bool{}
	summaries := map[string]string{}
	vulns := map[[2]string]*vuln{}
	var order [][2]string
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return false, fmt.Errorf("reading govulncheck JSON: %v", err)
		}
		switch {
		case m.Config != nil:
			cfg = &m
		case m.SBOM != nil:
			for _, mod := range m.SBOM.Modules {
				if mod.Version == "" {
					mainModules[mod.Path] = true
				}
			}
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			t := f.Trace[0]
			k := [2]string{f.OSV, t.Module}
			v := vulns[k]
			if v == nil {
				v = &vuln{id: f.OSV, module: t.Module, version: t.Version}
				vulns[k] = v
				order = append(order, k)
			}
			if f.FixedVersion != "" {
				v.fixed = f.FixedVersion
			}
			// Of the traces to vulnerable functions, keep the shortest,
			// which is the easiest to read (govulncheck's order varies).
			if t.Function != "" && (!v.called || shorter(f.Trace, v.trace)) {
				v.called, v.trace = true, f.Trace
			}
		}
	}
	if cfg == nil {
		return false, errors.New("no config message: not govulncheck -format json output")
	}
	c := cfg.Config
	if c.ScanLevel != "symbol" {
		return false, fmt.Errorf("scan level %q: the policy needs -scan symbol (the default)", c.ScanLevel)
	}
	dbDate := "unknown"
	if c.DBLastModified != nil {
		dbDate = c.DBLastModified.UTC().Format(time.DateOnly)
	}
	fmt.Fprintf(w, "govulncheck: %s, database %s of %s\n", c.GoVersion, c.DB, dbDate)

	slices.SortFunc(order, func(a, b [2]string) int { return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1]) })
	var notes []string
	counts := map[string]int{}
	for _, k := range order {
		v := vulns[k]
		if !v.called {
			notes = append(notes, fmt.Sprintf("  %s %s, fixed in %s", v.id, v.where(), v.fixedName()))
			continue
		}
		verdict, why := pol.judge(v)
		counts[verdict]++
		failed = failed || verdict == "FAIL"
		fmt.Fprintf(w, "%s %s %s: %s\n", verdict, v.id, v.where(), summaries[v.id])
		fmt.Fprintf(w, "     %s\n", why)
		if call := v.callSite(mainModules); call != "" {
			fmt.Fprintf(w, "     e.g. %s\n", call)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "not called by our code (%d, not counted):\n%s\n", len(notes), strings.Join(notes, "\n"))
	}
	allowed := slices.Sorted(maps.Keys(pol.allow))
	for _, id := range allowed {
		if !slices.ContainsFunc(order, func(k [2]string) bool { return k[0] == id && vulns[k].called }) {
			fmt.Fprintf(w, "note: allowed %s is no longer reported as called; remove it from the allow list\n", id)
		}
	}
	fmt.Fprintf(w, "govulncheck policy: %d fail, %d warn, %d allowed, %d not called\n",
		counts["FAIL"], counts["WARN"], counts["ALLOW"], len(notes))
	return failed, nil
}

// judge returns FAIL, WARN or ALLOW and the reason.
func (p policy) judge(v *vuln) (verdict, why string) {
	if v.stdlib() {
		if v.fixed == "" {
			return "WARN", "no fixed Go release yet"
		}
		fix := goRelease(v.fixed)
		if has := p.releaseWith(fix); has != "" {
			return "FAIL", fmt.Sprintf("fixed in %s; the module proxy serves %s (golang.org/toolchain): upgrade Go", fix, has)
		}
		return "WARN", fmt.Sprintf("fixed in %s, which the module proxy does not serve yet", fix)
	}
	if p.allow[v.id] {
		if v.fixed == "" {
			return "ALLOW", "on the allow list of .ci/test-all; no fixed version"
		}
		return "FAIL", fmt.Sprintf("on the allow list, but fixed in %s now: upgrade and drop it from the list", v.fixed)
	}
	if v.fixed == "" {
		return "FAIL", "no fixed version: replace the module, or allow the ID in .ci/test-all with the reason it does not affect us"
	}
	return "FAIL", fmt.Sprintf("fixed in %s@%s: go get it", v.module, v.fixed)
}

// releaseWith returns the oldest served Go release at or after fix, or "".
func (p policy) releaseWith(fix string) string {
	best := ""
	for _, r := range p.released {
		if version.Compare(r, fix) >= 0 && (best == "" || version.Compare(r, best) < 0) {
			best = r
		}
	}
	return best
}

// shorter orders traces by length, then by their frames' names.
func shorter(a, b []frame) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	for i := range a {
		if na, nb := a[i].name(), b[i].name(); na != nb {
			return na < nb
		}
	}
	return false
}

// stdlib reports whether the vulnerability is in Go itself, which
// govulncheck names as module "stdlib" or "toolchain".
func (v *vuln) stdlib() bool { return v.module == "stdlib" || v.module == "toolchain" }

func (v *vuln) where() string {
	if v.stdlib() {
		return "in the standard library of " + goRelease(v.version)
	}
	return "in " + v.module + "@" + v.version
}

// callSite describes the call from our code that leads to the vulnerable
// function, like govulncheck's compact traces: "file:line: our.F calls vuln.G".
func (v *vuln) callSite(mainModules map[string]bool) string {
	for i := 1; i < len(v.trace); i++ {
		f := v.trace[i]
		if !mainModules[f.Module] {
			continue
		}
		pos := ""
		if f.Position != nil {
			pos = fmt.Sprintf("%s:%d: ", f.Position.Filename, f.Position.Line)
		}
		callee := v.trace[i-1].name()
		if i > 1 {
			callee += ", which eventually calls " + v.trace[0].name()
		}
		return pos + f.name() + " calls " + callee
	}
	return ""
}

// goRelease turns govulncheck's semver form of a Go version (v1.26.9,
// v1.27.0-rc.1) into the Go form (go1.26.9, go1.27rc1).
func goRelease(v string) string {
	v = strings.TrimPrefix(v, "v")
	if base, pre, ok := strings.Cut(v, "-"); ok {
		return "go" + strings.TrimSuffix(base, ".0") + strings.ReplaceAll(pre, ".", "")
	}
	return "go" + v
}

// servedReleases picks the Go releases for platform (e.g. linux-amd64) out
// of go list -m -versions golang.org/toolchain, whose versions look like
// v0.0.1-go1.26.9.linux-amd64. Release candidates and betas are left out:
// they are no fix to ship.
func servedReleases(list, platform string) []string {
	var out []string
	for _, f := range strings.Fields(list) {
		g, ok := strings.CutPrefix(f, "v0.0.1-")
		if !ok {
			continue
		}
		g, ok = strings.CutSuffix(g, "."+platform)
		if !ok || !version.IsValid(g) || strings.Contains(g, "rc") || strings.Contains(g, "beta") {
			continue
		}
		out = append(out, g)
	}
	return out
}

func (v *vuln) fixedName() string {
	switch {
	case v.fixed == "":
		return "none"
	case v.stdlib():
		return goRelease(v.fixed)
	}
	return v.fixed
}
