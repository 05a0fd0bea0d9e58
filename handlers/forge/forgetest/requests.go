package forgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"agentpresence/handlers/forge"
)

// Event names Forge delivers to a remote's endpoints (Forge events
// reference). Forge sends no uninstalled event: the preUninstall module's
// call (PreUninstall) is the uninstall signal.
const (
	// EventInstalled is sent when the app is installed on a site.
	EventInstalled = "avi:forge:installed:app"
	// EventUpgraded is sent on a major version upgrade only; minor and
	// patch upgrades, which are automatic, send nothing.
	EventUpgraded = "avi:forge:upgraded:app"
	// EventCommented is sent when a comment is created or edited.
	EventCommented = "avi:jira:commented:issue"
	// EventIssueUpdated is sent when a field of an issue changes.
	EventIssueUpdated = "avi:jira:updated:issue"
)

// ErrNotLoopback reports a remote URL off the loopback addresses: the
// stand-in never sends anywhere else.
var ErrNotLoopback = errors.New("forgetest: remote is not on a loopback address")

// requestTimeout bounds each request Do sends.
const requestTimeout = 10 * time.Second

// remoteURL joins the remote's base URL and a path, refusing anything
// but http(s) on a loopback host before any connection is made.
func remoteURL(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("forgetest: remote base url %.80q: %w", base, err)
	}
	if err := checkLoopback(u); err != nil {
		return "", err
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("forgetest: path %.80q must start with /", path)
	}
	return strings.TrimRight(base, "/") + path, nil
}

// checkLoopback accepts http(s) URLs whose host is a loopback name or
// address, and nothing else.
func checkLoopback(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("forgetest: scheme %.16q: only http(s)", u.Scheme)
	}
	if u.Host == "" || !forge.IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%w: %.80q", ErrNotLoopback, u.Hostname())
	}
	return nil
}

// newRequest builds a request to the remote carrying fit and any extra
// headers, with a JSON body when body is not nil.
func newRequest(ctx context.Context, method, target string, body any, fit string, extra http.Header) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("forgetest: body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("forgetest: request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+fit)
	// Forge traces every call with B3 headers.
	req.Header.Set("X-B3-Traceid", newID()[:16])
	req.Header.Set("X-B3-Spanid", newID()[:16])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range extra {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req, nil
}

// InvokeRemote builds the request Forge sends when a page calls
// invokeRemote({path, method, body}) through an endpoint with
// appSystemToken and appUserToken enabled: the FIT (with the page's
// context and the user), the system token and, with a user, the user
// token.
func (p *Platform) InvokeRemote(ctx context.Context, remote string, inst Installation, principal, method, path string, body any) (*http.Request, error) {
	target, err := remoteURL(remote, path)
	if err != nil {
		return nil, err
	}
	fit, err := p.FIT(inst, Invocation{Principal: principal})
	if err != nil {
		return nil, err
	}
	extra := http.Header{}
	sys, _, err := p.SystemToken(inst)
	if err != nil {
		return nil, err
	}
	extra.Set(forge.SystemTokenHeader, sys)
	if principal != "" {
		user, _, err := p.UserToken(inst, principal)
		if err != nil {
			return nil, err
		}
		extra.Set(forge.UserTokenHeader, user)
	}
	return newRequest(ctx, method, target, body, fit, extra)
}

// RequestRemote builds the request a page's requestRemote(remoteKey,
// {path, method, body}) makes: straight to the remote, with the FIT but no
// OAuth token.
func (p *Platform) RequestRemote(ctx context.Context, remote string, inst Installation, principal, method, path string, body any) (*http.Request, error) {
	target, err := remoteURL(remote, path)
	if err != nil {
		return nil, err
	}
	fit, err := p.FIT(inst, Invocation{Principal: principal})
	if err != nil {
		return nil, err
	}
	return newRequest(ctx, method, target, body, fit, nil)
}

// backend builds a POST of a trigger or event to an endpoint route: FIT
// without context or user (module "core:endpoint"), and the system token.
func (p *Platform) backend(ctx context.Context, remote, route, endpointKey string, inst Installation, body any) (*http.Request, error) {
	target, err := remoteURL(remote, route)
	if err != nil {
		return nil, err
	}
	fit, err := p.FIT(inst, Invocation{ModuleType: "core:endpoint", ModuleKey: endpointKey, Backend: true})
	if err != nil {
		return nil, err
	}
	sys, _, err := p.SystemToken(inst)
	if err != nil {
		return nil, err
	}
	return newRequest(ctx, http.MethodPost, target, body, fit, http.Header{forge.SystemTokenHeader: {sys}})
}

// ProductEvent builds the delivery of a product event (EventCommented,
// EventIssueUpdated, ...) caused by accountID to the endpoint route. The
// body is the event's payload; Forge's field names are used for the parts
// the service reads (eventType, atlassianId, issue, comment).
func (p *Platform) ProductEvent(ctx context.Context, remote, route string, inst Installation, event, accountID string, issue map[string]any) (*http.Request, error) {
	body := map[string]any{"eventType": event, "selfGenerated": false, "issue": issue}
	if accountID != "" {
		body["atlassianId"] = accountID
		body["associatedUsers"] = []any{map[string]any{"accountId": accountID}}
		if event == EventCommented {
			body["comment"] = map[string]any{"id": "10000", "author": map[string]any{"accountId": accountID}}
		}
	}
	return p.backend(ctx, remote, route, "events", inst, body)
}

// Installed builds the avi:forge:installed:app delivery for inst,
// installed by installer.
func (p *Platform) Installed(ctx context.Context, remote, route string, inst Installation, installer string) (*http.Request, error) {
	return p.backend(ctx, remote, route, "lifecycle", inst, p.lifecycleBody(EventInstalled, inst, "installerAccountId", installer))
}

// Upgraded builds the avi:forge:upgraded:app delivery (major upgrades
// only) for inst, upgraded by upgrader.
func (p *Platform) Upgraded(ctx context.Context, remote, route string, inst Installation, upgrader string) (*http.Request, error) {
	return p.backend(ctx, remote, route, "lifecycle", inst, p.lifecycleBody(EventUpgraded, inst, "upgraderAccountId", upgrader))
}

// lifecycleBody is the payload of a lifecycle event. Forge documents id,
// the installer or upgrader, app and environment; eventType and context
// are what a remote is seen to receive besides (not documented, so the
// service must not depend on them).
func (p *Platform) lifecycleBody(event string, inst Installation, userField, user string) map[string]any {
	body := map[string]any{
		"eventType":   event,
		"id":          strings.TrimPrefix(inst.ID, "ari:cloud:ecosystem::installation/"),
		"app":         map[string]any{"id": strings.TrimPrefix(p.appID, "ari:cloud:ecosystem::app/"), "version": "1.0.0"},
		"environment": map[string]any{"id": newUUID()},
		"context":     "ari:cloud:jira::site/" + inst.CloudID,
	}
	if user != "" {
		body[userField] = user
	}
	return body
}

// PreUninstall builds the call of the preUninstall module: Forge's only
// signal that the app is being uninstalled (there is no
// avi:forge:uninstalled:app event).
func (p *Platform) PreUninstall(ctx context.Context, remote, route string, inst Installation) (*http.Request, error) {
	body := map[string]any{
		"context":      map[string]any{"cloudId": inst.CloudID, "moduleKey": "uninstall"},
		"contextToken": "stand-in",
	}
	return p.backend(ctx, remote, route, "uninstall", inst, body)
}

// ScheduledTrigger builds the call of a scheduled trigger to route.
func (p *Platform) ScheduledTrigger(ctx context.Context, remote, route string, inst Installation) (*http.Request, error) {
	body := map[string]any{"context": map[string]any{"cloudId": inst.CloudID, "moduleKey": "refresh"}}
	return p.backend(ctx, remote, route, "refresh", inst, body)
}

// Do sends req (built by this package) with a bounded timeout, checking
// once more that it goes to a loopback host.
func Do(req *http.Request) (*http.Response, error) {
	if err := checkLoopback(req.URL); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: requestTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		// Forge treats redirects as errors and never follows them.
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("forgetest: send: %w", err)
	}
	return resp, nil
}
