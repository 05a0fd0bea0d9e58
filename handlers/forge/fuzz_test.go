package forge_test

import (
	"context"
	"strings"
	"testing"

	"agentpresence/handlers/forge"
)

// FuzzVerify feeds the verifier mutations of a valid FIT: none may panic,
// and only the valid token itself may verify (a forged one would need
// the platform's private key).
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	valid := fx.fit(f, agent)
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add(strings.Repeat("a.", 10))
	ctx := context.Background()
	if _, err := fx.verifier.Verify(ctx, valid); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		inv, err := fx.verifier.Verify(ctx, tok)
		if tok == valid {
			if err != nil {
				t.Fatalf("the valid token: %v", err)
			}
			return
		}
		if err == nil || inv != nil {
			t.Fatalf("a mutated token verified: %q", tok)
		}
		if forge.Reason(err) == "" {
			t.Fatalf("no reason for %v", err)
		}
	})
}
