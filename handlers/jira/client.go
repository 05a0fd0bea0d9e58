package jira

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
	"sync"
	"time"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/forge"
)

// MaxTokenTTL is the longest lifetime Atlassian recommends for tokens an app
// signs; it is also the default.
const MaxTokenTTL = 3 * time.Minute

// DefaultTimeout bounds a whole request when the Client has no HTTP client
// of its own.
const DefaultTimeout = 10 * time.Second

// maxErrorBody is how much of an error response Error keeps.
const maxErrorBody = 512

// maxResponseBody bounds successful responses we decode; the largest page
// the app asks for is far below it.
const maxResponseBody = 8 << 20

// ErrNotFound matches an *Error for a 404 answer.
var ErrNotFound = errors.New("jira: not found")

// ErrUnauthorized matches an *Error for a 401 or 403 answer: the token was
// rejected or the app lacks the permission.
var ErrUnauthorized = errors.New("jira: unauthorized")

// ErrUnavailable wraps transport failures and matches an *Error for 429 and
// 5xx answers: worth retrying later.
var ErrUnavailable = errors.New("jira: unavailable")

// ErrInvalidRequest reports a request the client refuses to send, such as a
// site without a usable base URL or a path that would leave the site.
var ErrInvalidRequest = errors.New("jira: invalid request")

// Error is a non-2xx answer from Jira.
type Error struct {
	Status int
	Method string
	// Path is the request path without the query, which may carry
	// account ids.
	Path string
	// Body is the start of the response body, at most 512 bytes.
	Body string
}

// Error implements error. The body is left out: it may be long and is
// available in the Body field.
func (e *Error) Error() string {
	return fmt.Sprintf("jira %s %s: status %d", e.Method, e.Path, e.Status)
}

// Is lets errors.Is match the status classes ErrNotFound, ErrUnauthorized
// and ErrUnavailable.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrUnavailable:
		return e.Status == http.StatusTooManyRequests || e.Status >= 500
	}
	return false
}

// Client calls Jira as the app identified by AppKey. The zero value is not
// usable: AppKey is required.
type Client struct {
	// AppKey is the app's descriptor key, the iss of every token.
	AppKey string
	// HTTP sends the requests; nil means Targets.HTTPClient with
	// DefaultTimeout. One given here should come from Targets.HTTPClient,
	// whose dialer refuses private addresses.
	HTTP *http.Client
	// Targets says which sites may be called; its zero value allows https
	// to public addresses only.
	Targets TargetPolicy
	// Now is the clock for iat and exp; nil means time.Now.
	Now func() time.Time
	// TokenTTL is the token lifetime; zero or more than MaxTokenTTL means
	// MaxTokenTTL.
	TokenTTL time.Duration

	defaultHTTP     sync.Once
	defaultHTTPUsed *http.Client
}

// Site is one tenant's Jira as recorded at install time.
type Site struct {
	// BaseURL is the tenant's baseUrl, e.g. https://x.atlassian.net; it
	// may carry a path, which the qsh is computed relative to.
	BaseURL string
	// SharedSecret signs the tokens.
	SharedSecret []byte
	// Forge marks a Forge installation (ForgeSite): BaseURL is its
	// app.apiBaseUrl, and calls carry SystemToken as a Bearer token.
	Forge       bool
	SystemToken forge.OAuthToken
	// bearer replaces SystemToken for one call (a user token, forge.go).
	bearer forge.OAuthToken
}

// Do sends method pathAndQuery (relative to site.BaseURL, starting with "/")
// with body encoded as JSON when non-nil, and decodes a JSON answer into out
// when non-nil. Non-2xx answers are returned as *Error.
func (c *Client) Do(ctx context.Context, site Site, method, pathAndQuery string, body, out any) error {
	method = strings.ToUpper(method)
	target, basePath, err := resolve(site.BaseURL, pathAndQuery)
	if err != nil {
		return fmt.Errorf("jira %s: %w", method, err)
	}
	what := method + " " + target.EscapedPath()
	if err := c.Targets.CheckBaseURL(site.BaseURL); err != nil {
		return fmt.Errorf("jira %s: %w", what, err)
	}

	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if c.AppKey == "" {
		return fmt.Errorf("jira %s: empty app key: %w", what, ErrInvalidRequest)
	}
	var authorization string
	if site.Forge {
		authorization, err = site.bearerHeader(now())
	} else {
		authorization, err = c.connectHeader(method, target, basePath, site.SharedSecret, now())
	}
	if err != nil {
		return fmt.Errorf("jira %s: %w", what, err)
	}

	var reqBody io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("jira %s: encode body: %w", what, err)
		}
		reqBody = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), reqBody)
	if err != nil {
		return fmt.Errorf("jira %s: %w", what, err)
	}
	req.Header.Set("Authorization", authorization)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.httpClient().Do(req)
	if err != nil {
		// A caller that gave up is not an outage; keep the two apart so
		// callers do not retry or alert on their own cancellations. A
		// refused target is no outage either.
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("jira %s: %w", what, ctxErr)
		}
		if errors.Is(err, ErrForbiddenTarget) {
			return fmt.Errorf("jira %s: %w", what, err)
		}
		return fmt.Errorf("jira %s: %w: %w", what, ErrUnavailable, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &Error{Status: resp.StatusCode, Method: method, Path: target.EscapedPath(), Body: string(snippet)}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(out); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("jira %s: read response: %w", what, ctxErr)
		}
		return fmt.Errorf("jira %s: decode response: %w", what, err)
	}
	return nil
}

// connectHeader is the Authorization header of a call to a Connect site:
// a JWT for exactly this request, signed with the site's shared secret.
func (c *Client) connectHeader(method string, target *url.URL, basePath string, secret []byte, now time.Time) (string, error) {
	if len(secret) == 0 {
		// Never sign with an empty key: anyone could make that token.
		return "", fmt.Errorf("empty shared secret: %w", ErrInvalidRequest)
	}
	token, err := connect.NewRequestToken(c.AppKey, "", method, target, basePath, secret, now, c.ttl())
	if err != nil {
		return "", err
	}
	return "JWT " + token, nil
}

// httpClient is HTTP, or one guarded by Targets built once.
func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	c.defaultHTTP.Do(func() { c.defaultHTTPUsed = c.Targets.HTTPClient(DefaultTimeout) })
	return c.defaultHTTPUsed
}

// ttl returns the token lifetime, clamped to MaxTokenTTL.
func (c *Client) ttl() time.Duration {
	if c.TokenTTL <= 0 || c.TokenTTL > MaxTokenTTL {
		return MaxTokenTTL
	}
	return c.TokenTTL
}

// resolve joins the site base URL and a relative path-and-query, returning
// the target URL and the base path the qsh is relative to. It refuses
// anything that could send the tenant's token to another host.
func resolve(baseURL, pathAndQuery string) (*url.URL, string, error) {
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, "", fmt.Errorf("parse site base url: %w: %w", ErrInvalidRequest, err)
	}
	if (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.User != nil ||
		base.RawQuery != "" || base.Fragment != "" {
		return nil, "", fmt.Errorf("site base url must be http(s)://host[/path]: %w", ErrInvalidRequest)
	}
	ref, err := url.Parse(pathAndQuery)
	if err != nil {
		return nil, "", fmt.Errorf("parse path: %w: %w", ErrInvalidRequest, err)
	}
	if ref.Scheme != "" || ref.Host != "" || ref.User != nil || ref.Fragment != "" ||
		!strings.HasPrefix(pathAndQuery, "/") || strings.HasPrefix(pathAndQuery, "//") {
		return nil, "", fmt.Errorf("path must be relative to the site and start with /: %w", ErrInvalidRequest)
	}
	basePath := strings.TrimRight(base.EscapedPath(), "/")
	target, err := url.Parse(base.Scheme + "://" + base.Host + basePath + ref.EscapedPath())
	if err != nil {
		return nil, "", fmt.Errorf("build url: %w: %w", ErrInvalidRequest, err)
	}
	target.RawQuery = ref.RawQuery
	return target, basePath, nil
}
