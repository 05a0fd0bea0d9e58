package models

import (
	"errors"
	"time"

	"agentpresence/models/schedule"
)

// Sentinel errors the store returns; handlers translate them once into
// HTTP answers, so no layer above needs to know gorm's errors.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid")
	ErrUnavailable  = errors.New("store unavailable")
	ErrNotAnAgent   = errors.New("not a support agent of the project")
	ErrTenantClosed = errors.New("tenant uninstalled or disabled")
	// ErrTokenReplayed: a signed lifecycle token was accepted before.
	ErrTokenReplayed = errors.New("lifecycle token already used")
	// ErrTokenStale: a signed lifecycle token is not newer than the
	// tenant's last accepted one.
	ErrTokenStale = errors.New("lifecycle token older than the last accepted one")
)

// TenantID identifies one installation of the app in one Jira site. Every
// store method takes it explicitly: jobs run without a request, so a value
// hidden in a context would not be enough.
type TenantID int64

// Source says why an agent's status last changed.
type Source string

// The sources of a status change.
const (
	SourceManual     Source = "manual"
	SourceSchedule   Source = "schedule"
	SourceAdmin      Source = "admin"
	SourceInactivity Source = "inactivity"
	SourceExpiry     Source = "expiry"
)

// Valid reports whether s is one of the known sources.
func (s Source) Valid() bool {
	switch s {
	case SourceManual, SourceSchedule, SourceAdmin, SourceInactivity, SourceExpiry:
		return true
	}
	return false
}

// Tenant is one Jira site that installed the app.
type Tenant struct {
	ID             TenantID  `gorm:"primaryKey"`
	ClientKey      string    `gorm:"size:255;not null;uniqueIndex"`
	SharedSecret   []byte    `gorm:"-"` // decrypted copy; never stored in clear
	SecretSealed   []byte    `gorm:"column:secret_sealed;not null"`
	BaseURL        string    `gorm:"size:512;not null"`
	DisplayURL     string    `gorm:"size:512"`
	ProductType    string    `gorm:"size:64"`
	OAuthClientID  string    `gorm:"column:oauth_client_id;size:255"`
	Description    string    `gorm:"size:1024"`
	ServerVersion  string    `gorm:"size:64"`
	PluginsVersion string    `gorm:"size:64"`
	Installed      bool      `gorm:"not null"`
	Enabled        bool      `gorm:"not null"`
	InstalledAt    time.Time `gorm:"not null"`
	UninstalledAt  *time.Time
	EnabledAt      *time.Time
	DisabledAt     *time.Time
	// AutoOfflineMinutes puts an online agent offline after that many
	// minutes without activity; 0 turns the feature off.
	AutoOfflineMinutes int `gorm:"not null;default:0"`
	// SignedIAT is the iat (Unix seconds) of the last signed lifecycle
	// callback accepted (install or uninstall): an install must be newer,
	// an uninstall not older, so that a captured token cannot undo what
	// came after it.
	SignedIAT int64     `gorm:"column:signed_iat;not null;default:0"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`

	// Forge is the Forge side of a Forge installation (installations.go).
	Forge ForgeInstallation `gorm:"embedded;embeddedPrefix:forge_"`
}

// Active reports whether the tenant's tokens and widgets should work.
func (t Tenant) Active() bool { return t.Installed && t.Enabled }

// Install is what the signed "installed" lifecycle callback tells us.
type Install struct {
	ClientKey      string
	SharedSecret   []byte
	BaseURL        string
	DisplayURL     string
	ProductType    string
	OAuthClientID  string
	Description    string
	ServerVersion  string
	PluginsVersion string
	// Token is the signed callback's token, refused if used before or not
	// newer than the tenant's last one. Nil records the install unchecked:
	// only seeds and tests, never a request.
	Token *LifecycleToken
}

// LifecycleToken is what the store needs of a verified signed lifecycle
// token to accept it once only. It holds a digest, never the token.
type LifecycleToken struct {
	// Digest identifies the token (hex SHA-256 of its compact form).
	Digest string
	// IssuedAt is the token's iat, at a second's precision.
	IssuedAt time.Time
	// KeepUntil is when the verifier stops accepting the token anyway
	// (exp plus the clock-skew leeway): its digest is kept until then.
	KeepUntil time.Time
}

// UsedToken remembers a signed lifecycle token that was accepted, until it
// expires, so that no replica accepts it again. Its primary key is what
// makes two replicas racing with one token accept it once.
type UsedToken struct {
	Digest    string    `gorm:"primaryKey;size:64"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

// Project is a Jira Service Management project (a service desk) of a
// tenant, with the settings of its customer-facing chat widget.
type Project struct {
	ID            int64    `gorm:"primaryKey"`
	TenantID      TenantID `gorm:"not null;uniqueIndex:ux_projects_tenant_jira;uniqueIndex:ux_projects_tenant_key"`
	JiraID        string   `gorm:"size:32;not null;uniqueIndex:ux_projects_tenant_jira"`
	ServiceDeskID string   `gorm:"size:32"`
	Key           string   `gorm:"size:64;not null;uniqueIndex:ux_projects_tenant_key"`
	Name          string   `gorm:"size:255"`
	// WidgetID is the public, unguessable name of the project's chat widget;
	// it is neither the client key nor the project key so that it leaks
	// nothing and can be rotated.
	WidgetID           string    `gorm:"size:64;not null;uniqueIndex"`
	WidgetEnabled      bool      `gorm:"not null;default:true"`
	UnavailableMessage string    `gorm:"size:1000"`
	AllowedOrigins     []string  `gorm:"serializer:json"`
	CreatedAt          time.Time `gorm:"not null"`
	UpdatedAt          time.Time `gorm:"not null"`
}

// DefaultUnavailableMessage is shown to customers when nobody is online and
// the project has not written its own text.
const DefaultUnavailableMessage = "Our agents are not available right now. Log in or register to start a chat and we will answer by e-mail."

// Message is the text customers see while the chat is offline.
func (p Project) Message() string {
	if p.UnavailableMessage == "" {
		return DefaultUnavailableMessage
	}
	return p.UnavailableMessage
}

// ProjectRef is a project as Jira lists it.
type ProjectRef struct {
	JiraID        string
	ServiceDeskID string
	Key           string
	Name          string
}

// Agent is what we keep about one Jira user of a tenant: nothing personal
// beyond the account id, plus their connection presence and schedule.
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
}

// Membership says that an account is a support agent of a project, as Jira
// last told us; jobs act on it without asking Jira.
type Membership struct {
	TenantID  TenantID `gorm:"primaryKey;autoIncrement:false"`
	AccountID string   `gorm:"primaryKey;size:128"`
	ProjectID int64    `gorm:"primaryKey;autoIncrement:false;index"`
}

// Status is an agent's chosen state in one project. A missing row means
// offline, the default for everyone.
type Status struct {
	// ix_statuses_tenant_account finds an account's rows in every project
	// (going offline everywhere, a schedules tick) without reading the
	// whole tenant's.
	TenantID  TenantID `gorm:"primaryKey;autoIncrement:false;index:ix_statuses_tenant_account,priority:1"`
	ProjectID int64    `gorm:"primaryKey;autoIncrement:false;index:ix_statuses_project_online,priority:1"`
	AccountID string   `gorm:"primaryKey;size:128;index:ix_statuses_tenant_account,priority:2"`
	Online    bool     `gorm:"not null;index:ix_statuses_project_online,priority:2"`
	Since     time.Time
	// Until ends an online period ("online for 1 h"); nil means until the
	// agent (or a job) changes it.
	Until  *time.Time `gorm:"index"`
	Source Source     `gorm:"size:16;not null"`
}

// Event is one effective status change: the audit trail and the raw
// material of reports.
type Event struct {
	ID             int64     `gorm:"primaryKey"`
	TenantID       TenantID  `gorm:"not null;index:ix_events_tenant_at,priority:1"`
	ProjectID      int64     `gorm:"not null"`
	AccountID      string    `gorm:"size:128;not null"`
	FromOnline     bool      `gorm:"not null"`
	ToOnline       bool      `gorm:"not null"`
	Source         Source    `gorm:"size:16;not null"`
	ActorAccountID string    `gorm:"size:128"`
	Reason         string    `gorm:"size:500"`
	At             time.Time `gorm:"not null;index:ix_events_tenant_at,priority:2;index:ix_events_at"` // alone too: the retention job's cut-off
}
