package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

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
		for _, m := range []any{&Event{}, &Status{}, &Membership{}, &Agent{}, &Project{}, &PersonalDataReport{}} {
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

// PurgeUsedTokens forgets the used lifecycle tokens that expired before
// now: the verifier refuses them by their exp from then on.
func (s *Store) PurgeUsedTokens(ctx context.Context, now time.Time) (int, error) {
	res := s.db.WithContext(ctx).Where("expires_at < ?", now.UTC()).Delete(&UsedToken{})
	if res.Error != nil {
		return 0, translate("purge used tokens", res.Error)
	}
	return int(res.RowsAffected), nil
}
