package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"gorm.io/gorm"
)

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

	// ChatURL is where customers start a chat while someone is online
	// (https); empty: the portal's request form of the project's desk.
	ChatURL string `gorm:"size:1000"`
	// OnlineMessage is what customers read while someone is online;
	// empty: the built-in text in their language.
	OnlineMessage string `gorm:"size:1000"`
	// Translations give the two messages per language ("de", "pt-BR"); a
	// language without its own falls back to the project's two above.
	Translations map[string]Translation `gorm:"serializer:json"`
}

// Translation is a project's messages to customers in one language; an
// empty one falls back to the project's default-language message.
type Translation struct {
	Unavailable string `json:"unavailable,omitempty"`
	Online      string `json:"online,omitempty"`
}

// DefaultUnavailableMessage is shown to customers when nobody is online and
// the project has not written its own text: the English one; handlers
// word it in the customer's language (their catalog's widget.unavailable,
// which a test keeps equal to this).
const DefaultUnavailableMessage = "Our agents are not available right now. Leave us a request and we will answer by e-mail."

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

// newWidgetID makes a public widget id: 128 random bits, URL-safe.
func newWidgetID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("widget id: %w", err)
	}
	return "w_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// SyncProjects records the tenant's service desk projects as Jira lists
// them: new ones get a widget id, known ones keep theirs and their settings.
// The Jira id is a project's identity and the key follows it: renamed,
// swapped and reused keys are applied in one transaction, and a project no
// longer listed gives up a key (or service desk id) that a listed one now
// has. New and re-keyed projects are announced, so that every replica's
// board and answer caches learn the keys; a sync that changes nothing
// writes nothing. at is when Jira listed them.
func (s *Store) SyncProjects(ctx context.Context, tenant TenantID, refs []ProjectRef, at time.Time) ([]Project, error) {
	announce := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			// Two requests of one tenant syncing at once take turns on the
			// tenant's row, so the second reads what the first wrote
			// (SQLite's immediate transactions already take turns).
			if err := tx.Exec("SELECT id FROM tenants WHERE id = ? FOR UPDATE", tenant).Error; err != nil {
				return err
			}
		}
		var err error
		announce, err = syncProjects(tx, tenant, refs, at.UTC())
		return err
	})
	if err != nil {
		return nil, translate("sync projects", err)
	}
	if announce {
		s.changed(ctx, tenant, nil)
	}
	return s.Projects(ctx, tenant)
}

// parkedKey is the key a project holds while its own is taken by another:
// "~" and the Jira id, unique in the tenant and never a Jira key (keys are
// letters, digits and "_"), so no request can name it.
func parkedKey(jiraID string) string { return "~" + jiraID }

// syncProjects does SyncProjects' work in tx and tells whether a project
// was added or changed key: what the board and the answer caches, which
// find projects by key, must hear at once (a new name reaches them within
// their TTL). Keys are unique per tenant at every statement,
// so a project whose key must change first moves to its parked key; only
// then do the listed projects take their keys. That makes renames, swaps
// and rotations work in any listing order, on both dialects, without
// deferred constraints.
func syncProjects(tx *gorm.DB, tenant TenantID, refs []ProjectRef, now time.Time) (bool, error) {
	var known []Project
	if err := tx.Where("tenant_id = ?", tenant).Find(&known).Error; err != nil {
		return false, err
	}
	byJira := make(map[string]Project, len(known))
	for _, p := range known {
		byJira[p.JiraID] = p
	}
	// The listed projects, one per Jira id and per key (Jira lists each
	// once; a repeat would only make the sync fail).
	want := make(map[string]ProjectRef, len(refs))
	wantKey := make(map[string]string, len(refs)) // key → Jira id
	wantDesk := make(map[string]bool, len(refs))
	listed := make([]ProjectRef, 0, len(refs))
	for _, r := range refs {
		if r.JiraID == "" || r.Key == "" {
			continue
		}
		if _, dup := want[r.JiraID]; dup {
			continue
		}
		if _, dup := wantKey[r.Key]; dup {
			continue
		}
		want[r.JiraID], wantKey[r.Key] = r, r.JiraID
		if r.ServiceDeskID != "" {
			wantDesk[r.ServiceDeskID] = true
		}
		listed = append(listed, r)
	}
	rekeyed := false
	// Step 1: every known project whose key must change, and every
	// unlisted one holding a key a listed one wants, moves aside.
	for _, p := range known {
		r, isListed := want[p.JiraID]
		holder, wanted := wantKey[p.Key]
		move := (isListed && r.Key != p.Key) || (!isListed && wanted && holder != p.JiraID)
		fields := map[string]any{}
		if move && p.Key != parkedKey(p.JiraID) {
			fields["key"] = parkedKey(p.JiraID)
		}
		if !isListed && p.ServiceDeskID != "" && wantDesk[p.ServiceDeskID] {
			// A desk id is Jira's too: the portal footer finds a project
			// by it, so the listed project must be the only one with it.
			fields["service_desk_id"] = ""
		}
		if len(fields) == 0 {
			continue
		}
		fields["updated_at"] = now
		if err := tx.Model(&Project{}).Where("tenant_id = ? AND id = ?", tenant, p.ID).Updates(fields).Error; err != nil {
			return false, err
		}
		rekeyed = rekeyed || fields["key"] != nil
	}
	// Step 2: the listed projects take their keys, names and desks; new
	// ones are created with a widget id of their own.
	for _, r := range listed {
		p, isKnown := byJira[r.JiraID]
		if !isKnown {
			wid, err := newWidgetID()
			if err != nil {
				return false, err
			}
			if err := tx.Create(&Project{TenantID: tenant, JiraID: r.JiraID, ServiceDeskID: r.ServiceDeskID, Key: r.Key,
				Name: r.Name, WidgetID: wid, WidgetEnabled: true, AllowedOrigins: []string{}}).Error; err != nil {
				return false, err
			}
			rekeyed = true
			continue
		}
		if p.Key == r.Key && p.Name == r.Name && p.ServiceDeskID == r.ServiceDeskID {
			continue
		}
		if err := tx.Model(&Project{}).Where("tenant_id = ? AND id = ?", tenant, p.ID).
			Updates(map[string]any{"key": r.Key, "name": r.Name, "service_desk_id": r.ServiceDeskID, "updated_at": now}).Error; err != nil {
			return false, err
		}
		rekeyed = rekeyed || p.Key != r.Key
	}
	return rekeyed, nil
}

// Projects lists the tenant's projects by key.
func (s *Store) Projects(ctx context.Context, tenant TenantID) ([]Project, error) {
	var ps []Project
	if err := s.db.WithContext(ctx).Where("tenant_id = ?", tenant).Order("key").Find(&ps).Error; err != nil {
		return nil, translate("list projects", err)
	}
	return ps, nil
}

// ProjectByKey finds one of the tenant's projects by its Jira key.
func (s *Store) ProjectByKey(ctx context.Context, tenant TenantID, key string) (Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND key = ?", tenant, key).Take(&p).Error; err != nil {
		return Project{}, translate("find project", err)
	}
	return p, nil
}

// ProjectByServiceDesk finds one of the tenant's projects by service desk id.
func (s *Store) ProjectByServiceDesk(ctx context.Context, tenant TenantID, serviceDeskID string) (Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND service_desk_id = ?", tenant, serviceDeskID).Take(&p).Error; err != nil {
		return Project{}, translate("find project", err)
	}
	return p, nil
}

// ProjectSettings are the settings a project admin edits.
type ProjectSettings struct {
	WidgetEnabled      bool
	UnavailableMessage string
	AllowedOrigins     []string
	// ChatURL, OnlineMessage and Translations replace the project's when
	// set; nil keeps them.
	ChatURL       *string
	OnlineMessage *string
	Translations  *map[string]Translation
}

// UpdateProjectSettings replaces a project's widget settings at at.
func (s *Store) UpdateProjectSettings(ctx context.Context, tenant TenantID, projectID int64, ps ProjectSettings, at time.Time) (Project, error) {
	origins := ps.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return s.updateProject(ctx, "update project settings", tenant, projectID, func(q *gorm.DB) *gorm.DB {
		cols := []any{"unavailable_message", "allowed_origins", "updated_at"}
		p := Project{WidgetEnabled: ps.WidgetEnabled, UnavailableMessage: ps.UnavailableMessage,
			AllowedOrigins: origins, UpdatedAt: at.UTC()}
		if ps.ChatURL != nil {
			cols, p.ChatURL = append(cols, "chat_url"), *ps.ChatURL
		}
		if ps.OnlineMessage != nil {
			cols, p.OnlineMessage = append(cols, "online_message"), *ps.OnlineMessage
		}
		if ps.Translations != nil {
			cols, p.Translations = append(cols, "translations"), *ps.Translations
			if p.Translations == nil {
				p.Translations = map[string]Translation{}
			}
		}
		return q.Select("widget_enabled", cols...).Updates(&p)
	})
}

// RotateWidget gives the project a new widget id at at; the old one stops
// working.
func (s *Store) RotateWidget(ctx context.Context, tenant TenantID, projectID int64, at time.Time) (Project, error) {
	wid, err := newWidgetID()
	if err != nil {
		return Project{}, err
	}
	return s.updateProject(ctx, "rotate widget", tenant, projectID, func(q *gorm.DB) *gorm.DB {
		return q.Updates(map[string]any{"widget_id": wid, "updated_at": at.UTC()})
	})
}

// updateProject applies one update to one of the tenant's projects,
// announces it and answers the project as it is now.
func (s *Store) updateProject(ctx context.Context, op string, tenant TenantID, projectID int64, update func(*gorm.DB) *gorm.DB) (Project, error) {
	res := update(s.db.WithContext(ctx).Model(&Project{}).Where("tenant_id = ? AND id = ?", tenant, projectID))
	if res.Error != nil {
		return Project{}, translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return Project{}, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	s.changed(ctx, tenant, []int64{projectID})
	return s.projectByID(ctx, tenant, projectID)
}

func (s *Store) projectByID(ctx context.Context, tenant TenantID, id int64) (Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND id = ?", tenant, id).Take(&p).Error; err != nil {
		return Project{}, translate("find project", err)
	}
	return p, nil
}
