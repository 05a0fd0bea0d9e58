package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SaveInstall records an installation: the first one creates the tenant, a
// reinstall updates the secret and the state in place. With a Token, the
// token is spent in the same transaction: an install whose token was used
// before is ErrTokenReplayed, one whose iat is not newer than the tenant's
// last signed callback ErrTokenStale, and neither changes anything.
func (s *Store) SaveInstall(ctx context.Context, in Install) (Tenant, error) {
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
	now := s.Now()
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

// PurgeUsedTokens forgets the used lifecycle tokens that expired before
// now: the verifier refuses them by their exp from then on.
func (s *Store) PurgeUsedTokens(ctx context.Context, now time.Time) (int, error) {
	res := s.db.WithContext(ctx).Where("expires_at < ?", now.UTC()).Delete(&UsedToken{})
	if res.Error != nil {
		return 0, translate("purge used tokens", res.Error)
	}
	return int(res.RowsAffected), nil
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

// MarkUninstalled stops the tenant's tokens and widgets at once; its data
// stays until the retention job purges it.
func (s *Store) MarkUninstalled(ctx context.Context, id TenantID) error {
	now := s.Now()
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
func (s *Store) Uninstall(ctx context.Context, id TenantID, tok LifecycleToken) error {
	if err := tok.check(); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	now, iat := s.Now(), tok.IssuedAt.Unix()
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

// SetEnabled records the enabled/disabled lifecycle callbacks.
func (s *Store) SetEnabled(ctx context.Context, id TenantID, enabled bool) error {
	now := s.Now()
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

// PurgeUninstalled deletes every trace of tenants uninstalled before the
// cut-off and returns how many tenants went.
func (s *Store) PurgeUninstalled(ctx context.Context, before time.Time) (int, error) {
	var ids []TenantID
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&Tenant{}).Where("installed = ? AND uninstalled_at < ?", false, before).
			Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		for _, m := range []any{&Event{}, &Status{}, &Membership{}, &Agent{}, &Project{}} {
			if err := tx.Where("tenant_id IN ?", ids).Delete(m).Error; err != nil {
				return err
			}
		}
		return tx.Where("id IN ? AND installed = ?", ids, false).Delete(&Tenant{}).Error
	})
	if err != nil {
		return 0, translate("purge uninstalled", err)
	}
	return len(ids), nil
}

// PurgeEvents deletes at most batch audit events older than before, of any
// tenant, in one short transaction, and tells how many went; the retention
// job calls it until a batch comes back short. On PostgreSQL concurrent
// callers skip each other's rows instead of waiting on them.
func (s *Store) PurgeEvents(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("purge events: %w: the batch must be positive", ErrInvalid)
	}
	pick := "SELECT id FROM events WHERE at < ? ORDER BY id LIMIT ?"
	if s.dialect == DialectPostgres {
		pick += " FOR UPDATE SKIP LOCKED"
	}
	res := s.db.WithContext(ctx).Exec("DELETE FROM events WHERE id IN ("+pick+")", before.UTC(), batch)
	if res.Error != nil {
		return 0, translate("purge events", res.Error)
	}
	return int(res.RowsAffected), nil
}

// SetAutoOffline sets the tenant-wide inactivity limit in minutes (0 = off).
func (s *Store) SetAutoOffline(ctx context.Context, id TenantID, minutes int) error {
	if minutes < 0 || minutes > 7*24*60 {
		return fmt.Errorf("set auto-offline: %w: minutes must be 0..10080", ErrInvalid)
	}
	return s.updateTenant(ctx, "set auto-offline", id,
		map[string]any{"auto_offline_minutes": minutes, "updated_at": s.Now()})
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
			plain, current, err := s.box.open(t.SecretSealed, t.ClientKey)
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
