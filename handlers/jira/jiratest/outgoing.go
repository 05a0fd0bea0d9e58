package jiratest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers/connect"
)

// Lifecycle events, the last segment of the app's lifecycle URLs.
const (
	EventInstalled   = "installed"
	EventUninstalled = "uninstalled"
	EventEnabled     = "enabled"
	EventDisabled    = "disabled"
)

// Webhook events SendWebhook can send.
const (
	WebhookCommentCreated = "comment_created"
	WebhookIssueUpdated   = "jira:issue_updated"
)

// Versions the site reports in lifecycle payloads, shaped like Jira Cloud's.
const (
	serverVersion  = "100287"
	pluginsVersion = "1001.0.0-SNAPSHOT"
)

// jiraTimeLayout is how Jira formats timestamps in webhook payloads.
const jiraTimeLayout = "2006-01-02T15:04:05.000-0700"

// maxAppErrorBody is how much of the app's error answer StatusError keeps.
const maxAppErrorBody = 1024

// StatusError is a non-2xx answer from the app to a call the site made.
type StatusError struct {
	Method string
	// URL is the target without its query, which may carry a token.
	URL    string
	Status int
	// Body is the start of the answer, at most 1 KiB.
	Body string
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("jiratest: %s %s: status %d: %s", e.Method, e.URL, e.Status, e.Body)
}

// appTarget is a URL below the app's base URL and what its qsh and aud are
// computed from.
type appTarget struct {
	url      *url.URL
	base     string // the app's base URL, the aud of install tokens
	basePath string
}

// resolveApp checks that raw is below the app's base URL: the site signs
// tokens for the app only, never for another host a caller names.
func (s *Site) resolveApp(raw string) (appTarget, error) {
	s.mu.Lock()
	base, basePath := s.appBaseURL, s.appBasePath
	s.mu.Unlock()
	if base == "" {
		return appTarget{}, errors.New("jiratest: SetAppBaseURL was not called")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return appTarget{}, fmt.Errorf("jiratest: parse app url: %w", err)
	}
	p := u.EscapedPath()
	if u.Scheme+"://"+u.Host+basePath != base || (p != basePath && !strings.HasPrefix(p, basePath+"/")) {
		return appTarget{}, fmt.Errorf("jiratest: %s is not below the app base url %s", u.Redacted(), base)
	}
	return appTarget{url: u, base: base, basePath: basePath}, nil
}

// appURL returns the app's base URL joined with appPath ("/pages/x").
func (s *Site) appURL(appPath string) (string, error) {
	if !strings.HasPrefix(appPath, "/") {
		return "", fmt.Errorf("jiratest: app path %q must start with /", appPath)
	}
	s.mu.Lock()
	base := s.appBaseURL
	s.mu.Unlock()
	if base == "" {
		return "", errors.New("jiratest: SetAppBaseURL was not called")
	}
	return base + appPath, nil
}

// SignInstall returns a lifecycle token for method on appURL signed as
// Atlassian signs installs: RS256 with the site's kid, iss the client key,
// aud the app's base URL, the real qsh relative to the app's base path,
// valid for 3 minutes. mutate, when not nil, may change the claims before
// signing, to build tampered tokens in tests.
func (s *Site) SignInstall(method, appURL string, mutate func(*connect.Claims)) (string, error) {
	t, err := s.resolveApp(appURL)
	if err != nil {
		return "", fmt.Errorf("jiratest: sign install: %w", err)
	}
	now := s.now()
	claims := &connect.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.clientKey,
			Audience:  jwt.ClaimStrings{t.base},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(maxTokenTTL)),
		},
		QSH: connect.URLQSH(method, t.url, t.basePath),
	}
	if mutate != nil {
		mutate(claims)
	}
	// Signed here rather than with connect.SignInstallRS256 so that mutate
	// can reach every claim; the two must agree, which the tests check by
	// verifying with connect.InstallVerifier.
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.installKey)
	if err != nil {
		return "", fmt.Errorf("jiratest: sign install: %w", err)
	}
	return signed, nil
}

// SignToken returns an HS256 token for method on appURL signed as Jira
// signs requests to an app: iss the client key, sub accountID (left out
// when empty), the real qsh relative to the app's base path, valid for 3
// minutes, signed with the shared secret. mutate is as for SignInstall.
func (s *Site) SignToken(method, appURL, accountID string, mutate func(*connect.Claims)) (string, error) {
	t, err := s.resolveApp(appURL)
	if err != nil {
		return "", fmt.Errorf("jiratest: sign token: %w", err)
	}
	now := s.now()
	claims := &connect.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.clientKey,
			Subject:   accountID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(maxTokenTTL)),
		},
		QSH: connect.URLQSH(method, t.url, t.basePath),
	}
	if mutate != nil {
		mutate(claims)
	}
	signed, err := connect.SignHS256(claims, s.SharedSecret())
	if err != nil {
		return "", fmt.Errorf("jiratest: sign token: %w", err)
	}
	return signed, nil
}

// ContextToken returns the token AP.context.getToken() gives the app's
// pages: iss the client key, sub accountID, qsh "context-qsh", valid for 3
// minutes. Use it as "Authorization: JWT <token>" on the app's /api/v1.
func (s *Site) ContextToken(accountID string) string {
	tok, err := connect.NewContextToken(s.clientKey, accountID, s.SharedSecret(), s.now(), maxTokenTTL)
	if err != nil {
		// New guarantees a client key and a secret, the only inputs that
		// can make signing fail.
		panic(fmt.Sprintf("jiratest: context token: %v", err))
	}
	return tok
}

// SignedURL returns the full app URL for method on appPath with query and a
// jwt parameter carrying a real-qsh token for accountID, as Jira builds the
// iframe URLs of /pages/... It panics if SetAppBaseURL was not called or
// appPath does not start with "/": both are mistakes in the calling code.
func (s *Site) SignedURL(method, appPath string, query url.Values, accountID string) string {
	target, err := s.appURL(appPath)
	if err == nil && len(query) > 0 {
		target += "?" + query.Encode()
	}
	var tok string
	if err == nil {
		tok, err = s.SignToken(method, target, accountID, nil)
	}
	if err != nil {
		panic(fmt.Sprintf("jiratest: signed url: %v", err))
	}
	sep := "?"
	if len(query) > 0 {
		sep = "&"
	}
	return target + sep + "jwt=" + url.QueryEscape(tok)
}

// Sign sets "Authorization: JWT <token>" on req, a request to the app, with
// a real-qsh token for accountID (empty for webhooks and lifecycle calls).
func (s *Site) Sign(req *http.Request, accountID string) error {
	tok, err := s.SignToken(req.Method, req.URL.String(), accountID, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "JWT "+tok)
	return nil
}

// Send sends req to the app and turns a non-2xx answer into *StatusError.
func (s *Site) Send(req *http.Request) error {
	where := req.URL.Scheme + "://" + req.URL.Host + req.URL.EscapedPath()
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("jiratest: %s %s: %w", req.Method, where, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAppErrorBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Method: req.Method, URL: where, Status: resp.StatusCode, Body: string(body)}
	}
	return nil
}

// lifecyclePayload is the body Jira posts to every lifecycle callback.
type lifecyclePayload struct {
	Key            string `json:"key"`
	ClientKey      string `json:"clientKey"`
	SharedSecret   string `json:"sharedSecret"`
	BaseURL        string `json:"baseUrl"`
	DisplayURL     string `json:"displayUrl"`
	ProductType    string `json:"productType"`
	Description    string `json:"description"`
	ServerVersion  string `json:"serverVersion"`
	PluginsVersion string `json:"pluginsVersion"`
	EventType      string `json:"eventType"`
}

// LifecycleRequest builds the signed POST of a lifecycle event to the app:
// installed and uninstalled are signed RS256 (SignInstall), enabled and
// disabled HS256 with the shared secret (SignToken). Tests can alter the
// request before sending it with Send.
func (s *Site) LifecycleRequest(ctx context.Context, event string) (*http.Request, error) {
	var signed bool
	switch event {
	case EventInstalled, EventUninstalled:
		signed = true
	case EventEnabled, EventDisabled:
	default:
		return nil, fmt.Errorf("jiratest: unknown lifecycle event %q", event)
	}
	target, err := s.appURL("/lifecycle/" + event)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	p := lifecyclePayload{
		Key: s.appKey, ClientKey: s.clientKey, SharedSecret: string(s.secret),
		BaseURL: s.baseURL, DisplayURL: s.baseURL, ProductType: "jira", Description: "Simulated Jira",
		ServerVersion: serverVersion, PluginsVersion: pluginsVersion, EventType: event,
	}
	s.mu.Unlock()
	if p.BaseURL == "" {
		return nil, fmt.Errorf("jiratest: %s: SetBaseURL was not called", event)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("jiratest: %s: encode payload: %w", event, err)
	}
	var tok string
	if signed {
		tok, err = s.SignInstall(http.MethodPost, target, nil)
	} else {
		tok, err = s.SignToken(http.MethodPost, target, "", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("jiratest: %s: %w", event, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("jiratest: %s: %w", event, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "JWT "+tok)
	return req, nil
}

// InstallRequest builds the signed installed callback (see
// LifecycleRequest).
func (s *Site) InstallRequest(ctx context.Context) (*http.Request, error) {
	return s.LifecycleRequest(ctx, EventInstalled)
}

// sendLifecycle builds and sends one lifecycle callback.
func (s *Site) sendLifecycle(ctx context.Context, event string) error {
	req, err := s.LifecycleRequest(ctx, event)
	if err != nil {
		return err
	}
	return s.Send(req)
}

// Install posts the installed callback with the current shared secret;
// after RotateSecret it plays a reinstall.
func (s *Site) Install(ctx context.Context) error { return s.sendLifecycle(ctx, EventInstalled) }

// Uninstall posts the uninstalled callback.
func (s *Site) Uninstall(ctx context.Context) error { return s.sendLifecycle(ctx, EventUninstalled) }

// Enable posts the enabled callback.
func (s *Site) Enable(ctx context.Context) error { return s.sendLifecycle(ctx, EventEnabled) }

// Disable posts the disabled callback.
func (s *Site) Disable(ctx context.Context) error { return s.sendLifecycle(ctx, EventDisabled) }

// SendWebhook posts event (WebhookCommentCreated or WebhookIssueUpdated),
// acted by accountID, to the app's /webhooks/activity, signed with a
// real-qsh token without sub as Jira signs webhooks.
func (s *Site) SendWebhook(ctx context.Context, event, accountID string) error {
	payload, err := s.webhookPayload(event, accountID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("jiratest: webhook %s: encode: %w", event, err)
	}
	target, err := s.appURL("/webhooks/activity")
	if err != nil {
		return fmt.Errorf("jiratest: webhook %s: %w", event, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("jiratest: webhook %s: %w", event, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := s.Sign(req, ""); err != nil {
		return fmt.Errorf("jiratest: webhook %s: %w", event, err)
	}
	return s.Send(req)
}

// webhookPayload builds a trimmed but realistic payload: the fields the app
// reads plus enough of the rest that a parser expecting Jira's shape works.
func (s *Site) webhookPayload(event, accountID string) (map[string]any, error) {
	if accountID == "" {
		return nil, fmt.Errorf("jiratest: webhook %s: empty account id", event)
	}
	if event != WebhookCommentCreated && event != WebhookIssueUpdated {
		return nil, fmt.Errorf("jiratest: unknown webhook event %q", event)
	}
	s.mu.Lock()
	baseURL := s.baseURL
	u, known := s.users[accountID]
	project := webhookProject(u, s.projects)
	s.commentSeq++
	seq := s.commentSeq
	s.mu.Unlock()
	if !known {
		// Jira can name users the site no longer knows (a removed agent's
		// late event); they keep their id.
		u = UserSpec{AccountID: accountID, DisplayName: accountID, TimeZone: "UTC"}
	}
	user := toJSON(u, baseURL)
	now := s.now()
	projectID := strconv.FormatInt(project.ID, 10)
	issueID := strconv.FormatInt(10000+project.ID, 10)
	issue := map[string]any{
		"id":   issueID,
		"self": baseURL + "/rest/api/3/issue/" + issueID,
		"key":  project.Key + "-1",
		"fields": map[string]any{
			"summary": "Simulated request",
			"project": map[string]any{
				"id": projectID, "key": project.Key, "name": project.Name,
				"self": baseURL + "/rest/api/3/project/" + projectID,
			},
		},
	}
	payload := map[string]any{"timestamp": now.UnixMilli(), "webhookEvent": event, "issue": issue}
	switch event {
	case WebhookCommentCreated:
		commentID := strconv.Itoa(10000 + seq)
		payload["comment"] = map[string]any{
			"id":           commentID,
			"self":         baseURL + "/rest/api/3/issue/" + issueID + "/comment/" + commentID,
			"author":       user,
			"updateAuthor": user,
			"body":         "Simulated comment",
			"created":      now.Format(jiraTimeLayout),
			"updated":      now.Format(jiraTimeLayout),
		}
	case WebhookIssueUpdated:
		payload["issue_event_type_name"] = "issue_generic"
		payload["user"] = user
		payload["changelog"] = map[string]any{
			"id": strconv.Itoa(10000 + seq),
			"items": []map[string]any{{
				"field": "status", "fieldtype": "jira",
				"from": "1", "fromString": "Open", "to": "3", "toString": "In Progress",
			}},
		}
	}
	return payload, nil
}

// webhookProject picks the project an event happens in: the first the user
// is an agent of, else the first project, else a placeholder.
func webhookProject(u UserSpec, projects []ProjectSpec) ProjectSpec {
	for _, p := range projects {
		if slices.Contains(u.Agent, p.Key) {
			return p
		}
	}
	if len(projects) > 0 {
		return projects[0]
	}
	return ProjectSpec{ID: 10000, Key: "SIM", Name: "Simulated"}
}
