package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"agentpresence/models"
)

// APIError is an error with an HTTP status and a stable code that clients
// can switch on. Handlers return it; ErrorHandler renders it.
type APIError struct {
	Status  int
	Code    string
	Message string
	// Header holds extra response headers (Retry-After, WWW-Authenticate).
	Header map[string]string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// errorBody is the one JSON shape of every error this service answers.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func apiError(status int, code, message string) *APIError {
	return &APIError{Status: status, Code: code, Message: message}
}

func badRequest(code, message string) *APIError {
	return apiError(http.StatusBadRequest, code, message)
}

// ErrorHandler renders every error once, as {"error":{"code","message"}}.
// Errors it does not recognise are logged here, and only here, and answer a
// generic 500 so that no internal detail reaches a client.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		apiErr := classify(err)
		if apiErr.Status >= 500 {
			log.ErrorContext(c.Request().Context(), "request failed",
				"err", err, "method", c.Request().Method, "path", c.Path(), "request_id", requestID(c))
		}
		for k, v := range apiErr.Header {
			c.Response().Header().Set(k, v)
		}
		var body errorBody
		body.Error.Code, body.Error.Message = apiErr.Code, apiErr.Message
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(apiErr.Status)
			return
		}
		_ = c.JSON(apiErr.Status, body)
	}
}

func classify(err error) *APIError {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var httpErr *echo.HTTPError
	if errors.As(err, &httpErr) {
		msg := http.StatusText(httpErr.Code)
		if m, ok := httpErr.Message.(string); ok && m != "" {
			msg = m
		}
		code := map[int]string{
			http.StatusNotFound: "not_found", http.StatusMethodNotAllowed: "method_not_allowed",
			http.StatusRequestEntityTooLarge: "body_too_large", http.StatusUnsupportedMediaType: "unsupported_media_type",
			http.StatusTooManyRequests: "rate_limited", http.StatusBadRequest: "bad_request",
			http.StatusServiceUnavailable: "unavailable",
		}[httpErr.Code]
		if code == "" {
			code = "error"
		}
		if httpErr.Code >= 500 {
			msg = http.StatusText(httpErr.Code)
		}
		return apiError(httpErr.Code, code, msg)
	}
	switch {
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer, nothing failed here.
		return apiError(statusClientClosed, "client_closed", "the client closed the request")
	case errors.Is(err, models.ErrNotFound):
		return apiError(http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, models.ErrNotAnAgent):
		return apiError(http.StatusForbidden, "not_an_agent", "you are not a support agent of this project")
	case errors.Is(err, models.ErrNotAnAdmin):
		return apiError(http.StatusForbidden, "forbidden", "putting an agent offline needs both Jira administrator and project administrator permissions")
	case errors.Is(err, models.ErrTenantClosed):
		return apiError(http.StatusForbidden, "tenant_disabled", "the app is disabled or uninstalled for this site")
	case errors.Is(err, models.ErrInvalid):
		return apiError(http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, models.ErrConflict):
		return apiError(http.StatusConflict, "conflict", "the change conflicts with another one; try again")
	case errors.Is(err, models.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &APIError{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the service is briefly unavailable; try again", Header: map[string]string{"Retry-After": "2"}}
	}
	return apiError(http.StatusInternalServerError, "internal", "internal error")
}

// statusClientClosed is nginx's 499: the client closed the request before
// the answer; logged as such rather than as a server error.
const statusClientClosed = 499

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
