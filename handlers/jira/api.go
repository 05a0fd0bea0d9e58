package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// serviceDeskPageSize is the page size asked for; Jira caps it at 100.
const serviceDeskPageSize = 100

// maxServiceDeskPages stops a misbehaving server from keeping us paging
// forever (100 pages is 10 000 service desks).
const maxServiceDeskPages = 100

// ErrTooManyPages reports a paginated listing that did not end in time.
var ErrTooManyPages = errors.New("jira: too many pages")

// ServiceDesk is one Jira Service Management service desk.
type ServiceDesk struct {
	ID          string `json:"id"`
	ProjectID   string `json:"projectId"`
	ProjectKey  string `json:"projectKey"`
	ProjectName string `json:"projectName"`
}

// NumericProjectID returns ProjectID as a number, the form the permission
// check expects.
func (d ServiceDesk) NumericProjectID() (int64, error) {
	id, err := strconv.ParseInt(d.ProjectID, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("service desk %s project id: %w", d.ID, err)
	}
	return id, nil
}

// serviceDeskPage is one page of GET /rest/servicedeskapi/servicedesk.
type serviceDeskPage struct {
	Size       int           `json:"size"`
	Start      int           `json:"start"`
	Limit      int           `json:"limit"`
	IsLastPage bool          `json:"isLastPage"`
	Values     []ServiceDesk `json:"values"`
}

// ServiceDesks lists every service desk of the site, following pagination.
func (c *Client) ServiceDesks(ctx context.Context, site Site) ([]ServiceDesk, error) {
	var all []ServiceDesk
	start := 0
	for range maxServiceDeskPages {
		q := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(serviceDeskPageSize)}}
		var page serviceDeskPage
		if err := c.Do(ctx, site, http.MethodGet, "/rest/servicedeskapi/servicedesk?"+q.Encode(), nil, &page); err != nil {
			return nil, fmt.Errorf("list service desks: %w", err)
		}
		all = append(all, page.Values...)
		// An empty page also ends the listing, so a server that never sets
		// isLastPage cannot loop us.
		if page.IsLastPage || len(page.Values) == 0 {
			return all, nil
		}
		start += len(page.Values)
	}
	return nil, fmt.Errorf("list service desks: %w", ErrTooManyPages)
}

// ProjectPermissionQuery asks for Permissions on Projects (numeric ids).
type ProjectPermissionQuery struct {
	Permissions []string `json:"permissions"`
	Projects    []int64  `json:"projects"`
}

// PermissionResult is the answer of a bulk permission check, keyed for
// lookups.
type PermissionResult struct {
	// Global holds the granted global permissions.
	Global map[string]bool
	// Projects maps a permission to the set of project ids it is granted on.
	Projects map[string]map[int64]bool
}

// HasGlobal reports whether the global permission was granted.
func (r PermissionResult) HasGlobal(permission string) bool {
	return r.Global[permission]
}

// HasProject reports whether permission was granted on the project.
func (r PermissionResult) HasProject(permission string, projectID int64) bool {
	return r.Projects[permission][projectID]
}

// permissionCheckRequest is the body of POST /rest/api/3/permissions/check.
type permissionCheckRequest struct {
	AccountID          string                   `json:"accountId,omitempty"`
	GlobalPermissions  []string                 `json:"globalPermissions,omitempty"`
	ProjectPermissions []ProjectPermissionQuery `json:"projectPermissions,omitempty"`
}

// permissionCheckResponse is its answer.
type permissionCheckResponse struct {
	GlobalPermissions  []string `json:"globalPermissions"`
	ProjectPermissions []struct {
		Permission string  `json:"permission"`
		Projects   []int64 `json:"projects"`
	} `json:"projectPermissions"`
}

// CheckPermissions asks Jira which of the global and project permissions
// accountID holds (an empty accountID checks the app itself).
func (c *Client) CheckPermissions(ctx context.Context, site Site, accountID string, global []string, projectPerms []ProjectPermissionQuery) (PermissionResult, error) {
	reqBody := permissionCheckRequest{AccountID: accountID, GlobalPermissions: global, ProjectPermissions: projectPerms}
	if s, ok := asUser(ctx, site, accountID, c.now()); ok {
		// A Forge app asks about the user in session as that user (forge.go).
		site, reqBody.AccountID = s, ""
	}
	var resp permissionCheckResponse
	if err := c.Do(ctx, site, http.MethodPost, "/rest/api/3/permissions/check", reqBody, &resp); err != nil {
		return PermissionResult{}, fmt.Errorf("check permissions: %w", err)
	}
	res := PermissionResult{
		Global:   make(map[string]bool, len(resp.GlobalPermissions)),
		Projects: make(map[string]map[int64]bool, len(resp.ProjectPermissions)),
	}
	for _, p := range resp.GlobalPermissions {
		res.Global[p] = true
	}
	for _, pp := range resp.ProjectPermissions {
		set := res.Projects[pp.Permission]
		if set == nil {
			set = make(map[int64]bool, len(pp.Projects))
			res.Projects[pp.Permission] = set
		}
		for _, id := range pp.Projects {
			set[id] = true
		}
	}
	return res, nil
}

// AvatarURLs are a user's avatar images by size.
type AvatarURLs struct {
	Size16 string `json:"16x16,omitempty"`
	Size24 string `json:"24x24,omitempty"`
	Size32 string `json:"32x32,omitempty"`
	Size48 string `json:"48x48,omitempty"`
}

// User is the part of a Jira user the app uses.
type User struct {
	AccountID   string     `json:"accountId"`
	DisplayName string     `json:"displayName"`
	TimeZone    string     `json:"timeZone"`
	AvatarURLs  AvatarURLs `json:"avatarUrls"`
}

// User fetches a user by account id; a missing user is an error matching
// ErrNotFound.
func (c *Client) User(ctx context.Context, site Site, accountID string) (User, error) {
	if accountID == "" {
		return User{}, fmt.Errorf("get user: empty account id: %w", ErrInvalidRequest)
	}
	var u User
	q := url.Values{"accountId": {accountID}}
	if err := c.Do(ctx, site, http.MethodGet, "/rest/api/3/user?"+q.Encode(), nil, &u); err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}
