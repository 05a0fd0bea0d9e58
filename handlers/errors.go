package handlers

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
	"agentpresence/handlers/live"
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

	// ID names the catalog message that words the error in the caller's
	// language (i18n.go), with its Data; without one, Message is answered
	// as it is. Field is the field or parameter at fault, put in front.
	ID    string
	Data  map[string]any
	Field string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.ID
	}
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	return e.Code + ": " + msg
}

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

// said is an error worded by catalog message id, with its data.
func said(status int, code, id string, data args) *APIError {
	return &APIError{Status: status, Code: code, ID: id, Data: data}
}

// ErrorHandler renders every error once, as {"error":{"code","message"}},
// the message in the caller's language (msgs; nil: as the error carries
// it). Errors it does not recognise are logged here, and only here, and
// answer a generic 500 so that no internal detail reaches a client.
func ErrorHandler(log *slog.Logger, msgs *Messages) echo.HTTPErrorHandler {
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
		body.Error.Code, body.Error.Message = apiErr.Code, msgs.errorText(msgs.callerLocale(c), apiErr)
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
	for _, d := range domainErrors {
		if errors.Is(err, d.is) {
			return d.answer(err)
		}
	}
	return apiError(http.StatusInternalServerError, "internal", "internal error")
}

// domainErrors is the one translation of the domain's errors (the store's,
// the Jira directory's, the live streams') into answers: the first entry
// whose error the chain holds answers. Order matters where one error wraps
// another: ErrCannotConfirmAgent wraps the ErrUnavailable that caused it.
var domainErrors = []struct {
	is     error
	answer func(err error) *APIError
}{
	// The client went away; nobody reads the answer, nothing failed here.
	{context.Canceled, fixed(statusClientClosed, "client_closed", "the client closed the request", nil)},
	{models.ErrNotFound, fixed(http.StatusNotFound, "not_found", "not found", nil)},
	{models.ErrNotAnAgent, fixed(http.StatusForbidden, "not_an_agent", "you are not a support agent of this project", nil)},
	{models.ErrNotAnAdmin, fixed(http.StatusForbidden, "forbidden",
		"putting an agent offline needs both Jira administrator and project administrator permissions", nil)},
	{models.ErrTenantClosed, fixed(http.StatusForbidden, "tenant_disabled", "the app is disabled or uninstalled for this site", nil)},
	{models.ErrLicenseInactive, fixed(http.StatusPaymentRequired, "license_inactive",
		"Until the app's subscription on this site is renewed, agents cannot go online and customers see the chat as offline; "+
			"nothing has been deleted. A Jira administrator can renew it in Jira's settings under Apps, Manage apps.", nil)},
	{models.ErrInvalid, func(err error) *APIError { return apiError(http.StatusBadRequest, "invalid", err.Error()) }},
	{models.ErrConflict, fixed(http.StatusConflict, "conflict", "the change conflicts with another one; try again", nil)},
	{models.ErrUnavailable, briefOutage},
	{context.DeadlineExceeded, briefOutage},
	{jira.ErrCannotConfirmAgent, fixed(http.StatusServiceUnavailable, "cannot_confirm_agent",
		"Jira cannot confirm now that you are a support agent, so you cannot go online; try again shortly",
		map[string]string{"Retry-After": "30"})},
	// Any question Jira did not answer: a 502 the client may retry.
	{jira.ErrUnavailable, fixed(http.StatusBadGateway, "jira_unavailable",
		"Jira did not answer our question about permissions; try again", map[string]string{"Retry-After": "5"})},
	{live.ErrTooManyStreams, func(err error) *APIError {
		var capErr *live.CapError
		errors.As(err, &capErr)
		return tooManyStreams(capErr.Cap)
	}},
}

// fixed answers always the same.
func fixed(status int, code, message string, header map[string]string) func(error) *APIError {
	return func(error) *APIError { return &APIError{Status: status, Code: code, Message: message, Header: header} }
}

// briefOutage answers while the database (or a deadline) fails: retry soon.
func briefOutage(error) *APIError {
	return &APIError{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "the service is briefly unavailable; try again", Header: map[string]string{"Retry-After": "2"}}
}

// tooManyStreams refuses a stream beyond a cap; the page polls meanwhile.
// The retry delay is spread so that refused clients do not come back
// together.
func tooManyStreams(c live.Cap) *APIError {
	where := map[live.Cap]string{live.CapInstance: "on this server", live.CapAddress: "from this address", live.CapUser: "for this user"}[c]
	return &APIError{Status: http.StatusTooManyRequests, Code: "too_many_streams",
		Message: "too many live streams are open " + where + "; poll the status instead or try again later",
		Header:  map[string]string{"Retry-After": strconv.Itoa(30 + rand.IntN(31))}}
}

// statusClientClosed is nginx's 499: the client closed the request before
// the answer; logged as such rather than as a server error.
const statusClientClosed = 499

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
