package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TenantID identifies one installation of the app in one Jira site. Every
// store method takes it explicitly: jobs run without a request, so a value
// hidden in a context would not be enough.
type TenantID int64

// Tenant is one Jira site that installed the app.
type Tenant struct {
	ID             TenantID  `gorm:"primaryKey"`
	ClientKey      string    `gorm:"size:255;not null;uniqueIndex"`
	SharedSecret   []byte    `gorm:"-"` // decrypted copy; never stored in clear
	SecretSealed   []byte    `gorm:"column:secret_sealed;not null"`
	BaseURL        string    `gorm:"size:512;not null"`
	DisplayURL     string    `gorm:"size:512"`
	ProductType    string    `gorm:"size:64"`
	OAuthClientID  string    `gorm:"column:oauth_client_id;size:255"`
	Description    string    `gorm:"size:1024"`
	ServerVersion  string    `gorm:"size:64"`
	PluginsVersion string    `gorm:"size:64"`
	Installed      bool      `gorm:"not null"`
	Enabled        bool      `gorm:"not null"`
	InstalledAt    time.Time `gorm:"not null"`
	UninstalledAt  *time.Time
	EnabledAt      *time.Time
	DisabledAt     *time.Time
	// AutoOfflineMinutes puts an online agent offline after that many
	// minutes without activity; 0 turns the feature off.
	AutoOfflineMinutes int `gorm:"not null;default:0"`
	// SignedIAT is the iat (Unix seconds) of the last signed lifecycle
	// callback accepted (install or uninstall): an install must be newer,
	// an uninstall not older, so that a captured token cannot undo what
	// came after it.
	SignedIAT int64     `gorm:"column:signed_iat;not null;default:0"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`

	// Forge is the Forge side of a Forge installation (installations.go).
	Forge ForgeInstallation `gorm:"embedded;embeddedPrefix:forge_"`
	// License is the site's license as Jira last said it (license.go).
	License TenantLicense `gorm:"embedded;embeddedPrefix:license_"`
}

// Active reports whether the tenant's tokens and widgets should work.
func (t Tenant) Active() bool { return t.Installed && t.Enabled }

// Install is what the signed "installed" lifecycle callback tells us.
type Install struct {
	ClientKey      string
	SharedSecret   []byte
	BaseURL        string
	DisplayURL     string
	ProductType    string
	OAuthClientID  string
	Description    string
	ServerVersion  string
	PluginsVersion string
	// Token is the signed callback's token, refused if used before or not
	// newer than the tenant's last one. Nil records the install unchecked:
	// only seeds and tests, never a request.
	Token *LifecycleToken
}

// LifecycleToken is what the store needs of a verified signed lifecycle
// token to accept it once only. It holds a digest, never the token.
type LifecycleToken struct {
	// Digest identifies the token (hex SHA-256 of its compact form).
	Digest string
	// IssuedAt is the token's iat, at a second's precision.
	IssuedAt time.Time
	// KeepUntil is when the verifier stops accepting the token anyway
	// (exp plus the clock-skew leeway): its digest is kept until then.
	KeepUntil time.Time
}

// UsedToken remembers a signed lifecycle token that was accepted, until it
// expires, so that no replica accepts it again. Its primary key is what
// makes two replicas racing with one token accept it once.
type UsedToken struct {
	Digest    string    `gorm:"primaryKey;size:64"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

// SaveInstall records an installation: the first one creates the tenant, a
// reinstall updates the secret and the state in place. With a Token, the
// token is spent in the same transaction: an install whose token was used
// before is ErrTokenReplayed, one whose iat is not newer than the tenant's
// last signed callback ErrTokenStale, and neither changes anything. at is
// when the callback came.
func (s *Store) SaveInstall(ctx context.Context, in Install, at time.Time) (Tenant, error) {
	if in.ClientKey == "" || len(in.SharedSecret) == 0 || in.BaseURL == "" {
		return Tenant{}, fmt.Errorf("save install: %w: clientKey, sharedSecret and baseUrl are required", ErrInvalid)
	}
	if strings.HasPrefix(in.ClientKey, ForgeKeyPrefix) {
		return Tenant{}, fmt.Errorf("save install: %w: a Connect client key cannot name a Forge installation", ErrInvalid)
	}
	if err := in.Token.check(); err != nil {
		return Tenant{}, fmt.Errorf("save install: %w", err)
	}
	sealed, err := s.box.Seal(in.SharedSecret, in.ClientKey)
	if err != nil {
		return Tenant{}, fmt.Errorf("save install: %w", err)
	}
	now := at.UTC()
	t := Tenant{
		ClientKey: in.ClientKey, SecretSealed: sealed, BaseURL: in.BaseURL, DisplayURL: in.DisplayURL,
		ProductType: in.ProductType, OAuthClientID: in.OAuthClientID, Description: in.Description,
		ServerVersion: in.ServerVersion, PluginsVersion: in.PluginsVersion,
		Installed: true, Enabled: true, InstalledAt: now, EnabledAt: &now,
	}
	updates := map[string]any{
		"secret_sealed": sealed, "base_url": in.BaseURL, "display_url": in.DisplayURL,
		"product_type": in.ProductType, "oauth_client_id": in.OAuthClientID,
		"description": in.Description, "server_version": in.ServerVersion,
		"plugins_version": in.PluginsVersion, "installed": true, "enabled": true,
		"installed_at": now, "uninstalled_at": nil, "enabled_at": now, "updated_at": now,
	}
	upsert := clause.OnConflict{Columns: []clause.Column{{Name: "client_key"}}}
	if in.Token != nil {
		iat := in.Token.IssuedAt.Unix()
		t.SignedIAT, updates["signed_iat"] = iat, iat
		// The condition sits in the upsert itself, so that two installs
		// racing on one tenant are ordered by the row, not by whoever read
		// it first.
		upsert.Where = clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "tenants.signed_iat < ?", Vars: []any{iat}}}}
	}
	upsert.DoUpdates = clause.Assignments(updates)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := spendToken(tx, in.Token); err != nil {
			return err
		}
		res := tx.Clauses(upsert).Create(&t)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrTokenStale
		}
		return nil
	})
	if err != nil {
		return Tenant{}, translate("save install", err)
	}
	saved, err := s.TenantByClientKey(ctx, in.ClientKey)
	if err != nil {
		return Tenant{}, err
	}
	s.tenantChanged(ctx, saved.ID)
	return saved, nil
}

// check tells whether a lifecycle token can be spent; nil (unchecked) can.
func (tok *LifecycleToken) check() error {
	if tok == nil {
		return nil
	}
	if len(tok.Digest) != 64 || strings.Trim(tok.Digest, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: the token digest must be 64 lower-case hex digits", ErrInvalid)
	}
	if tok.IssuedAt.IsZero() || tok.KeepUntil.IsZero() {
		return fmt.Errorf("%w: the token's iat and expiry are required", ErrInvalid)
	}
	return nil
}

// spendToken records a lifecycle token as used, or fails with
// ErrTokenReplayed if it was. The digest is the primary key: of two
// replicas inserting it at once, PostgreSQL makes the second wait for the
// first and then find it, and SQLite takes one writer at a time.
func spendToken(tx *gorm.DB, tok *LifecycleToken) error {
	if tok == nil {
		return nil
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&UsedToken{Digest: tok.Digest, ExpiresAt: tok.KeepUntil.UTC()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrTokenReplayed
	}
	return nil
}

// TenantByClientKey finds a tenant, installed or not, with its secret opened.
func (s *Store) TenantByClientKey(ctx context.Context, clientKey string) (Tenant, error) {
	var t Tenant
	if err := s.db.WithContext(ctx).Where("client_key = ?", clientKey).Take(&t).Error; err != nil {
		return Tenant{}, translate("find tenant", err)
	}
	return s.openSecret(t)
}

// Tenant finds a tenant by id, with its secret opened.
func (s *Store) Tenant(ctx context.Context, id TenantID) (Tenant, error) {
	var t Tenant
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return Tenant{}, translate("find tenant", err)
	}
	return s.openSecret(t)
}

func (s *Store) openSecret(t Tenant) (Tenant, error) {
	secret, err := s.box.Open(t.SecretSealed, t.ClientKey)
	if err != nil {
		return Tenant{}, fmt.Errorf("tenant %d: %w", t.ID, err)
	}
	t.SharedSecret = secret
	return t, nil
}

// MarkUninstalled stops the tenant's tokens and widgets at once (at at);
// its data stays until the retention job purges it.
func (s *Store) MarkUninstalled(ctx context.Context, id TenantID, at time.Time) error {
	now := at.UTC()
	if err := s.updateTenant(ctx, "mark uninstalled", id,
		map[string]any{"installed": false, "uninstalled_at": now, "updated_at": now}); err != nil {
		return err
	}
	s.tenantChanged(ctx, id)
	return nil
}

// Uninstall is MarkUninstalled for a signed callback: the token is spent in
// the same transaction (ErrTokenReplayed if it was used before), and an
// uninstall issued before the tenant's last signed callback is
// ErrTokenStale: it would undo an install that came after it.
func (s *Store) Uninstall(ctx context.Context, id TenantID, tok LifecycleToken, at time.Time) error {
	if err := tok.check(); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	now, iat := at.UTC(), tok.IssuedAt.Unix()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := spendToken(tx, &tok); err != nil {
			return err
		}
		res := tx.Model(&Tenant{}).Where("id = ? AND signed_iat <= ?", id, iat).
			Updates(map[string]any{"installed": false, "uninstalled_at": now, "signed_iat": iat, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected > 0 {
			return nil
		}
		var n int64
		if err := tx.Model(&Tenant{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return ErrTokenStale
	})
	if err != nil {
		return translate("uninstall", err)
	}
	s.tenantChanged(ctx, id)
	return nil
}

// SetEnabled records the enabled/disabled lifecycle callbacks, come at at.
func (s *Store) SetEnabled(ctx context.Context, id TenantID, enabled bool, at time.Time) error {
	now := at.UTC()
	fields := map[string]any{"enabled": enabled, "updated_at": now}
	if enabled {
		fields["enabled_at"] = now
	} else {
		fields["disabled_at"] = now
	}
	if err := s.updateTenant(ctx, "set enabled", id, fields); err != nil {
		return err
	}
	s.tenantChanged(ctx, id)
	return nil
}

// updateTenant writes fields of one tenant row; a tenant that does not
// exist is ErrNotFound.
func (s *Store) updateTenant(ctx context.Context, op string, id TenantID, fields map[string]any) error {
	res := s.db.WithContext(ctx).Model(&Tenant{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// SetAutoOffline sets the tenant-wide inactivity limit in minutes (0 = off)
// at at.
func (s *Store) SetAutoOffline(ctx context.Context, id TenantID, minutes int, at time.Time) error {
	if minutes < 0 || minutes > 7*24*60 {
		return fmt.Errorf("set auto-offline: %w: minutes must be 0..10080", ErrInvalid)
	}
	if err := s.updateTenant(ctx, "set auto-offline", id,
		map[string]any{"auto_offline_minutes": minutes, "updated_at": at.UTC()}); err != nil {
		return err
	}
	// The agents' pages read the limit in GET /me: the copies of the
	// tenant each replica keeps (and the answers made from them) must go
	// now, not when they expire.
	s.settingsChanged(ctx, id)
	return nil
}

// DefaultResealBatch is how many tenants one ResealSecrets call looks at
// unless told otherwise.
const DefaultResealBatch = 200

// ResealBatch is what one ResealSecrets call did.
type ResealBatch struct {
	// Last is the highest tenant id looked at (the call's after when none
	// was left): the next batch starts after it.
	Last TenantID
	// Scanned tenants were looked at; Resealed of them were sealed under
	// another key or in the format without key id and are now sealed under
	// the current key.
	Scanned, Resealed int
	// Changed tenants got a new secret (a reinstall) between the read and
	// the write; their row was left as the reinstall wrote it.
	Changed int
	// Unopenable lists the tenants whose secret no configured key opens.
	Unopenable []TenantID
}

// ResealSecrets re-seals under the current key the shared secrets of up to
// limit tenants with ids above after, installed or not, so that a key
// rotated out of APP_SECRET_KEY can then be removed. A row is written only
// if it still holds what was read, so a reinstall meanwhile is never
// overwritten; running it twice, or on two replicas, is harmless.
func (s *Store) ResealSecrets(ctx context.Context, after TenantID, limit int) (ResealBatch, error) {
	if limit <= 0 {
		limit = DefaultResealBatch
	}
	out := ResealBatch{Last: after}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []Tenant
		if err := tx.Select("id", "client_key", "secret_sealed").Where("id > ?", after).
			Order("id").Limit(limit).Find(&rows).Error; err != nil {
			return err
		}
		for _, t := range rows {
			out.Scanned++
			out.Last = t.ID
			plain, current, err := s.box.Unseal(t.SecretSealed, t.ClientKey)
			switch {
			case err != nil:
				out.Unopenable = append(out.Unopenable, t.ID)
				continue
			case current:
				continue
			}
			sealed, err := s.box.Seal(plain, t.ClientKey)
			if err != nil {
				return err
			}
			// UpdateColumn leaves updated_at alone: the tenant did not change.
			res := tx.Model(&Tenant{}).Where("id = ? AND secret_sealed = ?", t.ID, t.SecretSealed).
				UpdateColumn("secret_sealed", sealed)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				out.Changed++
				continue
			}
			out.Resealed++
		}
		return nil
	})
	if err != nil {
		return ResealBatch{}, translate("reseal secrets", err)
	}
	return out, nil
}
