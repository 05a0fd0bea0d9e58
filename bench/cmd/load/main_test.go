package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"agentpresence/bench"
)

// TestCallerSetRotatesGenerations: every agent of the first 10×G of a
// tenant is in exactly one generation, 10 per tenant each; a prime moves
// to the next generation and asks each of its callers exactly once, and
// the load then picks only from it.
func TestCallerSetRotatesGenerations(t *testing.T) {
	ds := &bench.Dataset{Spec: bench.Spec{AgentsPerTenant: 30}}
	for ti := range 3 {
		var tn bench.Tenant
		for j := range 30 {
			tn.Agents = append(tn.Agents, string(rune('a'+ti))+"-"+string(rune('A'+j)))
		}
		ds.Tenants = append(ds.Tenants, tn)
	}
	c, err := newCallerSet(ds, func(ti int, acct string) (string, error) { return "JWT " + acct, nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.gens) != 3 || c.size() != 30 {
		t.Fatalf("%d generations of %d, want 3 of 30", len(c.gens), c.size())
	}
	where := map[string]int{}
	for g, auths := range c.gens {
		for _, a := range auths {
			if prev, dup := where[a]; dup {
				t.Fatalf("%s in generations %d and %d", a, prev, g)
			}
			where[a] = g
		}
	}
	if len(where) != 90 {
		t.Fatalf("%d callers, want 90", len(where))
	}

	var mu sync.Mutex
	asked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked[r.Header.Get("Authorization")]++
		mu.Unlock()
	}))
	defer srv.Close()
	for round, want := range []int{0, 1, 2, 0} {
		clear(asked)
		if err := c.prime(context.Background(), 4, srv.URL); err != nil {
			t.Fatal(err)
		}
		if len(asked) != 30 {
			t.Fatalf("prime %d asked %d callers, want 30", round, len(asked))
		}
		for a, n := range asked {
			if where[a] != want || n != 1 {
				t.Fatalf("prime %d asked %s (generation %d) %d times, want generation %d once", round, a, where[a], n, want)
			}
		}
		for w := range 8 {
			for i := range 50 {
				if g := where[c.pick(w, i)]; g != want {
					t.Fatalf("after prime %d the load picked generation %d, want %d", round, g, want)
				}
			}
		}
	}
}

func TestRatioMedianAndRange(t *testing.T) {
	own, ceiling := []float64{50, 80, 90, 0}, []float64{100, 100, 100, 0}
	if got := ratioMedian(own, ceiling); got != 0.8 {
		t.Errorf("median %v, want 0.8 (the empty round left out)", got)
	}
	if got := ratioRange(own, ceiling); len(got) != 2 || got[0] != 0.5 || got[1] != 0.9 {
		t.Errorf("range %v, want [0.5 0.9]", got)
	}
	if ratioMedian(own[:2], ceiling[:2]) != 0.65 {
		t.Error("an even count takes the mean of the middle two")
	}
	if ratioRange(nil, nil) != nil || ratioMedian(nil, nil) != 0 {
		t.Error("no rounds, no ratio")
	}
}
