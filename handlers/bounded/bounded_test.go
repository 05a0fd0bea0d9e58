package bounded_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers/bounded"
)

// TestCacheIsBoundedByWeight: a flood of distinct keys never makes the
// cache hold more than its weight, whether entries are counted or weighed
// by their bytes.
func TestCacheIsBoundedByWeight(t *testing.T) {
	tests := []struct {
		name  string
		cfg   bounded.Config[string, []byte]
		value []byte
	}{
		{"counted", bounded.Config[string, []byte]{MaxWeight: 100}, []byte("x")},
		{"by bytes", bounded.Config[string, []byte]{MaxWeight: 1 << 20,
			Weigh: func(k string, v []byte) uint32 { return uint32(len(k) + len(v)) }}, []byte(strings.Repeat("x", 10_000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := bounded.New(tt.cfg)
			for i := range 10_000 {
				c.Set(fmt.Sprint("key-", i), tt.value)
			}
			if w := c.Weight(); w > tt.cfg.MaxWeight {
				t.Fatalf("weight %d, bound %d", w, tt.cfg.MaxWeight)
			}
			if c.Len() == 0 {
				t.Fatal("the cache kept nothing")
			}
		})
	}
}

// TestCacheExpiry: TTL counts from the write, IdleTTL from the last use.
func TestCacheExpiry(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	written := bounded.New(bounded.Config[string, int]{MaxWeight: 10, TTL: 10 * time.Second, Now: clock})
	idle := bounded.New(bounded.Config[string, int]{MaxWeight: 10, IdleTTL: 10 * time.Second, Now: clock})
	written.Set("k", 1)
	idle.Set("k", 1)
	for range 3 {
		now = now.Add(6 * time.Second)
		_, okWritten := written.Get("k")
		_, okIdle := idle.Get("k")
		if !okIdle {
			t.Fatalf("at %v an entry read every 6 s went idle", now)
		}
		if okWritten && now.Sub(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)) >= 10*time.Second {
			t.Fatalf("at %v an entry written 10 s ago or more was served", now)
		}
	}
	now = now.Add(11 * time.Second)
	if _, ok := idle.Get("k"); ok {
		t.Fatal("an entry unused for 11 s outlived its idle TTL of 10 s")
	}
}

// TestGetOrSetKeepsTheFirstValue: racing first uses of a key share a value.
func TestGetOrSetKeepsTheFirstValue(t *testing.T) {
	c := bounded.New(bounded.Config[string, *int]{MaxWeight: 10})
	first, second := new(int), new(int)
	if got := c.GetOrSet("k", first); got != first {
		t.Fatal("the first value was not stored")
	}
	if got := c.GetOrSet("k", second); got != first {
		t.Fatal("a second value replaced the first")
	}
}

func TestCompute(t *testing.T) {
	c := bounded.New(bounded.Config[string, int]{MaxWeight: 10})
	inc := func(old int, _ bool) (int, bounded.Op) { return old + 1, bounded.Write }
	c.Compute("k", inc)
	if v, _ := c.Compute("k", inc); v != 2 {
		t.Fatalf("got %d, want 2", v)
	}
	if v, ok := c.Compute("k", func(int, bool) (int, bounded.Op) { return 9, bounded.Leave }); !ok || v != 2 {
		t.Fatalf("Leave changed the entry: %d %t", v, ok)
	}
	if _, ok := c.Compute("absent", func(int, bool) (int, bounded.Op) { return 9, bounded.Leave }); ok {
		t.Fatal("Leave created an entry")
	}
	c.Compute("k", func(int, bool) (int, bounded.Op) { return 0, bounded.Drop })
	if _, ok := c.Get("k"); ok {
		t.Fatal("an entry Compute dropped is still there")
	}
}

func TestContradictoryConfigPanics(t *testing.T) {
	for name, cfg := range map[string]bounded.Config[string, int]{
		"no weight":         {},
		"both expiry kinds": {MaxWeight: 1, TTL: time.Second, IdleTTL: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			bounded.New(cfg)
		})
	}
}

// A cache of encoded answers bounded by their bytes, kept for 30 s.
func ExampleNew() {
	answers := bounded.New(bounded.Config[string, []byte]{
		MaxWeight: 64 << 20,
		Weigh:     func(k string, v []byte) uint32 { return uint32(len(k) + len(v)) },
		TTL:       30 * time.Second,
	})
	answers.Set("alice", []byte(`{"online":true}`))
	body, ok := answers.Get("alice")
	fmt.Println(string(body), ok)
	// Output: {"online":true} true
}
