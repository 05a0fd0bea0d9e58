package handlers

import (
	"fmt"
	"testing"
	"time"
)

// TestFailureLimiterIsBounded: addresses come from the network (and, behind
// a proxy, from X-Forwarded-For): whatever arrives, the limiter keeps at
// most maxFailureSources keys, each a parsed address or IPv6 /64.
func TestFailureLimiterIsBounded(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	l := NewLimiters(Limits{AuthFailuresPerMinute: 30}, func() time.Time { return now })
	tests := []struct {
		name string
		addr func(i int) string
	}{
		{"distinct IPv4 addresses", func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }},
		{"distinct IPv6 /64s", func(i int) string { return fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff) }},
		{"strings that are no address", func(i int) string { return fmt.Sprintf("not-an-address-%d-%0500d", i, i) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 3 * maxFailureSources {
				l.authFailed(tt.addr(i))
			}
			if n := l.authFailures.buckets.Len(); n > maxFailureSources {
				t.Fatalf("%d keys kept, want at most %d", n, maxFailureSources)
			}
		})
	}
}
