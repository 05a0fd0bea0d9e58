package handlers_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// The benchmarks run the real router in process (no network), so the
// figures are the service's own cost per request. BenchmarkCeiling is a
// bare echo handler returning a constant: the ratio to it is what the
// performance goals speak of.

func BenchmarkCeiling(b *testing.B) {
	e := echo.New()
	e.GET("/const", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, []byte(`{"online":true}`)) })
	req := httptest.NewRequest(http.MethodGet, "/const", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
		}
	})
}

// BenchmarkPublicStatus measures the status answer without a language and
// with a browser's Accept-Language (the language chosen among the
// precomputed answers), each as a 200 and as a 304.
func BenchmarkPublicStatus(b *testing.B) {
	for _, lang := range []string{"", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7"} {
		for _, conditional := range []bool{false, true} {
			b.Run(fmt.Sprintf("lang=%v/if-none-match=%v", lang != "", conditional), func(b *testing.B) {
				benchPublicStatus(b, lang, conditional)
			})
		}
	}
}

func benchPublicStatus(b *testing.B, lang string, conditional bool) {
	env := newBenchEnv(b)
	wid := env.widget
	etag := env.call(b, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", "", "Accept-Language", lang).header.Get("ETag")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/public/v1/widgets/"+wid+"/status", nil)
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		if conditional {
			req.Header.Set("If-None-Match", etag)
		}
		for pb.Next() {
			rec := httptest.NewRecorder()
			env.server.ServeHTTP(rec, req)
			if conditional && rec.Code != http.StatusNotModified || !conditional && rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

func BenchmarkMe(b *testing.B) {
	for _, dialect := range dbtest.Dialects(b) {
		b.Run(string(dialect), func(b *testing.B) {
			env := newBenchEnvOn(b, dialect)
			// Distinct, valid tokens of one tenant, made before the clock starts.
			tokens := make([]string, 256)
			for i := range tokens {
				tokens[i] = env.site.ContextToken("alice")
			}
			benchGetMe(b, env.server, "JWT ", tokens)
		})
	}
}

// benchGetMe measures GET /api/v1/me on server in parallel, each request
// with the next of tokens in the Authorization scheme given ("JWT ",
// "Bearer "); any answer but 200 fails the benchmark.
func benchGetMe(b *testing.B, server http.Handler, scheme string, tokens []string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/me?project=HELP", nil)
			req.Header.Set("Authorization", scheme+tokens[i%len(tokens)])
			i++
			rec := httptest.NewRecorder()
			server.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d %s", rec.Code, rec.Body)
			}
		}
	})
}

// benchEnv is a served harness with one installed site and alice online
// in HELP.
type benchEnv struct {
	*harness
	site   *jiratest.Site
	widget string
	etag   string
}

func newBenchEnv(b *testing.B) *benchEnv { return newBenchEnvOn(b, models.DialectSQLite) }

func newBenchEnvOn(b *testing.B, dialect models.Dialect) *benchEnv {
	env := newHarness(b, on(dialect), served(), logsAt(slog.LevelInfo))
	site := env.newSite(b)
	tn := env.install(b, site)
	must(b, env.call(b, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`))
	wid := env.widgetOf(b, tn.ID, "HELP")
	r := must(b, env.call(b, nil, "", "GET", "/public/v1/widgets/"+wid+"/status", ""))
	return &benchEnv{harness: env, site: site, widget: wid, etag: r.header.Get("ETag")}
}
