package models

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
)

// The messages are those the fault harness (bench/cmd/fault) met while
// PostgreSQL restarted under load: each must answer 503, not 500.
func TestTranslateConnectionErrors(t *testing.T) {
	tests := []struct {
		name   string
		given  error
		expect error
	}{
		{"shutting down", errors.New("failed to connect to `user=postgres database=x`: 127.0.0.1:5432 (127.0.0.1): server error: FATAL: the database system is shutting down (SQLSTATE 57P03)"), ErrUnavailable},
		{"starting up", errors.New("failed to connect to `user=postgres database=x`: 127.0.0.1:5432 (127.0.0.1): server error: FATAL: the database system is starting up (SQLSTATE 57P03)"), ErrUnavailable},
		{"administrator command", errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)"), ErrUnavailable},
		{"refused", errors.New("failed to connect to `user=postgres database=x`: 127.0.0.1:5432 (127.0.0.1): dial error: dial tcp 127.0.0.1:5432: connect: connection refused"), ErrUnavailable},
		{"bad connection", fmt.Errorf("query: %w", errors.New("driver: bad connection")), ErrUnavailable},
		{"closed pool connection", sql.ErrConnDone, ErrUnavailable},
		{"unexpected EOF", errors.New("unexpected EOF"), ErrUnavailable},
		// A primary demoted (or a standby reached) during a failover: the
		// write is refused until the connection finds the new primary.
		{"read-only after a failover", errors.New("ERROR: cannot execute UPDATE in a read-only transaction (SQLSTATE 25006)"), ErrUnavailable},
		{"deadlock is a conflict", errors.New("ERROR: deadlock detected (SQLSTATE 40P01)"), ErrConflict},
		{"a constraint is neither", errors.New("ERROR: null value in column \"key\" violates not-null constraint (SQLSTATE 23502)"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate("op", tt.given)
			if tt.expect == nil {
				if errors.Is(got, ErrUnavailable) || errors.Is(got, ErrConflict) {
					t.Fatalf("translate(%q) = %v; want neither unavailable nor conflict", tt.given, got)
				}
				return
			}
			if !errors.Is(got, tt.expect) {
				t.Fatalf("translate(%q) = %v; want %v", tt.given, got, tt.expect)
			}
		})
	}
}
