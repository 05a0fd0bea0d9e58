package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Membership says that an account is a support agent of a project, as Jira
// last told us; jobs act on it without asking Jira.
type Membership struct {
	TenantID  TenantID `gorm:"primaryKey;autoIncrement:false"`
	AccountID string   `gorm:"primaryKey;size:128"`
	ProjectID int64    `gorm:"primaryKey;autoIncrement:false;index"`
}

// SetMemberships replaces the projects an account is a support agent of,
// as Jira told us at at, and remembers when.
func (s *Store) SetMemberships(ctx context.Context, tenant TenantID, accountID string, projectIDs []int64, at time.Time) error {
	now := at.UTC()
	changed := false // a project gained or lost the account
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.ensureAgent(tx, tenant, accountID); err != nil {
			return err
		}
		if err := tx.Model(&Agent{}).Where("tenant_id = ? AND account_id = ?", tenant, accountID).
			Updates(map[string]any{"membership_checked_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		del := tx.Where("tenant_id = ? AND account_id = ?", tenant, accountID)
		if len(projectIDs) > 0 {
			del = del.Where("project_id NOT IN ?", projectIDs)
		}
		res := del.Delete(&Membership{})
		if res.Error != nil {
			return res.Error
		}
		changed = res.RowsAffected > 0
		if len(projectIDs) == 0 {
			return nil
		}
		rows := make([]Membership, 0, len(projectIDs))
		for _, id := range projectIDs {
			rows = append(rows, Membership{TenantID: tenant, AccountID: accountID, ProjectID: id})
		}
		res = tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
		changed = changed || res.RowsAffected > 0
		return res.Error
	})
	if err != nil {
		return translate("set memberships", err)
	}
	if changed {
		// Who counts for a project's next online time ("back at") changed;
		// Jira's answer repeated (the usual case) announces nothing.
		s.changed(ctx, tenant, nil)
	}
	return nil
}

// Memberships returns the projects an account is an agent of, as last
// known, and when Jira last told us (nil: never).
func (s *Store) Memberships(ctx context.Context, tenant TenantID, accountID string) ([]Project, *time.Time, error) {
	var a Agent
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND account_id = ?", tenant, accountID).Take(&a).Error
	if err != nil {
		if isNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, translate("memberships", err)
	}
	var ps []Project
	err = s.db.WithContext(ctx).Where("tenant_id = ? AND id IN (?)", tenant,
		s.db.Model(&Membership{}).Select("project_id").Where("tenant_id = ? AND account_id = ?", tenant, accountID)).
		Order("key").Find(&ps).Error
	if err != nil {
		return nil, nil, translate("memberships", err)
	}
	return ps, a.MembershipCheckedAt, nil
}
