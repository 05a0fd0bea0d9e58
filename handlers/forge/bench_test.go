package forge_test

import (
	"context"
	"testing"

	"agentpresence/handlers/forge"
)

// BenchmarkVerify measures one FIT verification: cold (RS256 and claim
// checks every time, cache disabled) and cached (the SHA-256 of the token
// and a map lookup). Issue 14 needs a FIT-authenticated GET /api/v1/me at
// half a bare handler's rate or better, which only the cached path allows.
func BenchmarkVerify(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []forge.Option
	}{
		{"cold", []forge.Option{forge.WithCacheSize(0)}},
		{"cached", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, bc.opts...)
			tok := f.fit(b, agent)
			ctx := context.Background()
			if _, err := f.verifier.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := f.verifier.Verify(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
