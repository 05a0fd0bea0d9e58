package jiratest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"agentpresence/handlers/connect"
)

// maxTokenTTL is the longest lifetime Jira accepts for a token an app signs.
const maxTokenTTL = 3 * time.Minute

// clockSkew is the leeway Jira grants the app's clock for exp and iat.
const clockSkew = 30 * time.Second

// maxBody bounds request bodies; permission checks are a few KB.
const maxBody = 1 << 20

// Jira's page sizes: service desks default to 50 and are capped at 100;
// bulk users default to 10 (a caller that forgets to page sees only 10).
const (
	deskPageDefault = 50
	deskPageMax     = 100
	userPageDefault = 10
	userPageMax     = 200
)

// Permission keys the site knows.
const (
	permAdminister         = "ADMINISTER"
	permAdministerProjects = "ADMINISTER_PROJECTS"
	permServiceDeskAgent   = "SERVICEDESK_AGENT"
)

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP serves the site: /rest/... (app JWT required), /avatars/... and
// /install-keys/..., all below the base path.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	baseURL, basePath := s.baseURL, s.basePath
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	rec := Request{Method: r.Method, Path: r.URL.Path, At: s.now()}
	defer func() {
		rec.Status = sw.status
		s.record(rec)
	}()
	if baseURL == "" {
		writeError(sw, http.StatusInternalServerError, "jiratest: SetBaseURL was not called")
		return
	}
	rel, ok := strings.CutPrefix(r.URL.EscapedPath(), basePath)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		writeError(sw, http.StatusNotFound, "not below the site's base path "+basePath)
		return
	}
	if p, err := url.PathUnescape(rel); err == nil {
		rel = p
	}
	rec.Path = rel

	switch {
	case strings.HasPrefix(rel, "/rest/"):
		rec.Reason, rec.Auth = s.serveREST(sw, r, rel, baseURL, basePath)
	case strings.HasPrefix(rel, "/avatars/"):
		s.serveAvatar(sw, r, strings.TrimPrefix(rel, "/avatars/"))
	case strings.HasPrefix(rel, "/install-keys/"):
		s.serveInstallKey(sw, r, strings.TrimPrefix(rel, "/install-keys/"))
	default:
		writeError(sw, http.StatusNotFound, "jiratest does not simulate "+rel)
	}
}

// serveREST checks the app's token and dispatches; it returns the reason a
// token was rejected, if it was.
func (s *Site) serveREST(w http.ResponseWriter, r *http.Request, rel, baseURL, basePath string) (string, string) {
	s.mu.Lock()
	down, secret := s.down, s.secret
	s.mu.Unlock()
	if down {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "jiratest is down (SetDown)")
		return "", ""
	}
	// Authentication comes before routing, as in Jira: an unsigned probe
	// learns nothing about which paths exist.
	// A Bearer token is a Forge app's (forge.go); else a Connect JWT.
	who, reason := s.authenticate(r, basePath, secret)
	if reason != "" {
		w.Header().Set("WWW-Authenticate", `JWT realm="jiratest"`)
		writeError(w, http.StatusUnauthorized, "the app's token was rejected: "+reason)
		return reason, who.kind
	}
	s.wait(r, rel)
	if s.answerFault(w, rel) {
		return "", who.kind
	}
	switch rel {
	case "/rest/servicedeskapi/servicedesk":
		if allow(w, r, http.MethodGet) {
			s.serviceDesks(w, r)
		}
	case "/rest/api/3/permissions/check":
		if allow(w, r, http.MethodPost) {
			s.checkPermissions(w, r, who)
		}
	case "/rest/api/3/user":
		if allow(w, r, http.MethodGet) {
			s.user(w, r, baseURL)
		}
	case "/rest/api/3/user/bulk":
		if allow(w, r, http.MethodGet) {
			s.userBulk(w, r, baseURL)
		}
	default:
		writeError(w, http.StatusNotFound, "jiratest does not simulate "+rel)
	}
	return "", who.kind
}

// verifyApp verifies the app's JWT the way Jira does and returns "" or the
// reason for rejecting it.
func (s *Site) verifyApp(r *http.Request, basePath string, secret []byte) string {
	token, err := connect.TokenFromRequest(r)
	if err != nil {
		return connect.Reason(err)
	}
	v := connect.Verifier{Leeway: clockSkew, Now: s.now}
	// The qsh must be the real one: Jira never accepts context-qsh from an
	// app calling its REST API.
	claims, err := v.VerifyHS256(token, secret, connect.RequestQSH(r, basePath), false)
	if err != nil {
		return connect.Reason(err)
	}
	if claims.Issuer != s.appKey {
		return "issuer"
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > maxTokenTTL {
		return "ttl_too_long"
	}
	return ""
}

// allow answers 405 unless r uses method.
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here")
	return false
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "jiratest: encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes Jira's error body shape.
func writeError(w http.ResponseWriter, status int, message string) {
	body, _ := json.Marshal(map[string]any{"errorMessages": []string{message}, "errors": map[string]string{}})
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// intParam reads a non-negative integer query parameter; def applies when
// it is absent.
func intParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a non-negative integer", name, v)
	}
	return n, nil
}

// page is one page of n items as asked for by the query.
type page struct {
	start, size int // as answered: start as asked, size capped
	lo, hi      int // slice bounds into the n items
}

// pageBounds reads a start parameter and a page size (defaulting to def,
// capped at maxSize) for a listing of n items.
func pageBounds(q url.Values, startName, sizeName string, def, maxSize, n int) (page, error) {
	start, err := intParam(q, startName, 0)
	if err != nil {
		return page{}, err
	}
	size, err := intParam(q, sizeName, def)
	if err != nil {
		return page{}, err
	}
	if size == 0 {
		return page{}, fmt.Errorf("%s must be at least 1", sizeName)
	}
	size = min(size, maxSize)
	lo := min(start, n)
	return page{start: start, size: size, lo: lo, hi: min(lo+size, n)}, nil
}

// serviceDeskJSON is one service desk as Jira lists it.
type serviceDeskJSON struct {
	ID          string `json:"id"`
	ProjectID   string `json:"projectId"`
	ProjectKey  string `json:"projectKey"`
	ProjectName string `json:"projectName"`
}

// serviceDesks answers GET /rest/servicedeskapi/servicedesk?start=&limit=.
func (s *Site) serviceDesks(w http.ResponseWriter, r *http.Request) {
	projects := s.Projects()
	pg, err := pageBounds(r.URL.Query(), "start", "limit", deskPageDefault, deskPageMax, len(projects))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	values := make([]serviceDeskJSON, 0, pg.hi-pg.lo)
	for _, p := range projects[pg.lo:pg.hi] {
		values = append(values, serviceDeskJSON{
			ID: p.ServiceDeskID, ProjectID: strconv.FormatInt(p.ID, 10), ProjectKey: p.Key, ProjectName: p.Name,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"size": len(values), "start": pg.start, "limit": pg.size, "isLastPage": pg.hi == len(projects), "values": values,
	})
}

// permissionCheckRequest is the body of POST /rest/api/3/permissions/check.
// Issue permissions are not simulated; decoding rejects them as unknown.
type permissionCheckRequest struct {
	AccountID          string   `json:"accountId"`
	GlobalPermissions  []string `json:"globalPermissions"`
	ProjectPermissions []struct {
		Permissions []string `json:"permissions"`
		Projects    []int64  `json:"projects"`
	} `json:"projectPermissions"`
}

// projectGrantJSON is one permission and the projects it is granted on.
type projectGrantJSON struct {
	Permission string  `json:"permission"`
	Issues     []int64 `json:"issues"`
	Projects   []int64 `json:"projects"`
}

// checkPermissions answers POST /rest/api/3/permissions/check.
func (s *Site) checkPermissions(w http.ResponseWriter, r *http.Request, who caller) {
	var req permissionCheckRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	// Strict decoding turns a misspelt field in the app's request into a
	// 400 instead of a silent "nothing granted".
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad permission check body: "+err.Error())
		return
	}
	for _, p := range req.GlobalPermissions {
		if p != permAdminister {
			writeError(w, http.StatusBadRequest, "jiratest does not simulate the global permission "+p)
			return
		}
	}
	for _, pp := range req.ProjectPermissions {
		for _, p := range pp.Permissions {
			if p != permAdministerProjects && p != permServiceDeskAgent {
				writeError(w, http.StatusBadRequest, "jiratest does not simulate the project permission "+p)
				return
			}
		}
	}

	s.mu.Lock()
	// An empty accountId asks about the app itself, which this site grants
	// nothing; an unknown account is granted nothing either.
	account, refused := s.permissionSubjectLocked(who, req.AccountID)
	u, known := s.users[account]
	projects := slices.Clone(s.projects)
	s.mu.Unlock()
	if refused != "" {
		writeError(w, http.StatusForbidden, refused)
		return
	}

	global := []string{}
	if known && u.JiraAdmin && slices.Contains(req.GlobalPermissions, permAdminister) {
		global = append(global, permAdminister)
	}
	// One entry per permission, merging queries that repeat it, as Jira does.
	grants := []projectGrantJSON{}
	index := map[string]int{}
	for _, pp := range req.ProjectPermissions {
		for _, perm := range pp.Permissions {
			i, ok := index[perm]
			if !ok {
				i = len(grants)
				index[perm] = i
				grants = append(grants, projectGrantJSON{Permission: perm, Issues: []int64{}, Projects: []int64{}})
			}
			for _, id := range pp.Projects {
				if known && granted(u, perm, projects, id) && !slices.Contains(grants[i].Projects, id) {
					grants[i].Projects = append(grants[i].Projects, id)
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"globalPermissions": global, "projectPermissions": grants})
}

// granted reports whether u holds the project permission perm on the
// project with id; unknown projects grant nothing.
func granted(u UserSpec, perm string, projects []ProjectSpec, id int64) bool {
	i := slices.IndexFunc(projects, func(p ProjectSpec) bool { return p.ID == id })
	if i < 0 {
		return false
	}
	switch perm {
	case permServiceDeskAgent:
		return slices.Contains(u.Agent, projects[i].Key)
	case permAdministerProjects:
		return slices.Contains(u.ProjectAdmin, projects[i].Key)
	}
	return false
}

// userJSON is a user as /rest/api/3/user answers it.
type userJSON struct {
	Self        string            `json:"self"`
	AccountID   string            `json:"accountId"`
	AccountType string            `json:"accountType"`
	DisplayName string            `json:"displayName"`
	TimeZone    string            `json:"timeZone"`
	Active      bool              `json:"active"`
	AvatarURLs  map[string]string `json:"avatarUrls"`
}

// toJSON renders u for a site at baseURL.
func toJSON(u UserSpec, baseURL string) userJSON {
	avatar := avatarURL(baseURL, u.AccountID)
	return userJSON{
		Self:        baseURL + "/rest/api/3/user?" + url.Values{"accountId": {u.AccountID}}.Encode(),
		AccountID:   u.AccountID,
		AccountType: "atlassian",
		DisplayName: u.DisplayName,
		TimeZone:    u.TimeZone,
		Active:      true,
		AvatarURLs:  map[string]string{"16x16": avatar, "24x24": avatar, "32x32": avatar, "48x48": avatar},
	}
}

// avatarURL is where the site serves accountID's avatar.
func avatarURL(baseURL, accountID string) string {
	return baseURL + "/avatars/" + url.PathEscape(accountID) + ".svg"
}

// user answers GET /rest/api/3/user?accountId=.
func (s *Site) user(w http.ResponseWriter, r *http.Request, baseURL string) {
	id := r.URL.Query().Get("accountId")
	if id == "" {
		writeError(w, http.StatusBadRequest, "accountId is required")
		return
	}
	u, ok := s.User(id)
	if !ok {
		writeError(w, http.StatusNotFound, "Specified user does not exist or you do not have required permissions")
		return
	}
	writeJSON(w, http.StatusOK, toJSON(u, baseURL))
}

// userBulk answers GET /rest/api/3/user/bulk?accountId=a&accountId=b with
// Jira's page of users; unknown ids are left out.
func (s *Site) userBulk(w http.ResponseWriter, r *http.Request, baseURL string) {
	q := r.URL.Query()
	ids := q["accountId"]
	if len(ids) == 0 {
		writeError(w, http.StatusBadRequest, "at least one accountId is required")
		return
	}
	var found []userJSON
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			continue // Jira lists a user once, however often it is asked for
		}
		if u, ok := s.User(id); ok {
			found = append(found, toJSON(u, baseURL))
		}
	}
	pg, err := pageBounds(q, "startAt", "maxResults", userPageDefault, userPageMax, len(found))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"startAt": pg.start, "maxResults": pg.size, "total": len(found), "isLast": pg.hi == len(found),
		"values": append([]userJSON{}, found[pg.lo:pg.hi]...),
	})
}

// serveAvatar serves a generated SVG with the user's initials; unknown
// accounts get "?" like Jira's default avatar. No token is needed: browsers
// load avatars with plain <img> tags.
func (s *Site) serveAvatar(w http.ResponseWriter, r *http.Request, name string) {
	id, ok := strings.CutSuffix(name, ".svg")
	if !ok || id == "" {
		writeError(w, http.StatusNotFound, "no such avatar")
		return
	}
	if !allow(w, r, http.MethodGet) {
		return
	}
	label := "?"
	if u, ok := s.User(id); ok {
		label = initials(u.DisplayName)
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48">`+
		`<circle cx="24" cy="24" r="24" fill="hsl(%d,55%%,45%%)"/>`+
		`<text x="24" y="30" font-family="sans-serif" font-size="18" font-weight="600" fill="#fff" text-anchor="middle">%s</text></svg>`,
		h.Sum32()%360, html.EscapeString(label))
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(b.Bytes())
}

// initials returns up to two upper-case initials of a display name.
func initials(name string) string {
	var out []rune
	for word := range strings.FieldsSeq(name) {
		r, _ := utf8.DecodeRuneInString(word)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			out = append(out, unicode.ToUpper(r))
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// serveInstallKey plays connect-install-keys.atlassian.com: the PEM public
// key for the site's kid, 404 for any other.
func (s *Site) serveInstallKey(w http.ResponseWriter, r *http.Request, kid string) {
	s.mu.Lock()
	down := s.keysDown
	s.mu.Unlock()
	if down {
		http.Error(w, "install key server down (SetKeyServerDown)", http.StatusServiceUnavailable)
		return
	}
	if !allow(w, r, http.MethodGet) {
		return
	}
	if kid != s.kid {
		http.Error(w, "no such key", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(s.publicPEM)
}
