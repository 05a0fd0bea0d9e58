package handlers_test

import (
	"log/slog"
	"net/http"
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
			benchGetMe(b, env.server, "Bearer ", tokens)
		})
	}
}
