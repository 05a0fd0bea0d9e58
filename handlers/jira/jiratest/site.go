package jiratest

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"agentpresence/handlers/connect"
)

// installKeyBits is the size of generated install keys, the size Atlassian
// uses.
const installKeyBits = 2048

// maxRequestLog bounds the request log so a long-running demo host does not
// grow without end; tests look at far fewer requests.
const maxRequestLog = 1000

// Options configure a Site. Only AppKey is required.
type Options struct {
	// AppKey is the app's descriptor key: the iss of the tokens the app
	// signs, and the key in lifecycle payloads.
	AppKey string
	// ClientKey identifies the site towards the app; empty means random.
	ClientKey string
	// SharedSecret is the install secret; empty means a random one of 52
	// characters (260 bits). It must be valid UTF-8: Jira sends it to the
	// app as a JSON string.
	SharedSecret []byte
	// Kid names the install signing key; empty means random. It must match
	// ^[A-Za-z0-9._-]{1,128}$ because it ends up in the key URL.
	Kid string
	// InstallKey signs installs; nil means a freshly generated RSA 2048
	// key. Generating one takes a noticeable fraction of a second, so tests
	// should generate one key and pass it to every Site.
	InstallKey *rsa.PrivateKey
	// Now is the clock for the tokens the site signs and verifies; nil
	// means time.Now.
	Now func() time.Time
	// HTTPClient sends the site's calls to the app; nil means a client with
	// a 10 s timeout.
	HTTPClient *http.Client
}

// ProjectSpec is one Jira Service Management project and its service desk.
type ProjectSpec struct {
	// ID is the Jira project id, as the permission check uses it.
	ID int64
	// ServiceDeskID is the service desk id; empty means the next free
	// number.
	ServiceDeskID string
	// Key is the project key, e.g. "SUP"; users' permissions refer to it.
	Key string
	// Name is the project name; empty means Key.
	Name string
}

// UserSpec is one Atlassian account and what it may do on the site.
type UserSpec struct {
	AccountID string
	// DisplayName defaults to AccountID.
	DisplayName string
	// TimeZone is an IANA zone; empty means "UTC".
	TimeZone string
	// Agent lists the project keys where the user has SERVICEDESK_AGENT.
	Agent []string
	// ProjectAdmin lists the project keys where the user has
	// ADMINISTER_PROJECTS.
	ProjectAdmin []string
	// JiraAdmin grants the global ADMINISTER permission. It implies nothing
	// else: project permissions come only from Agent and ProjectAdmin, so a
	// test states exactly what Jira answers.
	JiraAdmin bool
}

// Request is one request the site received, for tests and the demo page.
type Request struct {
	Method string
	// Path is relative to the site's base path, without the query.
	Path string
	// Status is the status the site answered with.
	Status int
	// Reason says why a token was rejected (connect.Reason), if it was.
	Reason string
	// At is when it arrived, on the site's clock.
	At time.Time
	// Auth says how the app authenticated: AuthJWT (Connect), or a Forge
	// app's AuthForgeSystem or AuthForgeUser token (forge.go); "" when
	// nothing was asked.
	Auth string
}

// Site is a simulated Jira Cloud site. Create it with New; all methods are
// safe for concurrent use.
type Site struct {
	appKey     string
	clientKey  string
	kid        string
	installKey *rsa.PrivateKey
	publicPEM  []byte
	now        func() time.Time
	client     *http.Client

	mu          sync.Mutex
	secret      []byte
	baseURL     string // without trailing slash; "" until SetBaseURL
	basePath    string // path of baseURL, without trailing slash
	appBaseURL  string
	appBasePath string
	projects    []ProjectSpec // in creation order, the order Jira lists them
	users       map[string]UserSpec
	down        bool
	fault       *Fault
	holds       map[string]chan struct{}
	holding     map[string]int
	keysDown    bool
	calls       map[string]int
	requests    []Request
	commentSeq  int
	// forge, when set, lets a Forge app's Bearer tokens in (forge.go).
	forge *forgeApp
}

// New creates a site with no projects and no users.
func New(opts Options) (*Site, error) {
	if opts.AppKey == "" {
		return nil, errors.New("jiratest: new site: AppKey is required")
	}
	s := &Site{
		appKey:     opts.AppKey,
		clientKey:  opts.ClientKey,
		kid:        opts.Kid,
		installKey: opts.InstallKey,
		now:        opts.Now,
		client:     opts.HTTPClient,
		secret:     slices.Clone(opts.SharedSecret),
		users:      make(map[string]UserSpec),
		calls:      make(map[string]int),
	}
	if s.clientKey == "" {
		s.clientKey = "jiratest-" + strings.ToLower(rand.Text())
	}
	if s.kid == "" {
		s.kid = "jiratest-" + strings.ToLower(rand.Text())
	}
	if !validKid(s.kid) {
		return nil, fmt.Errorf("jiratest: new site: kid %q must match ^[A-Za-z0-9._-]{1,128}$", s.kid)
	}
	if len(s.secret) == 0 {
		s.secret = randomSecret()
	}
	if !utf8.Valid(s.secret) {
		return nil, errors.New("jiratest: new site: SharedSecret must be valid UTF-8")
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.installKey == nil {
		key, err := rsa.GenerateKey(rand.Reader, installKeyBits)
		if err != nil {
			return nil, fmt.Errorf("jiratest: new site: generate install key: %w", err)
		}
		s.installKey = key
	}
	pub, err := connect.EncodePublicKeyPEM(&s.installKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("jiratest: new site: %w", err)
	}
	s.publicPEM = pub
	return s, nil
}

// randomSecret returns a random printable secret. It is text, not raw
// bytes, because the install payload carries it as a JSON string; two
// rand.Text values give 260 bits, more than 32 random bytes.
func randomSecret() []byte {
	return []byte(rand.Text() + rand.Text())
}

// validKid mirrors the rule of the install verifier, so a bad Kid fails in
// New rather than at the first install.
func validKid(kid string) bool {
	if kid == "" || len(kid) > 128 || kid == "." || kid == ".." {
		return false
	}
	for _, c := range []byte(kid) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// parseBase validates an absolute http(s) base URL and returns it without
// trailing slash, and its escaped path.
func parseBase(raw string) (base, path string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("parse %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q is not an http(s)://host[/path] URL", raw)
	}
	path = strings.TrimRight(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + path, path, nil
}

// SetBaseURL sets where the site is reachable, e.g. an httptest server's
// URL. A path (".../jira") is a base path: the site must then be mounted
// there, and it strips it when routing and computing qsh.
func (s *Site) SetBaseURL(raw string) error {
	base, path, err := parseBase(raw)
	if err != nil {
		return fmt.Errorf("jiratest: set base url: %w", err)
	}
	s.mu.Lock()
	s.baseURL, s.basePath = base, path
	s.mu.Unlock()
	return nil
}

// SetAppBaseURL sets the app's base URL (its descriptor baseUrl), which
// lifecycle callbacks, webhooks and signed URLs are sent to. It may have a
// path; qsh claims are computed relative to it.
func (s *Site) SetAppBaseURL(raw string) error {
	base, path, err := parseBase(raw)
	if err != nil {
		return fmt.Errorf("jiratest: set app base url: %w", err)
	}
	s.mu.Lock()
	s.appBaseURL, s.appBasePath = base, path
	s.mu.Unlock()
	return nil
}

// BaseURL returns the site's base URL ("" before SetBaseURL).
func (s *Site) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// AppBaseURL returns the app's base URL ("" before SetAppBaseURL).
func (s *Site) AppBaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appBaseURL
}

// KeysURL returns the base URL of the site's install-keys server, the value
// for CONNECT_INSTALL_KEYS_URL.
func (s *Site) KeysURL() string {
	return s.BaseURL() + "/install-keys"
}

// AppKey returns the key of the app the site expects tokens from.
func (s *Site) AppKey() string { return s.appKey }

// ClientKey returns the site's client key, the iss of its tokens.
func (s *Site) ClientKey() string { return s.clientKey }

// Kid returns the id of the install signing key.
func (s *Site) Kid() string { return s.kid }

// SharedSecret returns a copy of the current shared secret.
func (s *Site) SharedSecret() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secret)
}

// RotateSecret replaces the shared secret, as a reinstall does; from now
// on only the new one verifies. Follow it with Install to tell the app.
func (s *Site) RotateSecret() {
	secret := randomSecret()
	s.mu.Lock()
	s.secret = secret
	s.mu.Unlock()
}

// AddProject adds a service desk project. ID and Key are required and,
// like ServiceDeskID, must be unique.
func (s *Site) AddProject(p ProjectSpec) error {
	if p.ID <= 0 || p.Key == "" {
		return fmt.Errorf("jiratest: add project %q: a positive ID and a Key are required", p.Key)
	}
	if p.Name == "" {
		p.Name = p.Key
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.projects {
		if q.ID == p.ID || q.Key == p.Key || (p.ServiceDeskID != "" && q.ServiceDeskID == p.ServiceDeskID) {
			return fmt.Errorf("jiratest: add project %q: id, key or service desk id already used by %q", p.Key, q.Key)
		}
	}
	if p.ServiceDeskID == "" {
		p.ServiceDeskID = s.freeDeskIDLocked()
	}
	s.projects = append(s.projects, p)
	return nil
}

// freeDeskIDLocked returns the lowest unused numeric service desk id from
// len(projects)+1 on.
func (s *Site) freeDeskIDLocked() string {
	for n := len(s.projects) + 1; ; n++ {
		id := strconv.Itoa(n)
		if !slices.ContainsFunc(s.projects, func(q ProjectSpec) bool { return q.ServiceDeskID == id }) {
			return id
		}
	}
}

// RemoveProject removes the project with key, reporting whether it existed.
// Users keep their grants on the key, harmlessly.
func (s *Site) RemoveProject(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.projects)
	s.projects = slices.DeleteFunc(s.projects, func(p ProjectSpec) bool { return p.Key == key })
	return len(s.projects) != n
}

// RenameProject changes a project's key, as a Jira admin can: the project
// keeps its id, service desk and place in the list, and users' grants on it
// follow it to the new key, since Jira grants on the project, not the key.
// The old key is free afterwards for another project. It fails if oldKey is
// unknown or newKey taken.
func (s *Site) RenameProject(oldKey, newKey string) error {
	if newKey == "" {
		return fmt.Errorf("jiratest: rename project %q: a new key is required", oldKey)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.projects, func(p ProjectSpec) bool { return p.Key == oldKey })
	if i < 0 {
		return fmt.Errorf("jiratest: rename project %q: no such project", oldKey)
	}
	if slices.ContainsFunc(s.projects, func(p ProjectSpec) bool { return p.Key == newKey }) {
		return fmt.Errorf("jiratest: rename project %q: key %q already used", oldKey, newKey)
	}
	s.projects[i].Key = newKey
	if s.projects[i].Name == oldKey {
		s.projects[i].Name = newKey
	}
	rename := func(keys []string) []string {
		out := slices.Clone(keys)
		for j, k := range out {
			if k == oldKey {
				out[j] = newKey
			}
		}
		return out
	}
	for id, u := range s.users {
		u.Agent, u.ProjectAdmin = rename(u.Agent), rename(u.ProjectAdmin)
		s.users[id] = u
	}
	return nil
}

// Projects returns the projects in the order the site lists them.
func (s *Site) Projects() []ProjectSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.projects)
}

// AddUser adds a user; it fails if the account id is empty or taken.
func (s *Site) AddUser(u UserSpec) error {
	u, err := normalizeUser(u)
	if err != nil {
		return fmt.Errorf("jiratest: add user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.AccountID]; ok {
		return fmt.Errorf("jiratest: add user %q: already exists", u.AccountID)
	}
	s.users[u.AccountID] = u
	return nil
}

// SetUser adds or replaces a user, e.g. to change permissions at run time.
func (s *Site) SetUser(u UserSpec) error {
	u, err := normalizeUser(u)
	if err != nil {
		return fmt.Errorf("jiratest: set user: %w", err)
	}
	s.mu.Lock()
	s.users[u.AccountID] = u
	s.mu.Unlock()
	return nil
}

// RemoveUser removes a user, reporting whether it existed. Its account then
// looks unknown: 404 for lookups, nothing granted.
func (s *Site) RemoveUser(accountID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.users[accountID]
	delete(s.users, accountID)
	return ok
}

// User returns a copy of the user with accountID.
func (s *Site) User(accountID string) (UserSpec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[accountID]
	return cloneUser(u), ok
}

// Users returns copies of all users, sorted by account id.
func (s *Site) Users() []UserSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]UserSpec, 0, len(s.users))
	for _, id := range slices.Sorted(maps.Keys(s.users)) {
		out = append(out, cloneUser(s.users[id]))
	}
	return out
}

// normalizeUser checks u and fills defaults; the slices are copied so the
// caller cannot change the site's data behind its lock.
func normalizeUser(u UserSpec) (UserSpec, error) {
	if u.AccountID == "" {
		return u, errors.New("empty account id")
	}
	if u.DisplayName == "" {
		u.DisplayName = u.AccountID
	}
	if u.TimeZone == "" {
		u.TimeZone = "UTC"
	}
	return cloneUser(u), nil
}

func cloneUser(u UserSpec) UserSpec {
	u.Agent = slices.Clone(u.Agent)
	u.ProjectAdmin = slices.Clone(u.ProjectAdmin)
	return u
}

// SetDown makes every /rest endpoint answer 503, as during a Jira outage.
func (s *Site) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// SetKeyServerDown makes the install-keys server answer 503.
func (s *Site) SetKeyServerDown(down bool) {
	s.mu.Lock()
	s.keysDown = down
	s.mu.Unlock()
}

// Calls returns how many requests reached path (relative to the base path,
// without query, e.g. "/rest/api/3/user"), whatever the answer was.
func (s *Site) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// Requests returns the most recent requests (at most 1000), oldest first.
func (s *Site) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetCalls forgets the call counts and the request log.
func (s *Site) ResetCalls() {
	s.mu.Lock()
	clear(s.calls)
	s.requests = nil
	s.mu.Unlock()
}

// record counts a finished request.
func (s *Site) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[r.Path]++
	if len(s.requests) >= maxRequestLog {
		s.requests = slices.Delete(s.requests, 0, len(s.requests)-maxRequestLog+1)
	}
	s.requests = append(s.requests, r)
}
