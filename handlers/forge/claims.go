package forge

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of a Forge Invocation Token as Forge documents
// them (Forge Remote essentials, "The Forge Invocation Token (FIT)").
// Fields the service does not use are left out; unknown ones are ignored.
type Claims struct {
	jwt.RegisteredClaims
	App       AppClaim      `json:"app"`
	Context   *ContextClaim `json:"context,omitempty"`
	Principal string        `json:"principal,omitempty"`
	// ICLabel is set for invocations from an Isolated Cloud, whose keys are
	// published elsewhere; this service does not serve those.
	ICLabel string `json:"icLabel,omitempty"`
}

// AppClaim is the FIT's app object.
type AppClaim struct {
	ID             string            `json:"id"`
	AppVersion     string            `json:"appVersion,omitempty"`
	InstallationID string            `json:"installationId"`
	APIBaseURL     string            `json:"apiBaseUrl"`
	Installation   *InstallationInfo `json:"installation,omitempty"`
	Environment    *EnvironmentInfo  `json:"environment,omitempty"`
	Module         *ModuleInfo       `json:"module,omitempty"`
	License        *LicenseInfo      `json:"license,omitempty"`
}

// InstallationInfo is app.installation: the installation and the product
// contexts it covers.
type InstallationInfo struct {
	ID       string                `json:"id"`
	Contexts []InstallationContext `json:"contexts,omitempty"`
}

// InstallationContext is one entry of app.installation.contexts.
type InstallationContext struct {
	Name       string `json:"name"`
	APIBaseURL string `json:"apiBaseUrl"`
	CloudID    string `json:"cloudId,omitempty"`
}

// EnvironmentInfo is app.environment.
type EnvironmentInfo struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// ModuleInfo is app.module: the module that caused the invocation
// ("core:endpoint" for triggers).
type ModuleInfo struct {
	Type string `json:"type"`
	Key  string `json:"key"`
}

// LicenseInfo is app.license, present only for paid production apps.
type LicenseInfo struct {
	Active       *bool  `json:"active,omitempty"`
	IsEvaluation *bool  `json:"isEvaluation,omitempty"`
	Type         string `json:"type,omitempty"`
}

// ContextClaim is the FIT's context object, present for UI invocations.
type ContextClaim struct {
	CloudID   string `json:"cloudId,omitempty"`
	SiteURL   string `json:"siteUrl,omitempty"`
	ModuleKey string `json:"moduleKey,omitempty"`
	LocalID   string `json:"localId,omitempty"`
}

// Invocation is what a verified FIT tells the service: who calls, for which
// installation, and where that installation's Jira answers. It is
// immutable once returned (cached values are shared between requests).
type Invocation struct {
	// AppID is the app's ARI (equal to the token's aud).
	AppID string
	// InstallationID is the installation's ARI,
	// "ari:cloud:ecosystem::installation/<uuid>": the tenant key. It changes
	// on reinstall, never on upgrade.
	InstallationID string
	// CloudID is the site's id (a UUID), stable across reinstalls.
	CloudID string
	// SiteURL is the site's human-facing URL when Forge sends it
	// (UI invocations), else "".
	SiteURL string
	// APIBaseURL is where the app calls the site's REST APIs, with the
	// system or user token: "https://api.atlassian.com/ex/jira/<cloudId>".
	APIBaseURL string
	// Principal is the account id of the user in session ("" for events,
	// triggers and anonymous portal visitors).
	Principal string
	// EnvironmentType is DEVELOPMENT, STAGING or PRODUCTION when sent.
	EnvironmentType string
	// ModuleKey and ModuleType name the module that invoked the remote.
	ModuleKey, ModuleType string
	// AppVersion is the deployed app version that was invoked.
	AppVersion string
	// LicenseActive is nil when Forge sends no license (free apps,
	// development and staging).
	LicenseActive *bool
	// TokenID is the jti, for logs that must tell invocations apart.
	TokenID string
	// IssuedAt and ExpiresAt bound the token's validity.
	IssuedAt, ExpiresAt time.Time
}

// Anonymous reports an invocation without a known user: events, triggers,
// and anonymous portal visitors, for whom Forge uses the account id
// "unidentified".
func (i *Invocation) Anonymous() bool {
	return i.Principal == "" || i.Principal == anonymousAccount
}

// anonymousAccount is the account id Forge gives anonymous portal users.
const anonymousAccount = "unidentified"

// accountIDPattern follows Atlassian's description of account ids: 1–128
// characters, alphanumerics, "-" and ":" ("557058:f58131cb-…",
// "5b10ac8d82e05b22cc7d4ef5").
var accountIDPattern = regexp.MustCompile(`^[A-Za-z0-9:-]{1,128}$`)

// labelPattern bounds the free-form identifiers we keep (module keys and
// types, environment type, jti, app version).
var labelPattern = regexp.MustCompile(`^[A-Za-z0-9._:/@+-]{1,255}$`)

// invocation checks the shape of the claims the service relies on and
// returns them as an Invocation. wantApp is the app's ARI.
func (c *Claims) invocation(wantApp string, allowLoopback bool) (*Invocation, error) {
	if c.App.ID != wantApp {
		return nil, fmt.Errorf("app.id is not this app: %w", ErrClaims)
	}
	inst := c.App.InstallationID
	if inst == "" && c.App.Installation != nil {
		inst = c.App.Installation.ID
	}
	if inst == "" {
		return nil, fmt.Errorf("missing app.installationId: %w", ErrClaims)
	}
	if !validInstallationID(inst) {
		return nil, fmt.Errorf("app.installationId is not an installation ARI: %w", ErrClaims)
	}
	if c.App.Installation != nil && c.App.Installation.ID != "" && c.App.Installation.ID != inst {
		return nil, fmt.Errorf("app.installation.id differs from app.installationId: %w", ErrClaims)
	}
	apiBase, err := checkURL(c.App.APIBaseURL, allowLoopback)
	if err != nil {
		return nil, fmt.Errorf("app.apiBaseUrl: %w", err)
	}
	cloudID, err := c.cloudID()
	if err != nil {
		return nil, err
	}
	inv := &Invocation{
		AppID:          wantApp,
		InstallationID: inst,
		CloudID:        cloudID,
		APIBaseURL:     apiBase,
		TokenID:        c.ID,
	}
	if c.Context != nil && c.Context.SiteURL != "" {
		if inv.SiteURL, err = checkURL(c.Context.SiteURL, allowLoopback); err != nil {
			return nil, fmt.Errorf("context.siteUrl: %w", err)
		}
	}
	if c.Principal != "" && !accountIDPattern.MatchString(c.Principal) {
		return nil, fmt.Errorf("principal is not an account id: %w", ErrClaims)
	}
	inv.Principal = c.Principal
	if env := c.App.Environment; env != nil && env.Type != "" {
		if !labelPattern.MatchString(env.Type) {
			return nil, fmt.Errorf("app.environment.type: %w", ErrClaims)
		}
		inv.EnvironmentType = env.Type
	}
	if m := c.App.Module; m != nil {
		if (m.Key != "" && !labelPattern.MatchString(m.Key)) || (m.Type != "" && !labelPattern.MatchString(m.Type)) {
			return nil, fmt.Errorf("app.module: %w", ErrClaims)
		}
		inv.ModuleKey, inv.ModuleType = m.Key, m.Type
	}
	for _, s := range []string{c.App.AppVersion, c.ID} {
		if s != "" && !labelPattern.MatchString(s) {
			return nil, fmt.Errorf("app.appVersion or jti: %w", ErrClaims)
		}
	}
	inv.AppVersion = c.App.AppVersion
	if c.App.License != nil {
		inv.LicenseActive = c.App.License.Active
	}
	if c.IssuedAt != nil {
		inv.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		inv.ExpiresAt = c.ExpiresAt.Time
	}
	return inv, nil
}

// cloudID returns context.cloudId, or the Jira context's cloudId of the
// installation when the invocation has no context (events, triggers); the
// two must agree when both are sent.
func (c *Claims) cloudID() (string, error) {
	var fromContext, fromInstallation string
	if c.Context != nil {
		fromContext = c.Context.CloudID
	}
	if c.App.Installation != nil {
		for _, ctx := range c.App.Installation.Contexts {
			if ctx.CloudID == "" {
				continue
			}
			if fromInstallation != "" && fromInstallation != ctx.CloudID {
				return "", fmt.Errorf("installation contexts name two sites: %w", ErrClaims)
			}
			fromInstallation = ctx.CloudID
		}
	}
	id := fromContext
	if id == "" {
		id = fromInstallation
	}
	switch {
	case id == "":
		return "", fmt.Errorf("missing cloud id: %w", ErrClaims)
	case !uuidPattern.MatchString(id):
		return "", fmt.Errorf("cloud id is not a UUID: %w", ErrClaims)
	case fromContext != "" && fromInstallation != "" && fromContext != fromInstallation:
		return "", fmt.Errorf("context.cloudId differs from the installation's: %w", ErrClaims)
	}
	return strings.ToLower(id), nil
}

// validInstallationID reports whether id is an installation ARI.
func validInstallationID(id string) bool {
	rest, ok := strings.CutPrefix(id, installationARIPrefix)
	return ok && uuidPattern.MatchString(rest)
}

// checkURL accepts an absolute https URL without credentials, query or
// fragment (or http on a loopback host when allowLoopback is set, for the
// test and demo platform), and returns it without a trailing slash.
func checkURL(raw string, allowLoopback bool) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("missing: %w", ErrClaims)
	}
	if len(raw) > 2048 {
		return "", fmt.Errorf("too long: %w", ErrClaims)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("not an absolute URL: %w", ErrClaims)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowLoopback && IsLoopbackHost(u.Hostname()):
	default:
		return "", fmt.Errorf("scheme %q not allowed: %w", u.Scheme, ErrClaims)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// IsLoopbackHost reports whether host (without port) is "localhost" or a
// loopback IP address (127.0.0.0/8, ::1).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
