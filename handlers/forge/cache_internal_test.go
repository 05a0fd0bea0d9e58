package forge

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// TestTokenCacheIsBounded: the cache never holds more than its size, and
// the oldest entries go first.
func TestTokenCacheIsBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	c := newTokenCache(3)
	digest := func(i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "token-%d", i)) }
	for i := range 10 {
		c.put(digest(i), &Invocation{TokenID: fmt.Sprint(i)}, now.Add(time.Minute))
		if len(c.entries) > 3 {
			t.Fatalf("after %d puts the cache holds %d entries", i+1, len(c.entries))
		}
	}
	for i := range 7 {
		if _, ok := c.get(digest(i), now); ok {
			t.Fatalf("entry %d survived eviction", i)
		}
	}
	for i := 7; i < 10; i++ {
		if inv, ok := c.get(digest(i), now); !ok || inv.TokenID != fmt.Sprint(i) {
			t.Fatalf("entry %d missing", i)
		}
	}
	if _, ok := c.get(digest(9), now.Add(time.Minute)); ok {
		t.Fatal("an entry was reused at its end")
	}
	if len(c.order) > 4*3+3 {
		t.Fatalf("order slice grew to %d", len(c.order))
	}
	off := newTokenCache(0)
	off.put(digest(1), &Invocation{}, now.Add(time.Minute))
	if _, ok := off.get(digest(1), now); ok {
		t.Fatal("a disabled cache answered")
	}
}
