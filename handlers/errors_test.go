package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers"
	"agentpresence/models"
)

// TestErrorHandler: each layer's errors become one JSON shape; only real
// server faults are logged, and their detail never reaches the client.
func TestErrorHandler(t *testing.T) {
	tests := []struct {
		given  error
		status int
		code   string
		logged bool
	}{
		{fmt.Errorf("find: %w", models.ErrNotFound), 404, "not_found", false},
		{fmt.Errorf("set: %w", models.ErrInvalid), 400, "invalid", false},
		{fmt.Errorf("set: %w", models.ErrConflict), 409, "conflict", false},
		{fmt.Errorf("ping: %w: connection refused", models.ErrUnavailable), 503, "unavailable", true},
		{fmt.Errorf("memberships: %w", context.Canceled), 499, "client_closed", false},
		{errors.New("pq: secret detail"), 500, "internal", true},
		{echo.NewHTTPError(http.StatusMethodNotAllowed), 405, "method_not_allowed", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			var logs strings.Builder
			h := handlers.ErrorHandler(slog.New(slog.NewJSONHandler(&logs, nil)), nil)
			e := echo.New()
			rec := httptest.NewRecorder()
			h(tt.given, e.NewContext(httptest.NewRequest(http.MethodGet, "/x", nil), rec))
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), `"code":"`+tt.code+`"`) {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "secret detail") {
				t.Fatal("internal detail reached the client")
			}
			if got := logs.Len() > 0; got != tt.logged {
				t.Fatalf("logged=%v, want %v: %s", got, tt.logged, logs.String())
			}
		})
	}
}
