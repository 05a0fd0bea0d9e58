package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"agentpresence/handlers"
	"agentpresence/handlers/forge"
	"agentpresence/models"
)

// loadForge reads FORGE_APP_ID and FORGE_JWKS_URL: the service is the
// Forge remote of the app FORGE_APP_ID names, checking its invocations
// against the keys at FORGE_JWKS_URL.
func (c *Config) loadForge(getenv func(string) string) error {
	c.ForgeJWKSURL = strings.TrimSpace(getenv("FORGE_JWKS_URL"))
	if id := strings.TrimSpace(getenv("FORGE_APP_ID")); id != "" {
		ari, err := forge.AppARI(id)
		if err != nil {
			return fmt.Errorf("config: FORGE_APP_ID: %w", err)
		}
		c.ForgeAppID = ari
	}
	if c.ForgeJWKSURL == "" {
		c.ForgeJWKSURL = forge.DefaultJWKSURL
		return nil
	}
	u, err := url.Parse(c.ForgeJWKSURL)
	switch {
	case err != nil || u.Host == "" || u.User != nil:
		return fmt.Errorf("config: FORGE_JWKS_URL %q must be an absolute https URL", c.ForgeJWKSURL)
	case u.Scheme == "https":
	case u.Scheme == "http" && forge.IsLoopbackHost(u.Hostname()):
		// A stand-in platform on this machine (tests, the load harness).
	default:
		return fmt.Errorf("config: FORGE_JWKS_URL %q must be https (http only on a loopback host)", c.ForgeJWKSURL)
	}
	return nil
}

// forgeAuth builds the verification of Forge Invocation Tokens, or nil
// when FORGE_APP_ID is not set. FITs naming http API and site URLs on
// loopback are accepted only where tenants' Jira may be on loopback (the
// demo, JIRA_ALLOW_LOOPBACK): the stand-in platform's.
func forgeAuth(cfg Config, store *models.Store, client *http.Client, now func() time.Time, log *slog.Logger) (*handlers.ForgeAuth, error) {
	if cfg.ForgeAppID == "" {
		return nil, nil
	}
	keys := forge.NewKeySet(cfg.ForgeJWKSURL, forge.WithHTTPClient(client), forge.WithKeySetClock(now))
	opts := []forge.Option{forge.WithLeeway(cfg.JWTLeeway), forge.WithClock(now)}
	if cfg.JiraAllowLoopback || cfg.Demo {
		opts = append(opts, forge.WithLoopbackURLs())
	}
	v, err := forge.NewVerifier(cfg.ForgeAppID, keys, opts...)
	if err != nil {
		return nil, err
	}
	return &handlers.ForgeAuth{Verifier: v, Store: store, Log: log, Now: now}, nil
}
