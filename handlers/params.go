package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"agentpresence/models"
)

// The shapes of what a request may carry, in one place. checkParams applies
// them to every path and query parameter at the edge, before any cache,
// limiter, log line or query sees the value; handlers apply the same
// validators to the body fields that name the same things.
const (
	// maxProjectKeyLen bounds Jira project keys. Jira Cloud makes them 2 to
	// 10 characters; a site may raise the limit (up to 255 on Server), so
	// we accept what our column holds (models.Project.Key, size 64).
	maxProjectKeyLen = 64
	// maxAccountIDLen is the longest Atlassian account id (and our column,
	// models.Agent.AccountID, size 128).
	maxAccountIDLen = 128
	// widgetIDLen is "w_" and 22 characters of base64url: 128 random bits
	// (models.newWidgetID).
	widgetIDLen = 24
	// maxZoneLen bounds an IANA time zone name (the longest is 32).
	maxZoneLen = 64
	// maxStaticPathLen bounds the file name of /static/*.
	maxStaticPathLen = 256
)

// Instants given as parameters must fall within these years: later ones
// cannot be encoded as JSON once a day is added to them.
var (
	minParamTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxParamTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// validProjectKey: an upper-case letter, then upper-case letters, digits
// and underscores (Jira's rule), at most maxProjectKeyLen.
func validProjectKey(s string) bool {
	if s == "" || len(s) > maxProjectKeyLen || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validAccountID: Atlassian account ids are letters, digits, ':' and '-'
// ("557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", "5b10a2844c20165700ede21g").
func validAccountID(s string) bool {
	if s == "" || len(s) > maxAccountIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// validWidgetID: "w_" and 22 characters of base64url.
func validWidgetID(s string) bool {
	if len(s) != widgetIDLen || !strings.HasPrefix(s, "w_") {
		return false
	}
	for i := 2; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validZoneName: what IANA zone names are made of ("America/Argentina/
// Buenos_Aires", "Etc/GMT+5"); whether the zone exists is asked later.
func validZoneName(s string) bool {
	if s == "" || len(s) > maxZoneLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/_+-", c) >= 0) {
			return false
		}
	}
	return true
}

// validText is free text a user typed (a reason): valid UTF-8 with no
// control characters but line breaks and tabs. PostgreSQL refuses NUL.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f
	}) < 0
}

// parseEventsLimit reads limit= of the audit log.
func parseEventsLimit(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxEventsLimit {
		return 0, fmt.Errorf("must be between 1 and %d", maxEventsLimit)
	}
	return n, nil
}

// parseBeforeID reads before= of the audit log: an event id.
func parseBeforeID(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("must be an event id")
	}
	return n, nil
}

// errTimeRange: an instant outside the years parseTime accepts.
var errTimeRange = errors.New("time out of range")

// parseTime reads an RFC 3339 instant or a YYYY-MM-DD date (UTC midnight)
// between 1970 and 2200.
func parseTime(v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, v); err != nil {
			return time.Time{}, fmt.Errorf("must be a date (2026-11-25) or an RFC 3339 time")
		}
		t = t.UTC()
	}
	if t.Before(minParamTime) || !t.Before(maxParamTime) {
		return time.Time{}, fmt.Errorf("%w: must lie between %d and %d", errTimeRange, minParamTime.Year(), maxParamTime.Year()-1)
	}
	return t, nil
}

// checkQueryParam checks one query parameter the service reads. Others
// (Jira adds its own to page URLs: xdm_e, cp…; lic is checked) are read by nobody;
// the token, jwt, is bounded by connect; the portal footer's serviceDeskId
// is checked by its page, which then renders a footer without a widget.
func checkQueryParam(name, v string) error {
	var problem string
	var data args
	switch name {
	case "project":
		if !validProjectKey(v) {
			problem, data = "problem.project_key", args{"Max": maxProjectKeyLen}
		}
	case "accountId":
		if !validAccountID(v) {
			problem, data = "problem.account_id", args{"Max": maxAccountIDLen}
		}
	case "from", "to":
		if _, err := parseTime(v); err != nil {
			problem, data = timeProblem(err)
		}
	case "limit":
		if _, err := parseEventsLimit(v); err != nil {
			problem, data = "problem.between", args{"Min": 1, "Max": maxEventsLimit}
		}
	case "before":
		if _, err := parseBeforeID(v); err != nil {
			problem = "problem.event_id"
		}
	case "source":
		if !models.Source(v).Valid() {
			problem = "problem.source"
		}
	case "format":
		if v != "json" && v != "csv" {
			problem = "problem.format"
		}
	case "days":
		if _, err := parsePreviewDays(v); err != nil {
			problem, data = "problem.preview_days", args{"Max": maxPreviewDays}
		}
	case "lic":
		// Jira's license parameter on page URLs (license.go).
		if v != "active" && v != "none" {
			problem = `must be "active" or "none"`
		}
	case "tz":
		if !validZoneName(v) {
			problem, data = "problem.zone_name", args{"Max": maxZoneLen}
		}
	case "lang", "loc":
		// A widget's language, or the user's locale that Jira puts on
		// page URLs; one we do not speak is answered in English.
		if !validLanguageTag(v) {
			problem, data = "problem.language_tag", args{"Max": maxLanguageTagLen}
		}
	}
	if problem != "" {
		return paramError(name, problem, data)
	}
	return nil
}

// timeProblem is the catalog message of a parseTime error.
func timeProblem(err error) (string, args) {
	if errors.Is(err, errTimeRange) {
		return "problem.years", args{"Min": minParamTime.Year(), "Max": maxParamTime.Year() - 1}
	}
	return "problem.time", nil
}

// errUnknownWidget is the one answer for a widget that cannot be shown:
// unknown, disabled, uninstalled, not even shaped like a widget id, or
// asked for by a page on a site the project does not allow, so that
// nothing is learned from the difference. Any page may read it, so that
// widget.js can tell this refusal from a network failure and stop asking.
func errUnknownWidget() *APIError {
	return &APIError{Status: http.StatusNotFound, Code: "not_found", ID: "error.unknown_widget",
		Header: map[string]string{"Access-Control-Allow-Origin": "*"}}
}

// checkPathParam checks one path parameter of the routes.
func checkPathParam(name, v string) error {
	switch name {
	case "key":
		if !validProjectKey(v) {
			return paramError(name, "problem.project_key", args{"Max": maxProjectKeyLen})
		}
	case "accountId":
		// Clients escape the colon ("557058%3A…"); echo hands path
		// parameters over as they came.
		if u, err := url.PathUnescape(v); err != nil || !validAccountID(u) {
			return paramError(name, "problem.account_id", args{"Max": maxAccountIDLen})
		}
	case "widgetId":
		if !validWidgetID(v) {
			return errUnknownWidget()
		}
	case "*":
		if len(v) > maxStaticPathLen {
			return said(http.StatusNotFound, "not_found", "error.not_found", nil)
		}
	}
	return nil
}

// paramError is a 400 that names the parameter at fault, never its value
// (which may be a megabyte long); problem is the catalog message of what
// is wrong with it.
func paramError(name, problem string, data args) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: "invalid_param", Field: name, ID: problem, Data: data}
}

// checkParams validates every path and query parameter of the matched
// route by name; a request with a malformed one goes no further.
func checkParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := checkRequestParams(c); err != nil {
			return err
		}
		return next(c)
	}
}

// checkRequestParams is apart from checkParams's closure, which stays on
// the stack of long-lived streams.
func checkRequestParams(c echo.Context) error {
	values := c.ParamValues()
	for i, name := range c.ParamNames() {
		if i < len(values) {
			if err := checkPathParam(name, values[i]); err != nil {
				return err
			}
		}
	}
	if c.Request().URL.RawQuery == "" {
		return nil
	}
	for name, vs := range c.QueryParams() {
		for _, v := range vs {
			// Empty is absent, for every parameter the service reads.
			if v == "" {
				continue
			}
			if err := checkQueryParam(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}
