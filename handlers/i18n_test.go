package handlers

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"agentpresence/models"
)

// catalogEntry is one message of a catalog: a string, or plural forms.
type catalogEntry struct {
	forms map[string]string // "" for a plain string
}

func (e catalogEntry) texts() []string {
	out := make([]string, 0, len(e.forms))
	for _, t := range e.forms {
		out = append(out, t)
	}
	return out
}

func readCatalog(t *testing.T, file string) map[string]catalogEntry {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := make(map[string]catalogEntry, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = catalogEntry{forms: map[string]string{"": s}}
			continue
		}
		var forms map[string]string
		if err := json.Unmarshal(v, &forms); err != nil {
			t.Fatalf("%s: %s is neither text nor plural forms", file, k)
		}
		out[k] = catalogEntry{forms: forms}
	}
	return out
}

// placeholders lists the names a message's texts fill in, sorted.
func placeholders(re *regexp.Regexp, e catalogEntry) []string {
	seen := map[string]bool{}
	for _, t := range e.texts() {
		for _, m := range re.FindAllStringSubmatch(t, -1) {
			seen[m[1]] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pluralForms are the CLDR categories each language's plural messages
// must give (Intl.PluralRules picks among them); "other" is always one.
var pluralForms = map[string][]string{
	"en": {"one", "other"}, "de": {"one", "other"}, "fr": {"one", "other"}, "es": {"one", "other"},
	"pl": {"one", "few", "many", "other"}, "pt-BR": {"one", "other"}, "ja": {"other"},
}

// TestCatalogsAreComplete: the server's catalogs (handlers/i18n) and the
// pages' (static/i18n) have, in every language, exactly the keys of the
// English one, each non-empty, of the same shape (text or plural forms,
// with the forms the language needs) and filling in the same values.
func TestCatalogsAreComplete(t *testing.T) {
	for _, set := range []struct {
		dir         string
		placeholder *regexp.Regexp
	}{
		{"i18n", regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)},
		{filepath.Join("..", "static", "i18n"), regexp.MustCompile(`\{(\w+)\}`)},
	} {
		files, err := filepath.Glob(filepath.Join(set.dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		var langs []string
		for _, f := range files {
			langs = append(langs, strings.TrimSuffix(filepath.Base(f), ".json"))
		}
		if want := Locales(); !slices.Equal(sorted(langs), sorted(want)) {
			t.Fatalf("%s: catalogs %v, want one per language %v", set.dir, langs, want)
		}
		en := readCatalog(t, filepath.Join(set.dir, "en.json"))
		if len(en) < 10 {
			t.Fatalf("%s: the English catalog has %d keys: the test would prove nothing", set.dir, len(en))
		}
		for _, lang := range langs {
			cat := readCatalog(t, filepath.Join(set.dir, lang+".json"))
			for k, e := range en {
				got, ok := cat[k]
				if !ok {
					t.Errorf("%s/%s.json lacks %q", set.dir, lang, k)
					continue
				}
				_, plainEN := e.forms[""]
				_, plain := got.forms[""]
				if plain != plainEN {
					t.Errorf("%s/%s.json: %q is text in one language and plural forms in the other", set.dir, lang, k)
					continue
				}
				if !plain {
					for _, f := range pluralForms[lang] {
						if got.forms[f] == "" {
							t.Errorf("%s/%s.json: %q lacks the plural form %q", set.dir, lang, k, f)
						}
					}
				}
				for _, text := range got.texts() {
					if strings.TrimSpace(text) == "" {
						t.Errorf("%s/%s.json: %q is empty", set.dir, lang, k)
					}
				}
				if a, b := placeholders(set.placeholder, e), placeholders(set.placeholder, got); !slices.Equal(a, b) {
					t.Errorf("%s/%s.json: %q fills in %v, English %v", set.dir, lang, k, b, a)
				}
			}
			for k := range cat {
				if _, ok := en[k]; !ok {
					t.Errorf("%s/%s.json has %q, which English has not", set.dir, lang, k)
				}
			}
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// TestMessageIDsInCodeAreInTheCatalog: every message id the handlers name
// ("field.…", "problem.…") and every code of a schedule's validation
// errors ("schedule.<code>") is in the English catalog, so that no answer
// falls back to its bare id.
func TestMessageIDsInCodeAreInTheCatalog(t *testing.T) {
	en := readCatalog(t, filepath.Join("i18n", "en.json"))
	ids := regexp.MustCompile(`"((?:error|field|problem|forbidden|json|widget)\.[a-z_]+)"`)
	codes := regexp.MustCompile(`Code:\s+"([a-z_]+)"`)
	found := 0
	check := func(pattern string, re *regexp.Regexp, prefix string) {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				found++
				if _, ok := en[prefix+m[1]]; !ok {
					t.Errorf("%s names %q, which the catalog lacks", f, prefix+m[1])
				}
			}
		}
	}
	check("*.go", ids, "")
	check(filepath.Join("..", "models", "schedule", "*.go"), codes, "schedule.")
	if found < 40 {
		t.Fatalf("found %d message ids in the code: the test would prove nothing", found)
	}
	// The pages' keys: t('…') in the scripts, data-i18n in the pages.
	pages := readCatalog(t, filepath.Join("..", "static", "i18n", "en.json"))
	en, found = pages, 0
	check(filepath.Join("..", "static", "js", "*.js"), regexp.MustCompile(`\bt\('([a-z]+\.[A-Za-z_]+)'`), "")
	check(filepath.Join("..", "static", "pages", "*.html"), regexp.MustCompile(`data-i18n="([^"]+)"`), "")
	check(filepath.Join("..", "static", "pages", "*.html"), regexp.MustCompile(`data-i18n-attr="[^"]*?:([^";]+)`), "")
	if found < 150 {
		t.Fatalf("found %d keys in the pages: the test would prove nothing", found)
	}
}

// TestBuiltInMessages: the English catalog and the models' defaults say
// the same.
func TestBuiltInMessages(t *testing.T) {
	m := mustMessages(time.Now)
	for id, want := range map[string]string{"widget.unavailable": models.DefaultUnavailableMessage, "widget.online": models.OnlineMessage} {
		if got, _ := m.Text(English, id, nil); got != want {
			t.Errorf("catalog %s %q, models %q", id, got, want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	m := mustMessages(time.Now)
	for _, tt := range []struct {
		given  string
		expect Locale
	}{
		{"", English},
		{"de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", German},
		{"fr-CA", French},
		{"es-419,es;q=0.9", Spanish},
		{"pl", Polish},
		{"pt-BR", PortugueseBR},
		{"pt", PortugueseBR},
		{"ja-JP", Japanese},
		{"en-GB", English},
		{"zh-CN,zh;q=0.9", English},
		{"*", English},
		{"en;q=0.1, de;q=0.9", German},
		{"de;q=0", English},
		{"xx-invalid-tag-!!", English},
		{"de\x00", English},
		{"de,\r\nX-Injected: 1", English},
		{strings.Repeat("de,", 100), English}, // over the bound: not parsed
	} {
		if got := m.Negotiate(tt.given); got != tt.expect {
			t.Errorf("Negotiate(%q) = %v, want %v", tt.given, got, tt.expect)
		}
	}
	for _, tt := range []struct {
		given  string
		expect Locale
	}{
		{"en_GB", English}, {"de_DE", German}, {"pt_BR", PortugueseBR}, {"ja", Japanese}, {"sv-SE", English},
		{"de;q=1", English}, {"", English}, {strings.Repeat("d", 40), English},
	} {
		if got := m.Tag(tt.given); got != tt.expect {
			t.Errorf("Tag(%q) = %v, want %v", tt.given, got, tt.expect)
		}
	}
}

// TestNegotiateIsBounded: a flood of distinct Accept-Language values keeps
// at most maxNegotiated of them.
func TestNegotiateIsBounded(t *testing.T) {
	m := mustMessages(time.Now)
	for i := range 3 * maxNegotiated {
		m.Negotiate(fmt.Sprintf("de-x-%d", i))
	}
	if n := m.negotiated.Len(); n > maxNegotiated {
		t.Fatalf("%d values kept, bound %d", n, maxNegotiated)
	}
}

// BenchmarkNegotiate: what choosing the language adds to a public status
// answer, with the values customers' browsers repeat.
func BenchmarkNegotiate(b *testing.B) {
	m := mustMessages(time.Now)
	values := []string{"de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "en-US,en;q=0.9", "ja", "fr-FR,fr;q=0.9"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Negotiate(values[i%len(values)])
	}
}
