// Command vulndb lets CI run govulncheck although only the Go module proxy
// is reachable, not vuln.go.dev. It has two subcommands.
//
// build writes a govulncheck database from the golang.org/x/vulndb module,
// which the proxy serves: its data/osv directory holds one OSV file per
// published report (GO-YYYY-NNNN.json). govulncheck -db file:///DIR reads a
// directory in the v1 layout of https://go.dev/security/vuln/database#api:
//
//	index/db.json       {"modified": time}
//	index/modules.json  [{"path": module, "vulns": [{"id", "modified", "fixed"}]}]
//	index/vulns.json    [{"id", "modified", "aliases"}]
//	ID/GO-YYYY-NNNN.json
//
// vulndb's own cmd/gendb writes that layout but needs a git clone (it takes
// the entries' times from the commit history) and vulndb's internal
// packages, so it cannot run from the module zip.
//
// check reads govulncheck -format json and applies the CI policy: a
// vulnerability that our code calls fails, except a standard library one
// whose fix is only in a Go release the proxy does not serve, and one on an
// allow list that has no fixed version (both are printed as warnings).
//
//	go run ./.ci/vulndb build -src VULNDB_MODULE_DIR -out DIR
//	go run ./.ci/vulndb check -allow 'GO-… GO-…' -toolchains "$(go list -m -versions golang.org/toolchain)" FILE.json
//
// Standard library only, so it adds nothing to go.mod.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "build":
		mainBuild(os.Args[2:])
	case "check":
		mainCheck(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: vulndb build -src DIR -out DIR [-version V] [-min N]\n       vulndb check [-allow IDS] -toolchains LIST FILE")
	os.Exit(2)
}

func mainBuild(args []string) {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	src := fs.String("src", "", "directory of the golang.org/x/vulndb module (holds data/osv)")
	out := fs.String("out", "", "directory to write the database to (created; must be empty if it exists)")
	version := fs.String("version", "", "version of golang.org/x/vulndb (a pseudo-version, whose time becomes the database's modified time); default: taken from the -src directory name (…/vulndb@VERSION)")
	minEntries := fs.Int("min", 1000, "fail if fewer entries are found: a sign of a wrong -src or a changed layout")
	fs.Parse(args)
	if *src == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		os.Exit(2)
	}
	v := *version
	if v == "" {
		_, v, _ = strings.Cut(filepath.Base(*src), "@")
	}
	s, err := build(*src, *out, v, *minEntries)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb build:", err)
		os.Exit(1)
	}
	fmt.Printf("vulndb %s (data as of %s): %d entries (%d withdrawn), %d modules, written to %s\n",
		v, s.modified.Format(time.RFC3339), s.entries, s.withdrawn, s.modules, *out)
}

func mainCheck(args []string) {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	allow := fs.String("allow", "", "space-separated OSV IDs accepted while they have no fixed version (the caller documents why)")
	toolchains := fs.String("toolchains", "", "output of go list -m -versions golang.org/toolchain: the Go releases the proxy serves")
	fs.Parse(args)
	if fs.NArg() != 1 || *toolchains == "" {
		fs.Usage()
		os.Exit(2)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb check:", err)
		os.Exit(2)
	}
	defer f.Close()
	pol := policy{
		allow:    map[string]bool{},
		released: servedReleases(*toolchains, runtime.GOOS+"-"+runtime.GOARCH),
	}
	for _, id := range strings.Fields(*allow) {
		pol.allow[id] = true
	}
	failed, err := check(f, os.Stdout, pol)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb check:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
