package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Sentinel errors the store returns; handlers translate them once into
// HTTP answers, so no layer above needs to know gorm's errors.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrInvalid     = errors.New("invalid")
	ErrUnavailable = errors.New("store unavailable")
	ErrNotAnAgent  = errors.New("not a support agent of the project")
	// ErrNotAnAdmin: the actor is not both Jira administrator and
	// administrator of the project, as putting an agent offline needs.
	ErrNotAnAdmin   = errors.New("not an administrator of the project")
	ErrTenantClosed = errors.New("tenant uninstalled or disabled")
	// ErrTokenReplayed: a signed lifecycle token was accepted before.
	ErrTokenReplayed = errors.New("lifecycle token already used")
	// ErrTokenStale: a signed lifecycle token is not newer than the
	// tenant's last accepted one.
	ErrTokenStale = errors.New("lifecycle token older than the last accepted one")
)

// translate maps gorm and driver errors onto the domain's sentinels.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%s: %w", op, ErrConflict)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrInvalid),
		errors.Is(err, ErrNotAnAgent), errors.Is(err, ErrNotAnAdmin), errors.Is(err, ErrTenantClosed), errors.Is(err, ErrTokenReplayed),
		errors.Is(err, ErrTokenStale), errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	}
	if isSerializationError(err) {
		// A deadlock or serialization failure rolled the transaction back
		// whole; the caller may simply try again.
		return fmt.Errorf("%s: %w: %w", op, ErrConflict, err)
	}
	if isConnectionError(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isConnectionError recognises a database that is down or restarting, so
// that callers answer 503 (try again) rather than 500.
func isConnectionError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"connection refused", "failed to connect", "bad connection", "connection reset",
		"broken pipe", "the database system is shutting down", "the database system is starting up",
		"terminating connection", "conn closed", "unexpected EOF", "SQLSTATE 57P", "SQLSTATE 08",
		// read_only_sql_transaction: a write reached a server that is (or
		// has just become) a standby during a failover; it passes once the
		// connection reaches the new primary.
		"SQLSTATE 25006"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return errors.Is(err, sql.ErrConnDone)
}

// isSerializationError recognises PostgreSQL's deadlock_detected and
// serialization_failure, which jobs and requests touching the same rows
// in different orders can meet.
func isSerializationError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 40P01") || strings.Contains(msg, "SQLSTATE 40001")
}

func isNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }
