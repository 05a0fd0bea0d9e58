package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// entry holds the fields of an OSV entry that the indexes need or that
// build checks. The entry files themselves are copied byte for byte.
type entry struct {
	SchemaVersion string     `json:"schema_version"`
	ID            string     `json:"id"`
	Modified      time.Time  `json:"modified"`
	Withdrawn     *time.Time `json:"withdrawn"`
	Aliases       []string   `json:"aliases"`
	Affected      []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
	} `json:"affected"`
}

type dbMeta struct {
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

// moduleVuln has no "fixed": the field is optional and only lets the client
// skip entries fixed at or below the version in use. Without it govulncheck
// reads every entry of a module and decides by the entry's own ranges, so an
// error in a version comparison here can never hide a vulnerability; the
// cost is reading a few hundred more small local files.
type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type vulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

type summary struct {
	entries, withdrawn, modules int
	modified                    time.Time
}

var idRE = regexp.MustCompile(`^GO-\d{4}-\d{4,}$`)

// build reads src/data/osv/*.json and writes the database to out.
//
// The files in data/osv are the published entries except for two fields
// that gendb fills from git history: "modified" is always the zero time and
// "published" is zero unless the report sets it. The entries are copied
// unchanged (govulncheck does not use either time to decide anything), and
// index/db.json's modified time, which govulncheck prints as the database
// date, is the commit time of the vulndb version. Withdrawn entries are kept,
// as vuln.go.dev keeps them; govulncheck skips them itself. Excluded reports
// (data/excluded) have no OSV file, so they are not in the database, as on
// vuln.go.dev.
func build(src, out, version string, minEntries int) (summary, error) {
	var s summary
	t, err := pseudoVersionTime(version)
	if err != nil {
		return s, err
	}
	s.modified = t

	files, err := filepath.Glob(filepath.Join(src, "data", "osv", "*.json"))
	if err != nil {
		return s, err
	}
	if len(files) < minEntries {
		return s, fmt.Errorf("%d OSV files in %s, expected at least %d", len(files), filepath.Join(src, "data", "osv"), minEntries)
	}
	if des, err := os.ReadDir(out); len(des) > 0 || err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("%s must be empty or absent (%d files, error %v)", out, len(des), err)
	}
	for _, d := range []string{"ID", "index"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return s, err
		}
	}

	modules := map[string]*moduleMeta{}
	var vulns []vulnMeta
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return s, err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return s, fmt.Errorf("%s: %v", f, err)
		}
		if err := validate(e, filepath.Base(f)); err != nil {
			return s, fmt.Errorf("%s: %v", f, err)
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), b, 0o644); err != nil {
			return s, err
		}
		if e.Withdrawn != nil {
			s.withdrawn++
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &moduleMeta{Path: a.Package.Name}
				modules[a.Package.Name] = m
			}
			// An entry may list a module in several "affected" items
			// (different packages or ranges); the index names it once, and
			// govulncheck checks all items of the entry.
			if n := len(m.Vulns); n == 0 || m.Vulns[n-1].ID != e.ID {
				m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
			}
		}
	}
	s.entries = len(files)
	s.modules = len(modules)

	mods := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		slices.SortFunc(m.Vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b *moduleMeta) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(vulns, func(a, b vulnMeta) int { return strings.Compare(a.ID, b.ID) })

	for name, v := range map[string]any{"db.json": dbMeta{Modified: t}, "modules.json": mods, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return s, err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name), b, 0o644); err != nil {
			return s, err
		}
	}
	return s, nil
}

// validate rejects an entry that govulncheck would misread or that suggests
// the data/osv format has changed.
func validate(e entry, file string) error {
	if !idRE.MatchString(e.ID) || file != e.ID+".json" {
		return fmt.Errorf("id %q does not match the file name", e.ID)
	}
	if !strings.HasPrefix(e.SchemaVersion, "1.") {
		return fmt.Errorf("unknown OSV schema_version %q", e.SchemaVersion)
	}
	if len(e.Affected) == 0 {
		return errors.New("no affected modules")
	}
	for _, a := range e.Affected {
		if a.Package.Name == "" || a.Package.Ecosystem != "Go" {
			return fmt.Errorf("affected package %q in ecosystem %q", a.Package.Name, a.Package.Ecosystem)
		}
	}
	return nil
}

// pseudoVersionRE matches the time field of a Go pseudo-version such as
// v0.0.0-20261105234957-e22db6528018 (golang.org/x/vulndb has no tags).
var pseudoVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+-(?:.*\.)?([0-9]{14})-[0-9a-f]{12}$`)

func pseudoVersionTime(v string) (time.Time, error) {
	m := pseudoVersionRE.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, fmt.Errorf("%q is not a pseudo-version; pass -version", v)
	}
	return time.Parse("20060102150405", m[1])
}
