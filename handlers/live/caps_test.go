package live_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"agentpresence/handlers/live"
)

// TestInstanceCapFromOpenFiles: the instance cap is what the
// open-files limit leaves after a reserve for everything else.
func TestInstanceCapFromOpenFiles(t *testing.T) {
	tests := []struct {
		name      string
		openFiles uint64
		requested int
		expect    int
	}{
		{"1,024 descriptors keep 256", 1024, 0, 768},
		{"a small limit keeps half", 256, 0, 128},
		{"4,096 keep a quarter", 4096, 0, 3072},
		{"20,000 keep a quarter", 20000, 0, 15000},
		{"a large limit stops at the ceiling", 1 << 20, 0, live.MaxPerInstance},
		{"asked for less", 1024, 100, 100},
		{"asked for more than the descriptors allow", 1024, 5000, 768},
		{"asked for more than the ceiling, and allowed", 1 << 20, 100_000, 100_000},
		{"unknown limit", 0, 0, live.MaxPerInstance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := live.InstanceCap(tt.openFiles, tt.requested); got != tt.expect {
				t.Fatalf("InstanceCap(%d, %d) = %d, want %d", tt.openFiles, tt.requested, got, tt.expect)
			}
		})
	}
}

// TestCapsRefuseBeyondEachCap: a stream beyond a cap is refused with the
// cap's *CapError (which is ErrTooManyStreams); a released slot, released
// once however often, frees its place; nil caps admit everything.
func TestCapsRefuseBeyondEachCap(t *testing.T) {
	a, b := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8:1:2::/64")
	caps := live.NewCaps(live.Limits{PerUser: 1, PerAddress: 2, Instance: 3})
	admit := func(addr netip.Prefix, user string) (*live.Slot, error) { return caps.Admit(addr, user) }
	tests := []struct {
		name      string
		givenAddr netip.Prefix
		givenUser string
		expectCap *live.Cap // nil: admitted
	}{
		{"a widget stream", a, "", nil},
		{"an agent stream from the same address", a, "1:alice", nil},
		{"a third from the address", a, "", ptr(live.CapAddress)},
		{"the user's second, from elsewhere", b, "1:alice", ptr(live.CapUser)},
		{"another user from elsewhere", b, "1:bob", nil},
		{"a fourth in all", b, "", ptr(live.CapInstance)},
	}
	var slots []*live.Slot
	for _, tt := range tests {
		slot, err := admit(tt.givenAddr, tt.givenUser)
		var capErr *live.CapError
		switch {
		case tt.expectCap == nil && err != nil:
			t.Fatalf("%s: %v, want admitted", tt.name, err)
		case tt.expectCap != nil && (!errors.As(err, &capErr) || capErr.Cap != *tt.expectCap || !errors.Is(err, live.ErrTooManyStreams)):
			t.Fatalf("%s: %v, want the cap %d", tt.name, err, *tt.expectCap)
		case err == nil:
			slots = append(slots, slot)
		}
	}
	slots[0].Release()
	slots[0].Release() // once only
	if _, err := admit(b, ""); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := admit(b, ""); err == nil {
		t.Fatal("a second release freed a second place")
	}
	var none *live.Caps
	if _, err := none.Admit(a, "1:alice"); err != nil || none.Lifetime() != 0 {
		t.Fatalf("nil caps: %v, lifetime %v", err, none.Lifetime())
	}
}

// TestLifetimeIsSpread: each stream's lifetime lies within the last
// quarter before the configured one.
func TestLifetimeIsSpread(t *testing.T) {
	caps := live.NewCaps(live.Limits{Lifetime: 20 * time.Minute})
	for range 1000 {
		if l := caps.Lifetime(); l < 15*time.Minute || l > 20*time.Minute {
			t.Fatalf("lifetime %v, want 15–20 min", l)
		}
	}
}

func ptr[T any](v T) *T { return &v }
