package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira"
	"agentpresence/models"
)

// LifecycleStore is what the lifecycle callbacks need of the store.
type LifecycleStore interface {
	SaveInstall(ctx context.Context, in models.Install, at time.Time) (models.Tenant, error)
	TenantByClientKey(ctx context.Context, clientKey string) (models.Tenant, error)
	Uninstall(ctx context.Context, id models.TenantID, tok models.LifecycleToken, at time.Time) error
	SetEnabled(ctx context.Context, id models.TenantID, enabled bool, at time.Time) error
}

// Lifecycle handles Jira's installed/uninstalled (signed RS256 by
// Atlassian) and enabled/disabled (HS256 with the tenant's secret).
type Lifecycle struct {
	Store    LifecycleStore
	Installs *connect.InstallVerifier
	Tenants  *TenantCache
	// BaseURL is the audience signed installs must carry.
	BaseURL  string
	BasePath string
	Log      *slog.Logger
	// JiraTargets says which base URLs an install may give.
	JiraTargets jira.TargetPolicy
	Now         func() time.Time
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
	OAuthClientID  string `json:"oauthClientId"`
	EventType      string `json:"eventType"`
}

// maxBaseURLLen is what the store keeps of a base URL (models.Tenant).
const maxBaseURLLen = 512

// maxLifecycleBody bounds the callbacks' bodies; Jira's are about 1 KB.
const maxLifecycleBody = 64 << 10

func readLifecycle(c echo.Context) (lifecyclePayload, error) {
	var p lifecyclePayload
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, maxLifecycleBody+1))
	if err != nil {
		return p, badRequest("bad_body", "the body could not be read")
	}
	if len(raw) > maxLifecycleBody {
		return p, apiError(http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than 64 KiB")
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, badRequest("bad_json", "the body is not a JSON lifecycle payload")
	}
	if p.ClientKey == "" {
		return p, badRequest("missing_client_key", "clientKey is required")
	}
	return p, nil
}

// verifySigned checks the RS256 install signature of a lifecycle call and
// answers what the store needs to accept its token once only.
func (l *Lifecycle) verifySigned(c echo.Context, clientKey string) (models.LifecycleToken, error) {
	token, err := connect.TokenFromRequest(c.Request())
	if err != nil {
		return models.LifecycleToken{}, unauthorized("no_token", "installation callbacks must be signed (signed-install)")
	}
	claims, err := l.Installs.Verify(c.Request().Context(), token, l.BaseURL, connect.RequestQSH(c.Request(), l.BasePath), clientKey)
	switch {
	case errors.Is(err, connect.ErrKeyUnavailable):
		return models.LifecycleToken{}, &APIError{Status: http.StatusServiceUnavailable, Code: "install_keys_unavailable",
			Message: "the installation signing keys cannot be fetched now; try again", Header: map[string]string{"Retry-After": "10"}}
	case err != nil:
		return models.LifecycleToken{}, unauthorized(connect.Reason(err), authMessage(err))
	}
	// The verifier requires exp; iat is what orders the tenant's
	// callbacks, so a token without it cannot be placed and is refused.
	if claims.IssuedAt == nil {
		return models.LifecycleToken{}, unauthorized("missing_iat", "signed lifecycle tokens must carry iat")
	}
	digest := sha256.Sum256([]byte(token))
	return models.LifecycleToken{Digest: hex.EncodeToString(digest[:]), IssuedAt: claims.IssuedAt.Time,
		KeepUntil: claims.ExpiresAt.Add(max(l.Installs.Leeway, 0))}, nil
}

// replayError answers a refused lifecycle token: 401 with a code saying
// why, so that a real Jira retry (a new token) is told apart from a replay.
func replayError(err error) error {
	switch {
	case errors.Is(err, models.ErrTokenReplayed):
		return unauthorized("token_replayed", "this signed lifecycle token was already used")
	case errors.Is(err, models.ErrTokenStale):
		return unauthorized("token_stale", "this signed lifecycle token is not newer than the site's last lifecycle callback")
	}
	return err
}

// Installed records a new or renewed installation.
func (l *Lifecycle) Installed(c echo.Context) error {
	p, err := readLifecycle(c)
	if err != nil {
		return err
	}
	tok, err := l.verifySigned(c, p.ClientKey)
	if err != nil {
		return err
	}
	if p.SharedSecret == "" || p.BaseURL == "" {
		return badRequest("missing_field", "sharedSecret and baseUrl are required on install")
	}
	// Checked before anything is stored or dialled: the app will call it.
	if len(p.BaseURL) > maxBaseURLLen || l.JiraTargets.CheckBaseURL(p.BaseURL) != nil {
		return badRequest("invalid_base_url", "baseUrl must be an https URL of a public host")
	}
	t, err := l.Store.SaveInstall(c.Request().Context(), models.Install{
		ClientKey: p.ClientKey, SharedSecret: []byte(p.SharedSecret), BaseURL: p.BaseURL, DisplayURL: p.DisplayURL,
		ProductType: p.ProductType, OAuthClientID: p.OAuthClientID, Description: p.Description,
		ServerVersion: p.ServerVersion, PluginsVersion: p.PluginsVersion, Token: &tok,
	}, l.Now())
	if err != nil {
		return fmt.Errorf("installed: %w", replayError(err))
	}
	l.Tenants.Forget(p.ClientKey)
	l.Log.InfoContext(c.Request().Context(), "tenant installed", "tenant", t.ID, "base_url", t.BaseURL)
	return c.NoContent(http.StatusNoContent)
}

// Uninstalled stops the tenant at once; its data waits for the retention job.
func (l *Lifecycle) Uninstalled(c echo.Context) error {
	p, err := readLifecycle(c)
	if err != nil {
		return err
	}
	tok, err := l.verifySigned(c, p.ClientKey)
	if err != nil {
		return err
	}
	t, err := l.Store.TenantByClientKey(c.Request().Context(), p.ClientKey)
	if err != nil {
		return fmt.Errorf("uninstalled: %w", err)
	}
	if err := l.Store.Uninstall(c.Request().Context(), t.ID, tok, l.Now()); err != nil {
		return fmt.Errorf("uninstalled: %w", replayError(err))
	}
	l.Tenants.Forget(p.ClientKey)
	l.Log.InfoContext(c.Request().Context(), "tenant uninstalled", "tenant", t.ID)
	return c.NoContent(http.StatusNoContent)
}

// Enabled and Disabled run behind Auth (HS256, the tenant's secret).
func (l *Lifecycle) Enabled(c echo.Context) error { return l.setEnabled(c, true) }

// Disabled records that the site admin disabled the app.
func (l *Lifecycle) Disabled(c echo.Context) error { return l.setEnabled(c, false) }

func (l *Lifecycle) setEnabled(c echo.Context, enabled bool) error {
	p, err := readLifecycle(c)
	if err != nil {
		return err
	}
	t := tenantOf(c)
	if p.ClientKey != t.ClientKey {
		return badRequest("client_key_mismatch", "clientKey does not match the token's issuer")
	}
	if err := l.Store.SetEnabled(c.Request().Context(), t.ID, enabled, l.Now()); err != nil {
		return fmt.Errorf("set enabled: %w", err)
	}
	l.Tenants.Forget(t.ClientKey)
	l.Log.InfoContext(c.Request().Context(), "tenant enabled changed", "tenant", t.ID, "enabled", enabled)
	return c.NoContent(http.StatusNoContent)
}
