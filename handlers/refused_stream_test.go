package handlers_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestStreamAfterHubClosed: once the hubs are closed (shutting down), a new
// stream, an agent's or a widget's, gets 200 with an empty event stream
// that only tells EventSource to retry (elsewhere, soon), not an error it
// would give up on; and nothing panics.
func TestStreamAfterHubClosed(t *testing.T) {
	f := newHarness(t).seedTenant(t)
	f.member(t, "alice", "HELP")
	f.widgets.Close()
	f.agents.Close()
	retryOnly := regexp.MustCompile(`^retry: \d+\n\n$`)
	for _, path := range []string{f.widgetPath("HELP"), f.agentPath(t, "alice", "")} {
		r := f.request(t, http.MethodGet, path, "", "")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" || !retryOnly.Match(r.body) {
			t.Fatalf("%s on a closed hub: %d %q %q, want 200 and only a retry", path, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	if strings.Contains(f.logs.String(), "panic") {
		t.Fatalf("a stream on a closed hub panicked:\n%s", f.logs.String())
	}
}
