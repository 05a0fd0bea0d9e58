package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/live"
	"agentpresence/models"
)

// TestErrorHandler: each layer's errors become one JSON shape; only real
// server faults are logged, and their detail never reaches the client. The
// domain's errors (store, Jira directory, live streams) are answered here
// and only here, with their message and Retry-After.
func TestErrorHandler(t *testing.T) {
	jiraDown := fmt.Errorf("check agent permission: %w: %w", jira.ErrUnavailable, errors.New("dial: secret detail"))
	tests := []struct {
		given   error
		status  int
		code    string
		logged  bool
		message string // "" : not checked
		// retryAfter is the Retry-After header's range in seconds; 0: none.
		retryAfter [2]int
	}{
		{given: fmt.Errorf("find: %w", models.ErrNotFound), status: 404, code: "not_found"},
		{given: fmt.Errorf("set: %w", models.ErrInvalid), status: 400, code: "invalid"},
		{given: fmt.Errorf("set: %w", models.ErrConflict), status: 409, code: "conflict"},
		{given: fmt.Errorf("set: %w", models.ErrNotAnAgent), status: 403, code: "not_an_agent", message: "you are not a support agent of this project"},
		{given: fmt.Errorf("set: %w", models.ErrTenantClosed), status: 403, code: "tenant_disabled"},
		{given: fmt.Errorf("ping: %w: connection refused", models.ErrUnavailable), status: 503, code: "unavailable", logged: true, retryAfter: [2]int{2, 2}},
		{given: fmt.Errorf("query: %w", context.DeadlineExceeded), status: 503, code: "unavailable", logged: true, retryAfter: [2]int{2, 2}},
		{given: fmt.Errorf("memberships: %w", context.Canceled), status: 499, code: "client_closed"},
		{given: jiraDown, status: 502, code: "jira_unavailable", logged: true,
			message: "Jira did not answer our question about permissions; try again", retryAfter: [2]int{5, 5}},
		{given: fmt.Errorf("confirm agent: %w: %w", jira.ErrCannotConfirmAgent, jiraDown), status: 503, code: "cannot_confirm_agent", logged: true,
			message: "Jira cannot confirm now that you are a support agent, so you cannot go online; try again shortly", retryAfter: [2]int{30, 30}},
		{given: fmt.Errorf("stream: %w", &live.CapError{Cap: live.CapUser}), status: 429, code: "too_many_streams",
			message: "too many live streams are open for this user; poll the status instead or try again later", retryAfter: [2]int{30, 60}},
		{given: &live.CapError{Cap: live.CapAddress}, status: 429, code: "too_many_streams",
			message: "too many live streams are open from this address; poll the status instead or try again later", retryAfter: [2]int{30, 60}},
		{given: &live.CapError{Cap: live.CapInstance}, status: 429, code: "too_many_streams",
			message: "too many live streams are open on this server; poll the status instead or try again later", retryAfter: [2]int{30, 60}},
		{given: errors.New("pq: secret detail"), status: 500, code: "internal", logged: true},
		{given: echo.NewHTTPError(http.StatusMethodNotAllowed), status: 405, code: "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.given.Error(), func(t *testing.T) {
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
			var body errorJSON
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if tt.message != "" && body.Error.Message != tt.message {
				t.Fatalf("message %q, want %q", body.Error.Message, tt.message)
			}
			retry := rec.Header().Get("Retry-After")
			if secs, err := strconv.Atoi(retry); tt.retryAfter[1] == 0 && retry != "" ||
				tt.retryAfter[1] > 0 && (err != nil || secs < tt.retryAfter[0] || secs > tt.retryAfter[1]) {
				t.Fatalf("Retry-After %q, want %v", retry, tt.retryAfter)
			}
			if got := logs.Len() > 0; got != tt.logged {
				t.Fatalf("logged=%v, want %v: %s", got, tt.logged, logs.String())
			}
		})
	}
}
