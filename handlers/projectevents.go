package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
	"agentpresence/models"
)

// ProjectEvents receives Jira's project webhooks (a project updated,
// archived, deleted or restored). Jira tells apps of no change of roles,
// groups or permission schemes, so a project's change is the one event
// that says its people's permissions may have moved: the tenant's cached
// admin checks are dropped and its membership lists asked again before
// they grant anything (jira.Directory.InvalidateTenant). Nothing is read
// from the body: any project event of the tenant, from its verified
// token, doubts the same answers.
type ProjectEvents struct {
	Directory *jira.Directory
}

// Changed drops the tenant's doubtful answers; 204 always. Forge's
// project events (avi:jira:updated:project…) come through
// ForgeLifecycle.Event to the same end.
func (p *ProjectEvents) Changed(c echo.Context) error {
	p.invalidate(tenantOf(c).ID)
	return c.NoContent(http.StatusNoContent)
}

func (p *ProjectEvents) invalidate(tenant models.TenantID) {
	if p.Directory != nil {
		p.Directory.InvalidateTenant(tenant)
	}
}

// isForgeProjectEvent names Forge's project events
// (avi:jira:<what>:project).
func isForgeProjectEvent(eventType string) bool {
	return strings.HasPrefix(eventType, "avi:jira:") && strings.HasSuffix(eventType, ":project")
}
