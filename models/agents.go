package models

import (
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"agentpresence/models/schedule"
)

// Agent is what we keep about one Jira user of a tenant: nothing personal
// beyond the account id, plus their connection presence and schedule. It
// is the register of the people a tenant's data names (personaldata.go).
type Agent struct {
	ID        int64    `gorm:"primaryKey"`
	TenantID  TenantID `gorm:"not null;uniqueIndex:ux_agents_tenant_account"`
	AccountID string   `gorm:"size:128;not null;uniqueIndex:ux_agents_tenant_account"`
	// LastActivityAt is connection presence (heartbeats, webhooks): an input
	// that may switch the status off, not the status itself.
	LastActivityAt *time.Time
	// MembershipCheckedAt is when Jira last told us the agent's projects.
	MembershipCheckedAt *time.Time
	Schedule            *schedule.Schedule `gorm:"serializer:json"`
	// NextSwitchAt is the schedule's next transition; jobs query it through
	// its index so that a tick touches only the agents due now.
	NextSwitchAt     *time.Time `gorm:"index"`
	NextSwitchOnline bool       `gorm:"not null;default:false"`
	CreatedAt        time.Time  `gorm:"not null"`
	UpdatedAt        time.Time  `gorm:"not null"`

	// RefreshedAt is when what we keep of the person was last retrieved
	// or refreshed (nil: when the row was created), as the personal data
	// report states it (personaldata.go).
	RefreshedAt *time.Time
}

func (s *Store) ensureAgent(tx *gorm.DB, tenant TenantID, accountID string) error {
	return tx.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&Agent{TenantID: tenant, AccountID: accountID}).Error
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
