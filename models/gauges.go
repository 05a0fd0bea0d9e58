package models

import (
	"context"

	"gorm.io/gorm"
)

// OnlineCounts counts, across every tenant, the agents online in at least
// one project and the tenants with at least one of them: one read for the
// metrics' gauges, refreshed now and then, never per request.
func (s *Store) OnlineCounts(ctx context.Context) (tenants, agents int64, err error) {
	var row struct{ Tenants, Agents int64 }
	err = s.db.WithContext(ctx).Raw(`SELECT COUNT(DISTINCT tenant_id) AS tenants, COUNT(*) AS agents
		FROM (SELECT DISTINCT tenant_id, account_id FROM statuses WHERE online = ?) AS online_agents`, true).Scan(&row).Error
	if err != nil {
		return 0, 0, translate("online counts", err)
	}
	return row.Tenants, row.Agents, nil
}

// Use registers a gorm plugin on the store's database: app adds the
// tracing of queries this way, when tracing is on.
func (s *Store) Use(plugin gorm.Plugin) error {
	if err := s.db.Use(plugin); err != nil {
		return translate("use plugin", err)
	}
	return nil
}
