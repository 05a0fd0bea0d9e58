package jiratest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"agentpresence/handlers/connect"
)

// Atlassian's published test accounts of the personal data reporting API
// (user privacy guide, "Testing"): an active account, which needs no
// action, and a closed one. There is none for "updated".
const (
	TestActiveAccount = "5be24ad8b1653240376955d2"
	TestClosedAccount = "5be24ba3f91c106033269289"
)

// maxReportAccounts is the most accounts one report may carry.
const maxReportAccounts = 90

// reportAccountID is the shape the API accepts.
var reportAccountID = regexp.MustCompile(`^[A-Za-z0-9:-]{1,128}$`)

// PrivacyAPI plays Atlassian's personal data reporting API
// (POST /app/report-accounts/): it checks each report as the guide
// describes it (1–90 accounts, ids of Atlassian's shape and never
// "unknown", RFC 3339 times), answers 200 with the closed and updated
// accounts among those sent, or 204 when none needs action, and sends
// the Cycle-Period it was given. Tests make it answer 429 with a
// Retry-After, or fail, and read the calls it received. The closed test
// account is always closed. A Site serves one below its base URL
// (Site.Privacy), for Connect apps' JWTs and Forge apps' system tokens.
type PrivacyAPI struct {
	now  func() time.Time
	auth func(r *http.Request) (who, reason string)

	mu       sync.Mutex
	closed   map[string]bool
	updated  map[string]time.Time // when each account was updated
	cycle    string
	throttle []string
	fail     []int
	calls    []PrivacyCall
}

// PrivacyCall is one report the API received.
type PrivacyCall struct {
	At time.Time
	// Auth is who sent it (AuthJWT, AuthForgeSystem), Reason why it was
	// refused, if it was.
	Auth, Reason string
	Status       int
	Accounts     []PrivacyAccount
}

// PrivacyAccount is one account of a report, as sent.
type PrivacyAccount struct {
	AccountID string `json:"accountId"`
	UpdatedAt string `json:"updatedAt"`
}

// NewPrivacyAPI builds the API on a clock (nil: time.Now); auth decides
// who may report (nil: anyone, as "test").
func NewPrivacyAPI(now func() time.Time, auth func(r *http.Request) (who, reason string)) *PrivacyAPI {
	if now == nil {
		now = time.Now
	}
	if auth == nil {
		auth = func(*http.Request) (string, string) { return "test", "" }
	}
	return &PrivacyAPI{now: now, auth: auth, closed: map[string]bool{TestClosedAccount: true}, updated: map[string]time.Time{}}
}

// SetClosed makes the accounts closed: every report naming them lists
// them closed.
func (p *PrivacyAPI) SetClosed(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.closed[id] = true
	}
}

// SetUpdated updates the accounts now: a report naming them with an older
// updatedAt lists them updated; one with a later time (the app refreshed
// them) needs no action.
func (p *PrivacyAPI) SetUpdated(ids ...string) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.updated[id] = now
	}
}

// SetCyclePeriod sets the Cycle-Period header of the answers ("" none).
func (p *PrivacyAPI) SetCyclePeriod(v string) {
	p.mu.Lock()
	p.cycle = v
	p.mu.Unlock()
}

// Throttle answers the next report 429 with this Retry-After ("" none).
func (p *PrivacyAPI) Throttle(retryAfter string) {
	p.mu.Lock()
	p.throttle = append(p.throttle, retryAfter)
	p.mu.Unlock()
}

// FailNext answers the next report with status (a 5xx, say).
func (p *PrivacyAPI) FailNext(status int) {
	p.mu.Lock()
	p.fail = append(p.fail, status)
	p.mu.Unlock()
}

// Calls returns the reports received, oldest first.
func (p *PrivacyAPI) Calls() []PrivacyCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// ServeHTTP serves POST /app/report-accounts/.
func (p *PrivacyAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := PrivacyCall{At: p.now()}
	defer func() {
		p.mu.Lock()
		p.calls = append(p.calls, call)
		p.mu.Unlock()
	}()
	fail := func(status int, kind, message string) {
		call.Status, call.Reason = status, message
		writeJSON(w, status, map[string]string{"errorType": kind, "errorMessage": message})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "method", r.Method+" is not allowed")
		return
	}
	who, reason := p.auth(r)
	call.Auth = who
	if reason != "" {
		fail(http.StatusUnauthorized, "unauthorized", reason)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		fail(http.StatusUnsupportedMediaType, "content_type", "application/json is required")
		return
	}
	var body struct {
		Accounts []PrivacyAccount `json:"accounts"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		fail(http.StatusBadRequest, "bad_request", "the body is not a report: "+err.Error())
		return
	}
	call.Accounts = body.Accounts
	switch n := len(body.Accounts); {
	case n == 0:
		fail(http.StatusBadRequest, "bad_request", "no accounts")
		return
	case n > maxReportAccounts:
		fail(http.StatusBadRequest, "bad_request", "more than 90 accounts")
		return
	}
	for _, a := range body.Accounts {
		if a.AccountID == "unknown" || !reportAccountID.MatchString(a.AccountID) {
			fail(http.StatusBadRequest, "bad_request", "not an account id: "+a.AccountID)
			return
		}
		if _, err := time.Parse(time.RFC3339, a.UpdatedAt); err != nil {
			fail(http.StatusBadRequest, "bad_request", "updatedAt is not RFC 3339: "+a.UpdatedAt)
			return
		}
	}
	p.mu.Lock()
	var retry *string
	if len(p.throttle) > 0 {
		retry = &p.throttle[0]
		p.throttle = p.throttle[1:]
	}
	failWith := 0
	if retry == nil && len(p.fail) > 0 {
		failWith, p.fail = p.fail[0], p.fail[1:]
	}
	cycle := p.cycle
	var answer []map[string]string
	if retry == nil && failWith == 0 {
		for _, a := range body.Accounts {
			switch {
			case p.closed[a.AccountID]:
				answer = append(answer, map[string]string{"accountId": a.AccountID, "status": "closed"})
			default:
				if changed, ok := p.updated[a.AccountID]; ok {
					if at, _ := time.Parse(time.RFC3339, a.UpdatedAt); at.Before(changed) {
						answer = append(answer, map[string]string{"accountId": a.AccountID, "status": "updated"})
					}
				}
			}
		}
	}
	p.mu.Unlock()
	switch {
	case retry != nil:
		if *retry != "" {
			w.Header().Set("Retry-After", *retry)
		}
		fail(http.StatusTooManyRequests, "rate_limited", "too many requests")
		return
	case failWith != 0:
		fail(failWith, "unavailable", "the service is unavailable")
		return
	}
	if cycle != "" {
		w.Header().Set("Cycle-Period", cycle)
	}
	if len(answer) == 0 {
		call.Status = http.StatusNoContent
		w.WriteHeader(http.StatusNoContent)
		return
	}
	call.Status = http.StatusOK
	writeJSON(w, http.StatusOK, map[string]any{"accounts": answer})
}

// Privacy is the site's personal data reporting API, served at
// {base}/app/report-accounts/: the Connect app reports with a JWT of the
// request's qsh and no sub (the app as itself), a Forge app with its
// system token (never a user's).
func (s *Site) Privacy() *PrivacyAPI { return s.privacy }

// privacyAuth says who reported, or why the report is refused.
func (s *Site) privacyAuth(r *http.Request) (string, string) {
	s.mu.Lock()
	basePath, secret := s.basePath, s.secret
	s.mu.Unlock()
	who, reason := s.authenticate(r, basePath, secret)
	switch {
	case reason != "":
		return who.kind, reason
	case who.kind == AuthForgeUser:
		return who.kind, "the app reports as itself, with its system token"
	case who.kind == AuthJWT:
		// authenticate checked the signature, qsh, issuer and lifetime;
		// the app must also act as itself: no sub.
		token, _ := connect.TokenFromRequest(r)
		claims, err := (&connect.Verifier{Leeway: clockSkew, Now: s.now}).VerifyHS256(token, secret, connect.RequestQSH(r, basePath), false)
		if err != nil {
			return who.kind, connect.Reason(err)
		}
		if claims.Subject != "" {
			return who.kind, "the app reports as itself: the token must have no sub"
		}
	}
	return who.kind, ""
}
