package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"agentpresence/models"
)

// The personal data reporting API (Atlassian's user privacy guide): the
// app reports the account ids it holds, at most 90 per call, each with the
// time their data was retrieved; the answer lists the accounts that need
// action (closed, updated) or is 204 when none does.
const (
	// ReportAccountsPath is the API's path: below a Connect site's base
	// URL, and below the Atlassian API host for Forge.
	ReportAccountsPath = "/app/report-accounts/"
	// DefaultPersonalDataURL is the Atlassian API host that Forge apps
	// report through, with their app system token.
	DefaultPersonalDataURL = "https://api.atlassian.com"
)

// Bounds on what the API may ask: a Retry-After beyond a day, or a cycle
// outside a day to 30 days, is taken as the bound.
const (
	defaultRetryAfter = time.Minute
	maxRetryAfter     = 24 * time.Hour
	minCyclePeriod    = 24 * time.Hour
	maxCyclePeriod    = 30 * 24 * time.Hour
	// maxReportAnswer bounds the answer read: 90 accounts of 128 bytes.
	maxReportAnswer = 64 << 10
)

// PersonalData reports a tenant's accounts to the personal data reporting
// API as the tenant's app: for a Connect tenant to its site's base URL,
// signed with its shared secret (a JWT with the request's qsh and no
// sub: the app acts as itself); for a Forge installation to ForgeURL with
// its app system token (scope report:personal-data).
type PersonalData struct {
	Client *Client
	// ForgeURL is the Atlassian API host (default DefaultPersonalDataURL);
	// tests and the demo name a stand-in.
	ForgeURL string
}

type reportRequest struct {
	Accounts []reportAccount `json:"accounts"`
}

type reportAccount struct {
	AccountID string `json:"accountId"`
	UpdatedAt string `json:"updatedAt,omitempty"`
	Status    string `json:"status,omitempty"`
}

// ReportAccounts sends one batch of the tenant's accounts and returns what
// the API answered: the closed and updated accounts (only among those
// sent), the cycle it asked for, or, for a 429, how long to wait. Other
// answers are *Error; transport failures wrap ErrUnavailable.
func (p *PersonalData) ReportAccounts(ctx context.Context, t models.Tenant, accounts []models.ReportedAccount) (models.AccountReport, error) {
	if len(accounts) == 0 || len(accounts) > models.MaxReportBatch {
		return models.AccountReport{}, fmt.Errorf("report accounts: %d accounts (1..%d): %w", len(accounts), models.MaxReportBatch, ErrInvalidRequest)
	}
	body := reportRequest{Accounts: make([]reportAccount, 0, len(accounts))}
	sent := make(map[string]bool, len(accounts))
	for _, a := range accounts {
		if !models.Reportable(a.AccountID) {
			return models.AccountReport{}, fmt.Errorf("report accounts: an account id the API refuses: %w", ErrInvalidRequest)
		}
		sent[a.AccountID] = true
		body.Accounts = append(body.Accounts, reportAccount{AccountID: a.AccountID, UpdatedAt: a.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z")})
	}
	site := siteOf(t)
	if t.IsForge() {
		site.BaseURL = p.ForgeURL
		if site.BaseURL == "" {
			site.BaseURL = DefaultPersonalDataURL
		}
	}
	resp, err := p.Client.send(ctx, site, http.MethodPost, ReportAccountsPath, body)
	if err != nil {
		return models.AccountReport{}, fmt.Errorf("report accounts: %w", err)
	}
	defer resp.Body.Close()
	out := models.AccountReport{CyclePeriod: ParseCyclePeriod(resp.Header.Get("Cycle-Period"))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		out.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), p.Client.now())
		return out, nil
	case resp.StatusCode == http.StatusNoContent:
		return out, nil
	case resp.StatusCode != http.StatusOK:
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return models.AccountReport{}, &Error{Status: resp.StatusCode, Method: http.MethodPost, Path: resp.Request.URL.EscapedPath(), Body: string(snippet)}
	}
	var answer reportRequest
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReportAnswer)).Decode(&answer); err != nil {
		return models.AccountReport{}, fmt.Errorf("report accounts: decode answer: %w", err)
	}
	for _, a := range answer.Accounts {
		if !sent[a.AccountID] {
			continue // only what this call asked about can be acted on
		}
		switch a.Status {
		case "closed":
			out.Closed = append(out.Closed, a.AccountID)
		case "updated":
			out.Updated = append(out.Updated, a.AccountID)
		}
	}
	return out, nil
}

// HTTPStatus is the status Jira answered, for callers that cannot name
// this package (jobs, through an interface).
func (e *Error) HTTPStatus() int { return e.Status }

// send is Do for the callers that need the answer's status and headers:
// the request is built, checked and signed exactly as Do does it, and the
// response is the caller's to read and close.
func (c *Client) send(ctx context.Context, site Site, method, pathAndQuery string, body any) (*http.Response, error) {
	target, basePath, err := resolve(site.BaseURL, pathAndQuery)
	if err != nil {
		return nil, fmt.Errorf("jira %s: %w", method, err)
	}
	what := method + " " + target.EscapedPath()
	if err := c.Targets.CheckBaseURL(site.BaseURL); err != nil {
		return nil, fmt.Errorf("jira %s: %w", what, err)
	}
	if c.AppKey == "" {
		return nil, fmt.Errorf("jira %s: empty app key: %w", what, ErrInvalidRequest)
	}
	var authorization string
	if site.Forge {
		authorization, err = site.bearerHeader(c.now())
	} else {
		authorization, err = c.connectHeader(method, target, basePath, site.SharedSecret, c.now())
	}
	if err != nil {
		return nil, fmt.Errorf("jira %s: %w", what, err)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("jira %s: encode body: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("jira %s: %w", what, err)
	}
	req.Header.Set("Authorization", authorization)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("jira %s: %w", what, ctxErr)
		}
		if errors.Is(err, ErrForbiddenTarget) {
			return nil, fmt.Errorf("jira %s: %w", what, err)
		}
		return nil, fmt.Errorf("jira %s: %w: %w", what, ErrUnavailable, err)
	}
	return resp, nil
}

// parseRetryAfter reads a Retry-After header (seconds, or an HTTP date);
// a missing or unreadable one means a minute, a longer wait than a day
// a day.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	d := defaultRetryAfter
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		d = time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = max(at.Sub(now), 0)
	}
	return min(d, maxRetryAfter)
}

// ParseCyclePeriod reads the Cycle-Period header, whose format Atlassian
// does not document: an ISO 8601 duration of days, hours, minutes or
// seconds ("P7D", "PT168H", "P1DT12H"), or a bare number, read as seconds
// when it is at least a day's worth (604800) and as days when small (7).
// The result is kept within a day and 30 days; 0 means the header said
// nothing readable, and the default cycle holds.
func ParseCyclePeriod(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n >= int64(minCyclePeriod/time.Second):
			d = time.Duration(min(n, int64(maxCyclePeriod/time.Second))) * time.Second
		case n >= 1 && n <= 366:
			d = time.Duration(n) * 24 * time.Hour
		default:
			return 0
		}
	} else if d = isoDuration(v); d == 0 {
		return 0
	}
	return min(max(d, minCyclePeriod), maxCyclePeriod)
}

// isoDuration reads the day and time parts of an ISO 8601 duration
// (PnDTnHnMnS, or PnW); 0 for anything else.
func isoDuration(v string) time.Duration {
	rest, ok := strings.CutPrefix(strings.ToUpper(v), "P")
	if !ok || rest == "" {
		return 0
	}
	var total time.Duration
	inTime := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 6 {
			return 0
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := map[bool]map[byte]time.Duration{
			false: {'W': 7 * 24 * time.Hour, 'D': 24 * time.Hour},
			true:  {'H': time.Hour, 'M': time.Minute, 'S': time.Second},
		}[inTime][rest[i]]
		if unit == 0 {
			return 0
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	return total
}

// ForgetAccounts drops the permission answers this directory keeps about
// the tenant's accounts: the reporting API answered them closed (their
// data is erased) or updated (what is known of them is refreshed).
func (d *Directory) ForgetAccounts(tenant models.TenantID, accountIDs []string) {
	if d.perms == nil || len(accountIDs) == 0 {
		return
	}
	gone := make(map[string]bool, len(accountIDs))
	for _, id := range accountIDs {
		gone[id] = true
	}
	var keys []permKey
	for k := range d.perms.All() {
		if k.tenant == tenant && gone[k.account] {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		d.perms.Delete(k)
	}
}
