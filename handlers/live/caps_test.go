package live_test

import (
	"testing"

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
