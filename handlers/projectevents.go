package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
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

// Changed drops the tenant's doubtful answers; 204 always.
func (p *ProjectEvents) Changed(c echo.Context) error {
	if p.Directory != nil {
		p.Directory.InvalidateTenant(tenantOf(c).ID)
	}
	return c.NoContent(http.StatusNoContent)
}
