package jobs

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestReportLogsAFailureOnce: a job failing the same way on every tick
// (the database is down) is logged once, and once more when it recovers.
func TestReportLogsAFailureOnce(t *testing.T) {
	var out bytes.Buffer
	r := &Runner{log: slog.New(slog.NewTextHandler(&out, nil)), failing: map[string]failure{}}
	down := errors.New("expire online: store unavailable")
	for range 5 {
		r.report("expiry", down)
	}
	r.report("expiry", errors.New("expire online: conflict"))
	r.report("schedules", nil)
	r.report("expiry", nil)
	r.report("expiry", nil)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 ||
		!strings.Contains(lines[0], "job failed") || !strings.Contains(lines[0], "unavailable") ||
		!strings.Contains(lines[1], "job failed") || !strings.Contains(lines[1], "conflict") ||
		!strings.Contains(lines[2], "job recovered") || !strings.Contains(lines[2], "failed_runs=6") {
		t.Fatalf("log:\n%s", out.String())
	}
}
