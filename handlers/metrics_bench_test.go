package handlers_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"agentpresence/handlers"
)

// BenchmarkPublicStatusMetrics is BenchmarkPublicStatus (200) with the
// request metrics off and on: the difference is what observing a request
// costs on the hottest route (a route lookup and two atomic updates, no
// allocation).
func BenchmarkPublicStatusMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "metrics=off"
		if on {
			name = "metrics=on"
		}
		b.Run(name, func(b *testing.B) {
			opts := []option{served(), logsAt(slog.LevelInfo)}
			if on {
				opts = append(opts, withDeps(func(d *handlers.Deps) { d.Metrics = handlers.NewHTTPMetrics(prometheus.NewRegistry()) }))
			}
			env := newHarness(b, opts...)
			site := env.newSite(b)
			tn := env.install(b, site)
			must(b, env.call(b, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`))
			wid := env.widgetOf(b, tn.ID, "HELP")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/public/v1/widgets/"+wid+"/status", nil)
				for pb.Next() {
					rec := httptest.NewRecorder()
					env.server.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		})
	}
}
