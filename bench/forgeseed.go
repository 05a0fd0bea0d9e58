package bench

import (
	"fmt"
	"time"

	"agentpresence/models"
	"agentpresence/models/secretbox"
)

// forgeTenantCols are the columns of a seeded Forge installation: a
// tenant row keyed by its installation ARI, with the Forge columns the
// service reads (models.ForgeInstallation).
const forgeTenantCols = "id, client_key, secret_sealed, base_url, display_url, product_type, oauth_client_id, description, server_version, plugins_version, " +
	"installed, enabled, installed_at, enabled_at, auto_offline_minutes, created_at, updated_at, forge_cloud_id, forge_environment, forge_app_version"

// forgeRows are the rows of the seeded Forge installations.
type forgeRows struct {
	tenants, projects, agents, members, statuses [][]any
}

// forgeTwins seeds, for each Connect tenant i, the Forge installation
// InstallationOf(i) with the same projects (widget ids of their own),
// agents, memberships and statuses, so that the FIT scenario's principals
// are agents with fresh memberships, as the Connect scenario's are. Tenant
// ids follow the Connect ones, project ids nextProject. The installations
// hold no system token: nothing calls Jira.
func forgeTwins(box *secretbox.Box, spec Spec, connect []Tenant, now time.Time, nextProject int64) (forgeRows, error) {
	var out forgeRows
	projectID := nextProject
	for i, ct := range connect {
		inst := InstallationOf(i)
		id := int64(len(connect) + i + 1)
		sealed, err := box.Seal(nil, inst.ID)
		if err != nil {
			return forgeRows{}, err
		}
		out.tenants = append(out.tenants, []any{id, inst.ID, sealed, inst.APIBaseURL, inst.SiteURL, "jira", "", "bench forge", "", "",
			true, true, now, now, 0, now, now, inst.CloudID, "DEVELOPMENT", "1.0.0"})
		ids := make([]int64, len(ct.Projects))
		for p, pr := range ct.Projects {
			projectID++
			ids[p] = projectID
			out.projects = append(out.projects, []any{projectID, id, fmt.Sprint(10000 + p), fmt.Sprint(p + 1), pr.Key,
				"Project " + pr.Key, fmt.Sprintf("w_forge_%08d_%02d_seed", i+1, p), true, "", "[]", now, now})
		}
		for j, acct := range ct.Agents {
			out.agents = append(out.agents, []any{id, acct, now, false, now, now})
			for _, p := range AgentProjects(j, spec.ProjectsPerTenant) {
				out.members = append(out.members, []any{id, acct, ids[p]})
			}
			if spec.Online(j) {
				out.statuses = append(out.statuses, []any{id, ids[AgentProjects(j, spec.ProjectsPerTenant)[0]], acct, true, now, string(models.SourceManual)})
			}
		}
	}
	return out, nil
}
