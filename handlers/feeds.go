package handlers

// The live feeds: the agents' and the widgets' hubs, fed by the store's and
// the board's changes. They decide what changed for whom; handlers/live
// carries it to the streams (events.go serves them).

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"agentpresence/handlers/live"
	"agentpresence/models"
)

// ChangeSource is where a hub hears of changes: the store, or the board
// (which tells after it has refreshed).
type ChangeSource interface {
	Watch(fn models.ChangeFunc) (stop func())
}

// CountStore is what the agents' hub needs of the store.
type CountStore interface {
	ChangeSource
	ProjectCounts(ctx context.Context, tenant models.TenantID, projectIDs []int64) ([]models.ProjectCount, error)
}

// LiveBoard is the widget board as the widgets' hub uses it.
type LiveBoard interface {
	WidgetBoard
	ChangeSource
}

// AgentHub streams online counts to the agents' pages of each tenant. On a
// change it counts once, whoever listens, and hands the counts to every
// stream of the tenant; each stream keeps the projects its user may see.
type AgentHub struct {
	log   *slog.Logger
	store CountStore
	hub   *live.Hub[models.TenantID, []models.ProjectCount]
	// pubMu orders count-and-publish, so an older count is never published
	// after a newer one.
	pubMu sync.Mutex
	stop  func()
}

// NewAgentHub builds the agents' hub, fed by the store's changes; it
// reports failures to log.
func NewAgentHub(store CountStore, log *slog.Logger, opts ...live.Option) *AgentHub {
	h := &AgentHub{log: log, store: store, hub: live.NewHub[models.TenantID, []models.ProjectCount](opts...)}
	h.stop = store.Watch(h.onChange)
	return h
}

// Close ends every stream and stops listening; app calls it before the
// server's Shutdown, which would otherwise wait for the streams.
func (h *AgentHub) Close() {
	h.stop()
	h.hub.Close()
}

// Streams counts the open streams.
func (h *AgentHub) Streams() int { return h.hub.Streams() }

func (h *AgentHub) onChange(ctx context.Context, ch models.Change) {
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	switch {
	case ch.Resync:
		h.hub.ForgetHistory()
		for _, tenant := range h.hub.Keys() {
			h.publishCounts(ctx, tenant, nil)
		}
	case ch.SettingsChanged:
		// No count changed; GET /me tells the pages the new limit.
	case ch.TenantChanged:
		// Installed, uninstalled, enabled or disabled: the streams end and
		// reconnect through authentication, which decides again.
		h.hub.Invalidate(ch.Tenant)
		h.hub.End(ch.Tenant)
	case !h.hub.Watching(ch.Tenant):
		// Nobody to count for; a client that resumes later across this
		// point gets a snapshot.
		h.hub.Invalidate(ch.Tenant)
	default:
		h.publishCounts(ctx, ch.Tenant, ch.ProjectIDs)
	}
}

func (h *AgentHub) publishCounts(ctx context.Context, tenant models.TenantID, projectIDs []int64) {
	counts, err := h.store.ProjectCounts(ctx, tenant, projectIDs)
	if err != nil {
		h.log.Warn("count online agents for live updates", "tenant", tenant, "err", err)
		h.hub.Invalidate(tenant) // streams take a snapshot instead
		return
	}
	h.hub.Publish(tenant, counts)
}

// WidgetHub streams a widget's customer-visible status to the pages that
// show it. It publishes only when the status's ETag changes.
type WidgetHub struct {
	board LiveBoard
	hub   *live.Hub[string, widgetEvent]

	// mu orders subscriptions and publishing, and guards watched: the
	// widgets someone streams, by tenant, with the ETag last published.
	mu      sync.Mutex
	watched map[models.TenantID]map[string]*watchedWidget
	stop    func()
}

type watchedWidget struct {
	id      string
	tenant  models.TenantID
	project int64
	etag    string
	refs    int
}

// widgetEvent is a status as published: its ETag and the state, which
// each stream words in its customer's language (StatusBodies, where the
// answer of a state in a language is encoded once for all).
type widgetEvent struct {
	etag  string
	state *models.WidgetState
}

// NewWidgetHub builds the widgets' hub, fed by the board after each
// refresh.
func NewWidgetHub(board LiveBoard, opts ...live.Option) *WidgetHub {
	h := &WidgetHub{board: board, watched: map[models.TenantID]map[string]*watchedWidget{},
		hub: live.NewHub[string, widgetEvent](opts...)}
	h.stop = board.Watch(h.onChange)
	return h
}

// Close ends every stream and stops listening.
func (h *WidgetHub) Close() {
	h.stop()
	h.hub.Close()
}

// Streams counts the open streams.
func (h *WidgetHub) Streams() int { return h.hub.Streams() }

func (h *WidgetHub) onChange(_ context.Context, ch models.Change) {
	if ch.SettingsChanged {
		return // no widget shows the tenant's settings
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch.Resync {
		h.hub.ForgetHistory()
		for _, ws := range h.watched {
			for _, w := range ws {
				h.checkLocked(w)
			}
		}
		return
	}
	for _, w := range h.watched[ch.Tenant] {
		if ch.ProjectIDs == nil || slices.Contains(ch.ProjectIDs, w.project) {
			h.checkLocked(w)
		}
	}
}

// checkLocked publishes a watched widget's status if it changed, and ends
// its streams if the widget is gone (disabled, uninstalled, rotated): the
// clients' reconnection then meets the same 404 as the status API.
func (h *WidgetHub) checkLocked(w *watchedWidget) {
	cur, ok := h.board.Widget(w.id)
	if !ok || !cur.Available || cur.ProjectID != w.project {
		h.hub.End(w.id)
		h.unwatchLocked(w)
		return
	}
	if cur.ETag == w.etag {
		return
	}
	w.etag = cur.ETag
	h.hub.Publish(w.id, statusEvent(cur))
}

func (h *WidgetHub) unwatchLocked(w *watchedWidget) {
	ws := h.watched[w.tenant]
	if ws[w.id] != w {
		return // already replaced
	}
	delete(ws, w.id)
	if len(ws) == 0 {
		delete(h.watched, w.tenant)
	}
}

// subscribe finds an available widget and registers a stream of it; cur is
// the state to send as the snapshot, read in the same step.
func (h *WidgetHub) subscribe(id, lastEventID string) (cur models.WidgetState, w *watchedWidget, s live.Subscription[string, widgetEvent], err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, err = availableWidget(h.board, id); err != nil {
		return cur, nil, s, err
	}
	if s, err = h.hub.Subscribe(id, lastEventID); err != nil {
		return cur, nil, s, err
	}
	ws := h.watched[cur.TenantID]
	if ws == nil {
		ws = map[string]*watchedWidget{}
		h.watched[cur.TenantID] = ws
	}
	w = ws[id]
	if w == nil {
		w = &watchedWidget{id: id, tenant: cur.TenantID, project: cur.ProjectID, etag: cur.ETag}
		ws[id] = w
	}
	w.refs++
	return cur, w, s, nil
}

func (h *WidgetHub) unsubscribe(w *watchedWidget, sub *live.Subscriber[string, widgetEvent]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hub.Unsubscribe(sub)
	if w.refs--; w.refs == 0 {
		h.unwatchLocked(w)
	}
}

// statusEvent is a state as a stream sends it.
func statusEvent(w models.WidgetState) widgetEvent {
	return widgetEvent{etag: strings.Trim(w.ETag, `"`), state: &w}
}
