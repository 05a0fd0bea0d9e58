package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ForgeKeyPrefix starts the client key of every Forge tenant: a Forge
// installation is keyed by its installation ARI, which no Connect client
// key ever looks like (SaveInstall refuses one that does), so that the
// two kinds of tenant share one table, one cache and one isolation rule.
const ForgeKeyPrefix = "ari:cloud:ecosystem::installation/"

// ForgeInstallation is the Forge side of a tenant: what a Forge
// installation adds to a tenant row. A Connect tenant leaves it empty.
//
// For a Forge tenant the row's other fields mean: ClientKey the
// installation ARI; BaseURL the app.apiBaseUrl the app calls Jira at
// (https://api.atlassian.com/ex/jira/<cloudId>); DisplayURL the site's
// URL; SecretSealed the app system token, sealed with APP_SECRET_KEY like
// a shared secret (so that the key rotation and backup rules cover it),
// and SharedSecret its opened copy. Forge has no enabled/disabled events:
// Enabled stays true.
type ForgeInstallation struct {
	// CloudID is the site's id; set for every Forge tenant and only for
	// them (Tenant.IsForge).
	CloudID string `gorm:"size:36;not null;default:'';index"`
	// Environment is DEVELOPMENT, STAGING or PRODUCTION: the same site may
	// have an installation of each.
	Environment string `gorm:"size:32;not null;default:''"`
	// AppVersion is the deployed version that last invoked the service.
	AppVersion string `gorm:"size:64;not null;default:''"`
	// TokenExpiresAt is when the sealed system token expires; nil while
	// no token was ever received.
	TokenExpiresAt *time.Time
	// LastSeenAt is when a lifecycle event or the hourly trigger last
	// came: the installation is alive.
	LastSeenAt *time.Time
}

// IsForge reports whether the tenant is a Forge installation.
func (t Tenant) IsForge() bool { return t.Forge.CloudID != "" }

// ForgeInstall is what a verified Forge Invocation Token tells about its
// installation, with the system token the invocation carried, if any.
type ForgeInstall struct {
	InstallationID string
	CloudID        string
	SiteURL        string
	APIBaseURL     string
	Environment    string
	AppVersion     string
	// SystemToken and TokenExpiry: the x-forge-oauth-system token and its
	// exp; empty when the invocation carried none (requestRemote).
	SystemToken string
	TokenExpiry time.Time
}

func (in ForgeInstall) check() error {
	switch {
	case !strings.HasPrefix(in.InstallationID, ForgeKeyPrefix) || len(in.InstallationID) > 255:
		return fmt.Errorf("%w: the installation id must be an installation ARI", ErrInvalid)
	case in.CloudID == "" || len(in.CloudID) > 36:
		return fmt.Errorf("%w: the cloud id is required", ErrInvalid)
	case in.APIBaseURL == "" || len(in.APIBaseURL) > 512 || len(in.SiteURL) > 512:
		return fmt.Errorf("%w: the API base URL is required (at most 512 bytes, as the site URL)", ErrInvalid)
	case len(in.Environment) > 32 || len(in.AppVersion) > 64:
		return fmt.Errorf("%w: environment or app version too long", ErrInvalid)
	case in.SystemToken != "" && in.TokenExpiry.IsZero():
		return fmt.Errorf("%w: a system token needs its expiry", ErrInvalid)
	}
	return nil
}

// ForgeRegistration is what RegisterForge did.
type ForgeRegistration struct {
	Tenant Tenant
	// Created is true when this call made the tenant (or re-attached one).
	Created bool
	// ReattachedFrom is the installation id of an uninstalled tenant of
	// the same site and environment whose data the new installation took
	// over; "" when none.
	ReattachedFrom string
}

// RegisterForge returns the tenant of a Forge installation, registering it
// on first sight: Forge guarantees no install event (none is sent on
// automatic upgrades), so any verified invocation of an unseen
// installation registers it. An installation known already is returned as
// it is, uninstalled or not: registering never revives an uninstalled one.
//
// A reinstall on Forge brings a new installation id for the same site.
// Connect keeps a reinstalled site's data (its client key does not
// change); so that Forge does too, a new installation takes over the row
// of the last uninstalled installation of the same site and environment
// while it waits for retention: its projects, widget ids, schedules and
// history come back, under the new key. at is when the installation came.
func (s *Store) RegisterForge(ctx context.Context, in ForgeInstall, at time.Time) (ForgeRegistration, error) {
	if err := in.check(); err != nil {
		return ForgeRegistration{}, fmt.Errorf("register forge installation: %w", err)
	}
	if t, err := s.TenantByClientKey(ctx, in.InstallationID); !errors.Is(err, ErrNotFound) {
		return ForgeRegistration{Tenant: t}, err
	}
	sealed, err := s.box.Seal([]byte(in.SystemToken), in.InstallationID)
	if err != nil {
		return ForgeRegistration{}, fmt.Errorf("register forge installation: %w", err)
	}
	now := at.UTC()
	var expires *time.Time
	if in.SystemToken != "" {
		e := in.TokenExpiry.UTC()
		expires = &e
	}
	out := ForgeRegistration{}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var old Tenant
		err := tx.Where("forge_cloud_id = ? AND forge_environment = ? AND installed = ? AND client_key LIKE ?",
			in.CloudID, in.Environment, false, ForgeKeyPrefix+"%").
			Order("uninstalled_at DESC").Order("id DESC").Take(&old).Error
		switch {
		case err == nil:
			// Conditional on the row being as read: of two installations
			// racing for it, one takes it and the other starts afresh.
			res := tx.Model(&Tenant{}).Where("id = ? AND client_key = ? AND installed = ?", old.ID, old.ClientKey, false).
				Updates(map[string]any{
					"client_key": in.InstallationID, "secret_sealed": sealed, "base_url": in.APIBaseURL,
					"display_url": in.SiteURL, "installed": true, "enabled": true, "installed_at": now,
					"uninstalled_at": nil, "enabled_at": now, "forge_app_version": in.AppVersion,
					"forge_token_expires_at": expires, "forge_last_seen_at": now, "updated_at": now,
				})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				out.Created, out.ReattachedFrom = true, old.ClientKey
				return nil
			}
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		t := Tenant{
			ClientKey: in.InstallationID, SecretSealed: sealed, BaseURL: in.APIBaseURL, DisplayURL: in.SiteURL,
			ProductType: "jira", Installed: true, Enabled: true, InstalledAt: now, EnabledAt: &now,
			Forge: ForgeInstallation{CloudID: in.CloudID, Environment: in.Environment, AppVersion: in.AppVersion,
				TokenExpiresAt: expires, LastSeenAt: &now},
		}
		// Another replica registering the same installation at once: the
		// first insert wins, this one finds its row below.
		res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "client_key"}}, DoNothing: true}).Create(&t)
		if res.Error != nil {
			return res.Error
		}
		out.Created = res.RowsAffected == 1
		return nil
	})
	if err != nil {
		return ForgeRegistration{}, translate("register forge installation", err)
	}
	if out.Tenant, err = s.TenantByClientKey(ctx, in.InstallationID); err != nil {
		return ForgeRegistration{}, err
	}
	if out.Created {
		s.tenantChanged(ctx, out.Tenant.ID)
	}
	return out, nil
}

// RenewForge records a lifecycle event (installed, upgraded) or the hourly
// trigger of an installed Forge tenant: where its Jira answers, its site,
// environment and version, and that it was seen at at. It never revives
// an uninstalled installation (ErrTenantClosed).
func (s *Store) RenewForge(ctx context.Context, id TenantID, in ForgeInstall, at time.Time) error {
	if err := in.check(); err != nil {
		return fmt.Errorf("renew forge installation: %w", err)
	}
	now := at.UTC()
	fields := map[string]any{"base_url": in.APIBaseURL, "forge_app_version": in.AppVersion,
		"forge_environment": in.Environment, "forge_last_seen_at": now, "updated_at": now}
	if in.SiteURL != "" {
		fields["display_url"] = in.SiteURL
	}
	res := s.db.WithContext(ctx).Model(&Tenant{}).
		Where("id = ? AND client_key = ? AND forge_cloud_id = ? AND installed = ?", id, in.InstallationID, in.CloudID, true).
		Updates(fields)
	if res.Error != nil {
		return translate("renew forge installation", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("renew forge installation: %w", ErrTenantClosed)
	}
	return nil
}

// SaveForgeToken keeps a newer app system token for an installed Forge
// tenant, sealed under APP_SECRET_KEY and bound to its installation, and
// reports whether it was kept: only a token that expires later than the
// one held replaces it, so that replicas writing the tokens of concurrent
// invocations converge on the longest-lived one. The token itself is
// never logged. at is now, to tell whether the token held had expired.
func (s *Store) SaveForgeToken(ctx context.Context, t Tenant, token string, expiry, at time.Time) (bool, error) {
	if !t.IsForge() || token == "" || expiry.IsZero() {
		return false, fmt.Errorf("save forge token: %w: a Forge tenant, a token and its expiry are required", ErrInvalid)
	}
	sealed, err := s.box.Seal([]byte(token), t.ClientKey)
	if err != nil {
		return false, fmt.Errorf("save forge token: %w", err)
	}
	exp := expiry.UTC()
	res := s.db.WithContext(ctx).Model(&Tenant{}).
		Where("id = ? AND client_key = ? AND installed = ? AND (forge_token_expires_at IS NULL OR forge_token_expires_at < ?)",
			t.ID, t.ClientKey, true, exp).
		// UpdateColumns leaves updated_at alone: the tenant did not change.
		UpdateColumns(map[string]any{"secret_sealed": sealed, "forge_token_expires_at": exp})
	if res.Error != nil {
		return false, translate("save forge token", res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	// Other replicas keep their cached copy for up to their cache's TTL;
	// that is harmless while the copy's token is valid, so they are told
	// only when it was not (none held, or expired).
	if t.Forge.TokenExpiresAt == nil || !t.Forge.TokenExpiresAt.After(at) {
		s.tenantChanged(ctx, t.ID)
	}
	return true, nil
}
