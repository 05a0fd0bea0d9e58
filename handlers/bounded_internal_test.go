package handlers

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"agentpresence/models"
)

// TestClientLimiterBoundsItsClients: a flood of distinct clients keeps at
// most the bound of buckets; the addresses of one IPv6 /64 share one, and
// an IPv4 address (also written as IPv4-mapped IPv6) has its own.
func TestClientLimiterBoundsItsClients(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l := newKeyedLimiter[netip.Prefix](1, 2, 100, clock)
	allow := func(ip string) bool {
		_, ok := l.take(clientKey(ip))
		return ok
	}
	for i := range 10_000 {
		allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if n := l.buckets.Len(); n > 100 {
		t.Fatalf("%d buckets kept, bound 100", n)
	}

	l = newKeyedLimiter[netip.Prefix](1, 2, 100, clock)
	sequence := []struct {
		ip   string
		want bool
	}{
		{"2001:db8:1:2::1", true},
		{"2001:db8:1:2:ffff::9", true},
		{"2001:db8:1:2::1234", false}, // the /64's burst of 2 is used up
		{"2001:db8:1:3::1", true},     // another /64
		{"192.0.2.1", true},
		{"::ffff:192.0.2.1", true},
		{"192.0.2.1", false},
		{"192.0.2.2", true},
		{"not an address", true},
	}
	for i, s := range sequence {
		if got := allow(s.ip); got != s.want {
			t.Fatalf("%d %s: allowed %v, want %v", i, s.ip, got, s.want)
		}
	}
	now = now.Add(time.Second) // one token back
	if !allow("2001:db8:1:2::1") {
		t.Fatal("the /64's bucket did not refill")
	}
}

// TestMeCacheIsBoundedByBytesAndFollowsChanges: big answers never make the
// cache hold more than its bytes; a change of the tenant or a resync
// retires its answers, and an answer computed across a change is not
// stored.
func TestMeCacheIsBoundedByBytesAndFollowsChanges(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	m := NewMeCache(30*time.Second, func() time.Time { return now })
	big := []byte(strings.Repeat("x", 1<<20))
	for i := range 200 {
		k := meKey{tenant: 1, account: fmt.Sprintf("a%d", i), project: "HELP"}
		m.put(k, m.stamp(1), big)
	}
	if w := m.answers.Weight(); w > meCacheMaxBytes {
		t.Fatalf("%d bytes kept, bound %d", w, meCacheMaxBytes)
	}

	alice := meKey{tenant: 1, account: "alice", project: "HELP"}
	bob := meKey{tenant: 2, account: "bob", project: "IT"}
	m.put(alice, m.stamp(1), []byte("a"))
	m.put(bob, m.stamp(2), []byte("b"))
	if _, ok := m.get(alice); !ok {
		t.Fatal("a fresh answer was not served")
	}
	m.OnChange(context.Background(), models.Change{Tenant: 1})
	if _, ok := m.get(alice); ok {
		t.Fatal("an answer of before the tenant's change was served")
	}
	if _, ok := m.get(bob); !ok {
		t.Fatal("another tenant's change retired bob's answer")
	}
	stale := m.stamp(1)
	m.OnChange(context.Background(), models.Change{Tenant: 1})
	m.put(alice, stale, []byte("stale"))
	if _, ok := m.get(alice); ok {
		t.Fatal("an answer computed across a change was stored")
	}
	m.OnChange(context.Background(), models.Change{Resync: true})
	if _, ok := m.get(bob); ok {
		t.Fatal("a resync left an answer")
	}
	m.put(bob, m.stamp(2), []byte("b"))
	now = now.Add(31 * time.Second)
	if _, ok := m.get(bob); ok {
		t.Fatal("an answer outlived its TTL")
	}
}

// TestClientLimiterKeepsABusyClientsBucket: a client that never pauses
// keeps its bucket, so that it gets the rate and no fresh burst. A bucket
// is forgotten only after it went unused for its refill time.
func TestClientLimiterKeepsABusyClientsBucket(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	l := NewLimiters(Limits{PublicPerIP: 1, PublicPerIPBurst: 2}, func() time.Time { return now })
	allowed := 0
	for range 40 { // 20 s, a request every half second
		if _, ok := l.publicRequest("198.51.100.7"); ok {
			allowed++
		}
		now = now.Add(500 * time.Millisecond)
	}
	// The burst of 2, then 1 a second.
	if allowed > 2+20 {
		t.Fatalf("%d requests allowed in 20 s at 1/s after a burst of 2", allowed)
	}
}
