package handlers_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"agentpresence/handlers/forge/forgetest"
	"agentpresence/models/dbtest"
)

// BenchmarkMeFIT is BenchmarkMe with Forge Invocation Tokens instead of
// Connect JWTs: 256 distinct FITs of one installation, as requestRemote
// polls send them. Each is verified once (RS256) and then answered from the
// verifier's cache by the token's digest until it expires; the answer
// carries an ETag (Forge pages poll). Issue 14's goal: at least half the
// bare echo handler's rate (BenchmarkCeiling).
func BenchmarkMeFIT(b *testing.B) {
	for _, dialect := range dbtest.Dialects(b) {
		b.Run(string(dialect), func(b *testing.B) {
			env := newForgeHarness(b, on(dialect), logsAt(slog.LevelInfo))
			_, inst := env.newForgeSite(b)
			env.installForge(b, inst)
			if r := env.invoke(b, inst, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
				b.Fatalf("setup: %d %s", r.status, r.body)
			}
			tokens := make([]string, 256)
			for i := range tokens {
				tok, err := env.platform.FIT(inst, forgetest.Invocation{Principal: "alice"})
				if err != nil {
					b.Fatal(err)
				}
				tokens[i] = tok
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, "/api/v1/me?project=HELP", nil)
					req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
					i++
					rec := httptest.NewRecorder()
					env.server.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d %s", rec.Code, rec.Body)
					}
				}
			})
		})
	}
}
