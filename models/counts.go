package models

import "context"

// ProjectCount is how many agents are online in one project.
type ProjectCount struct {
	ProjectID int64
	Key       string
	Online    int
}

// ProjectCounts counts who is online in some of the tenant's projects (all
// of them when projectIDs is nil), by project key, in one query: live
// updates ask it once per change, whoever listens.
func (s *Store) ProjectCounts(ctx context.Context, tenant TenantID, projectIDs []int64) ([]ProjectCount, error) {
	if projectIDs != nil && len(projectIDs) == 0 {
		return []ProjectCount{}, nil
	}
	q := s.db.WithContext(ctx).Table("projects AS p").
		Select("p.id AS project_id, p.key AS key, COUNT(st.account_id) AS online").
		Joins("LEFT JOIN statuses st ON st.tenant_id = p.tenant_id AND st.project_id = p.id AND st.online = ?", true).
		Where("p.tenant_id = ?", tenant)
	if projectIDs != nil {
		q = q.Where("p.id IN ?", projectIDs)
	}
	counts := []ProjectCount{}
	if err := q.Group("p.id, p.key").Order("p.key").Scan(&counts).Error; err != nil {
		return nil, translate("project counts", err)
	}
	return counts, nil
}
