package models

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"sync"
	"time"
)

// WidgetState is one project's chat widget: what customers may learn of it
// (its Availability), whether it answers at all, and who may ask.
type WidgetState struct {
	WidgetID   string
	TenantID   TenantID
	ProjectID  int64
	ProjectKey string
	Availability
	// Available is false when the widget or the whole tenant is switched
	// off; such a widget answers exactly like an unknown one.
	Available      bool
	AllowedOrigins []string
	// PortalOrigin is the origin (scheme://host, lower case) of the
	// tenant's Jira site, always allowed to ask; empty if the base URL has
	// none. Worked out once per refresh, not on every customer's poll.
	PortalOrigin string
	// ETag is a strong validator of what customers see (Availability,
	// Available and Chat).
	ETag string

	// Chat is what the project offers customers: its link and its own
	// texts, which handlers word in the customer's language.
	Chat WidgetChat
}

// WidgetChat is a widget's chat link and the texts its project wrote;
// empty texts fall back to the built-in ones.
type WidgetChat struct {
	// URL is where customers start a chat: the project's link, else its
	// portal's request form; empty when neither is known.
	URL string
	// Unavailable and Online are the project's default-language texts.
	Unavailable, Online string
	// Translations are the texts per language.
	Translations map[string]Translation
}

// Board keeps every widget's state in memory so that the public status
// endpoint answers without a database query. Changes (made here, or made
// elsewhere and delivered by a bus) refresh it at once; Load refreshes it
// whole, as does a resync.
type Board struct {
	store *Store
	// licensing decides whether an unlicensed site's widgets show offline.
	licensing Licensing

	// refreshMu orders refreshes: each reads the database and applies what
	// it read before the next one reads, so an older read never lands after
	// a newer one.
	refreshMu sync.Mutex

	mu        sync.RWMutex
	byWidget  map[string]WidgetState
	byProject map[int64]string // project id → widget id

	watchers watchers
}

// BoardOption configures a Board.
type BoardOption func(*Board)

// WithLicensing makes the board show an unlicensed site's widgets offline
// when licenses are enforced.
func WithLicensing(l Licensing) BoardOption { return func(b *Board) { b.licensing = l } }

// NewBoard builds an empty board fed by the store's changes.
func NewBoard(store *Store, opts ...BoardOption) *Board {
	b := &Board{store: store, byWidget: map[string]WidgetState{}, byProject: map[int64]string{}}
	for _, o := range opts {
		o(b)
	}
	store.Watch(func(ctx context.Context, ch Change) {
		var err error
		switch {
		case ch.Resync:
			err = b.Load(ctx)
		case ch.SettingsChanged:
			// No widget shows the tenant's settings.
		default:
			err = b.Refresh(ctx, ch.Tenant, ch.ProjectIDs)
		}
		if err != nil {
			store.log.Warn("refresh widget board", "tenant", ch.Tenant, "err", err)
		}
		b.watchers.notify(ctx, ch)
	})
	return b
}

// Watch adds a listener called after the board has applied a change, so
// that it reads the new widget states; stop removes it.
func (b *Board) Watch(fn ChangeFunc) (stop func()) { return b.watchers.add(fn) }

// Widget returns a widget's state.
func (b *Board) Widget(widgetID string) (WidgetState, bool) {
	b.mu.RLock()
	w, ok := b.byWidget[widgetID]
	b.mu.RUnlock()
	return w, ok
}

type widgetRow struct {
	ProjectID          int64
	TenantID           TenantID
	Key                string
	WidgetID           string
	WidgetEnabled      bool
	UnavailableMessage string
	AllowedOrigins     string
	Installed          bool
	Enabled            bool
	BaseURL            string
	Online             int
	ServiceDeskID      string
	ChatURL            string
	OnlineMessage      string
	Translations       string
	NextOnlineAt       scannedTime
	LicenseState       LicenseState
}

// widgetQuery reads the widgets with how many agents are online in each,
// counted in ix_statuses_project_online (project, online).
const widgetQuery = `SELECT p.id AS project_id, p.tenant_id, p.key, p.widget_id, p.widget_enabled,
  p.unavailable_message, p.allowed_origins, t.installed, t.enabled, t.base_url, t.license_state,
  p.service_desk_id, p.chat_url, p.online_message, p.translations,
  (SELECT COUNT(*) FROM statuses s WHERE s.tenant_id = p.tenant_id AND s.project_id = p.id AND s.online = ?) AS online,
  ` + nextOnlineSQL + ` AS next_online_at
FROM projects p JOIN tenants t ON t.id = p.tenant_id`

// Load replaces the whole board from the database.
func (b *Board) Load(ctx context.Context) error {
	b.refreshMu.Lock()
	defer b.refreshMu.Unlock()
	var rows []widgetRow
	if err := b.store.db.WithContext(ctx).Raw(widgetQuery, true, true).Scan(&rows).Error; err != nil {
		return translate("load widget board", err)
	}
	byWidget := make(map[string]WidgetState, len(rows))
	byProject := make(map[int64]string, len(rows))
	for _, r := range rows {
		w := r.state(b.licensing)
		byWidget[w.WidgetID] = w
		byProject[w.ProjectID] = w.WidgetID
	}
	b.mu.Lock()
	b.byWidget, b.byProject = byWidget, byProject
	b.mu.Unlock()
	return nil
}

// Refresh reloads some projects of a tenant (all when projectIDs is nil).
func (b *Board) Refresh(ctx context.Context, tenant TenantID, projectIDs []int64) error {
	b.refreshMu.Lock()
	defer b.refreshMu.Unlock()
	q := b.store.db.WithContext(ctx)
	var rows []widgetRow
	var err error
	if projectIDs == nil {
		err = q.Raw(widgetQuery+" WHERE p.tenant_id = ?", true, true, tenant).Scan(&rows).Error
	} else {
		err = q.Raw(widgetQuery+" WHERE p.tenant_id = ? AND p.id IN ?", true, true, tenant, projectIDs).Scan(&rows).Error
	}
	if err != nil {
		return translate("refresh widget board", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range rows {
		w := r.state(b.licensing)
		if old, ok := b.byProject[w.ProjectID]; ok && old != w.WidgetID {
			delete(b.byWidget, old) // rotated: the old id stops working
		}
		b.byWidget[w.WidgetID] = w
		b.byProject[w.ProjectID] = w.WidgetID
	}
	return nil
}

func siteOrigin(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

func (r widgetRow) state(lic Licensing) WidgetState {
	var origins []string
	if r.AllowedOrigins != "" {
		_ = json.Unmarshal([]byte(r.AllowedOrigins), &origins) // written by us as JSON; bad data means none allowed
	}
	// While the subscription is off nobody comes online: no "Back at".
	licensed, next := lic.Allows(r.LicenseState), r.NextOnlineAt.Time
	if !licensed {
		next = time.Time{}
	}
	w := WidgetState{
		WidgetID: r.WidgetID, TenantID: r.TenantID, ProjectID: r.ProjectID, ProjectKey: r.Key,
		Availability: AvailabilityOf(Project{UnavailableMessage: r.UnavailableMessage, OnlineMessage: r.OnlineMessage}, r.Online,
			licensed).WithNextOnline(next),
		Available:      r.WidgetEnabled && r.Installed && r.Enabled,
		AllowedOrigins: origins, PortalOrigin: siteOrigin(r.BaseURL),
	}
	w.Chat = r.chat()
	h := fnv.New64a()
	fmt.Fprintf(h, "%t\x00%t\x00%t\x00%s\x00%d", w.Online, w.RequiresLogin, w.Available, w.Message, w.NextOnlineAt.Unix())
	// The chat's fields, so that a changed link or text is a new ETag.
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s\x00%s", w.Chat.URL, w.Chat.Unavailable, w.Chat.Online, r.Translations)
	w.ETag = fmt.Sprintf(`"%016x"`, h.Sum64())
	return w
}

// chat is the widget's link and texts. The link defaults to the request
// form of the project's portal, where a customer can always write.
func (r widgetRow) chat() WidgetChat {
	c := WidgetChat{URL: r.ChatURL, Unavailable: r.UnavailableMessage, Online: r.OnlineMessage}
	if c.URL == "" && r.ServiceDeskID != "" && siteOrigin(r.BaseURL) != "" {
		c.URL = strings.TrimRight(r.BaseURL, "/") + "/servicedesk/customer/portal/" + url.PathEscape(r.ServiceDeskID)
	}
	if r.Translations != "" {
		_ = json.Unmarshal([]byte(r.Translations), &c.Translations) // written by us as JSON; bad data means none
	}
	return c
}
