package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"

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

// HubOption configures an event hub.
type HubOption func(*hubConfig)

type hubConfig struct {
	hubSettings
	clock clockwork.Clock
	log   *slog.Logger
}

func newHubConfig(opts []HubOption) hubConfig {
	cfg := hubConfig{hubSettings: hubSettings{buffer: 16, history: 256, maxStreams: 20_000},
		clock: clockwork.NewRealClock(), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// WithHubClock sets the clock of the streams' keepalive ticks.
func WithHubClock(c clockwork.Clock) HubOption { return func(cfg *hubConfig) { cfg.clock = c } }

// WithHubLogger sets where a hub reports failures.
func WithHubLogger(log *slog.Logger) HubOption { return func(cfg *hubConfig) { cfg.log = log } }

// WithHubMaxStreams sets how many streams may be open at once (20 000);
// app sets the instance's stream cap.
func WithHubMaxStreams(n int) HubOption {
	return func(cfg *hubConfig) { cfg.maxStreams = max(n, 1) }
}

// WithHubLimits sets how many events a stream may fall behind before it is
// dropped (default 16), how many recent events are kept for resuming
// streams (256) and how many streams may be open at once (20 000).
func WithHubLimits(buffer, history, maxStreams int) HubOption {
	return func(cfg *hubConfig) {
		cfg.buffer, cfg.history, cfg.maxStreams = max(buffer, 1), max(history, 1), max(maxStreams, 1)
	}
}

// AgentHub streams online counts to the agents' pages of each tenant. On a
// change it counts once, whoever listens, and hands the counts to every
// stream of the tenant; each stream keeps the projects its user may see.
type AgentHub struct {
	cfg   hubConfig
	store CountStore
	hub   *hub[models.TenantID, []models.ProjectCount]
	// pubMu orders count-and-publish, so an older count is never published
	// after a newer one.
	pubMu sync.Mutex
	stop  func()
}

// NewAgentHub builds the agents' hub, fed by the store's changes.
func NewAgentHub(store CountStore, opts ...HubOption) *AgentHub {
	h := &AgentHub{cfg: newHubConfig(opts), store: store}
	h.hub = newHub[models.TenantID, []models.ProjectCount](h.cfg.hubSettings)
	h.stop = store.Watch(h.onChange)
	return h
}

// Close ends every stream and stops listening; app calls it before the
// server's Shutdown, which would otherwise wait for the streams.
func (h *AgentHub) Close() {
	h.stop()
	h.hub.close()
}

// Streams counts the open streams.
func (h *AgentHub) Streams() int { return h.hub.streams() }

func (h *AgentHub) onChange(ctx context.Context, ch models.Change) {
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	switch {
	case ch.Resync:
		h.hub.forgetHistory()
		for _, tenant := range h.hub.keys() {
			h.publishCounts(ctx, tenant, nil)
		}
	case ch.TenantChanged:
		// Installed, uninstalled, enabled or disabled: the streams end and
		// reconnect through authentication, which decides again.
		h.hub.publish(ch.Tenant, nil, true)
		h.hub.end(ch.Tenant)
	case !h.hub.watching(ch.Tenant):
		// Nobody to count for; a client that resumes later across this
		// point gets a snapshot.
		h.hub.publish(ch.Tenant, nil, true)
	default:
		h.publishCounts(ctx, ch.Tenant, ch.ProjectIDs)
	}
}

func (h *AgentHub) publishCounts(ctx context.Context, tenant models.TenantID, projectIDs []int64) {
	counts, err := h.store.ProjectCounts(ctx, tenant, projectIDs)
	if err != nil {
		h.cfg.log.Warn("count online agents for live updates", "tenant", tenant, "err", err)
		h.hub.publish(tenant, nil, true) // streams take a snapshot instead
		return
	}
	h.hub.publish(tenant, counts, false)
}

// WidgetHub streams a widget's customer-visible status to the pages that
// show it. It publishes only when the status's ETag changes.
type WidgetHub struct {
	cfg   hubConfig
	board LiveBoard
	hub   *hub[string, widgetEvent]

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
// each stream words in its customer's language (statusBodies, where the
// answer of a state in a language is encoded once for all).
type widgetEvent struct {
	etag  string
	state *models.WidgetState
}

// NewWidgetHub builds the widgets' hub, fed by the board after each
// refresh.
func NewWidgetHub(board LiveBoard, opts ...HubOption) *WidgetHub {
	h := &WidgetHub{cfg: newHubConfig(opts), board: board, watched: map[models.TenantID]map[string]*watchedWidget{}}
	h.hub = newHub[string, widgetEvent](h.cfg.hubSettings)
	h.stop = board.Watch(h.onChange)
	return h
}

// Close ends every stream and stops listening.
func (h *WidgetHub) Close() {
	h.stop()
	h.hub.close()
}

// Streams counts the open streams.
func (h *WidgetHub) Streams() int { return h.hub.streams() }

func (h *WidgetHub) onChange(_ context.Context, ch models.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch.Resync {
		h.hub.forgetHistory()
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
		h.hub.end(w.id)
		h.unwatchLocked(w)
		return
	}
	if cur.ETag == w.etag {
		return
	}
	w.etag = cur.ETag
	h.hub.publish(w.id, statusEvent(cur), false)
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
func (h *WidgetHub) subscribe(id, lastEventID string) (cur models.WidgetState, w *watchedWidget, s subscription[string, widgetEvent], err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, err = availableWidget(h.board, id); err != nil {
		return cur, nil, s, err
	}
	if s, err = h.hub.subscribe(id, lastEventID); err != nil {
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

func (h *WidgetHub) unsubscribe(w *watchedWidget, sub *subscriber[string, widgetEvent]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hub.unsubscribe(sub)
	if w.refs--; w.refs == 0 {
		h.unwatchLocked(w)
	}
}

// statusEvent is a state as a stream sends it.
func statusEvent(w models.WidgetState) widgetEvent {
	return widgetEvent{etag: strings.Trim(w.ETag, `"`), state: &w}
}

// Events serves the live streams: the agents' counts and the widgets'
// status.
type Events struct {
	Agents    *AgentHub
	Widgets   *WidgetHub
	Store     PresenceStore
	Directory *Directory

	// caps bound the open streams (streamcaps.go); nil: no caps.
	caps *streamCaps
	// bodies words the widgets' status in their customers' languages,
	// as the status API does.
	bodies statusBodies
}

// projectCount is one project's count as the agents' stream sends it.
type projectCount struct {
	Key         string `json:"key"`
	OnlineCount int    `json:"onlineCount"`
}

type presenceEvent struct {
	Projects []projectCount `json:"projects"`
}

// AgentStream streams "presence" events to an agent's page: the online
// counts of the projects where the caller is an agent (and of ?project, as
// GET /me shows it) whenever they may have changed. EventSource cannot set
// headers, so the page passes its context token as ?jwt=.
func (e *Events) AgentStream(c echo.Context) error {
	st, first, err := e.openAgentStream(c)
	if err != nil || st == nil {
		return err // nil with no stream: the refusal is already answered
	}
	h := e.Agents.hub
	return serveStream(c, stream[models.TenantID, []models.ProjectCount]{
		hub: h, sub: st.sub, clock: e.Agents.cfg.clock, lifetime: e.caps.lifetime(),
		done: func() { h.unsubscribe(st.sub); st.slot.release() },
		write: func(ctx context.Context, buf *sseBuffer, ev *hubEvent[models.TenantID, []models.ProjectCount]) error {
			if ev.tomb {
				// Something changed that the hub did not count: count for
				// this client.
				data, err := st.snapshot(ctx)
				if err != nil {
					return err
				}
				buf.event(h.eventID(ev.id), "presence", data)
				return nil
			}
			if data := presenceJSON(ev.data, st.allowed); data != nil {
				buf.event(h.eventID(ev.id), "presence", data)
			}
			return nil
		},
	}, first)
}

// agentStream is what an agent's stream keeps while it idles.
type agentStream struct {
	hub     *AgentHub
	sub     *subscriber[models.TenantID, []models.ProjectCount]
	slot    *streamSlot
	tenant  models.TenantID
	allowed []int64 // sorted; never nil, since nil would mean every project
}

func (st *agentStream) snapshot(ctx context.Context) ([]byte, error) {
	counts, err := st.hub.store.ProjectCounts(ctx, st.tenant, st.allowed)
	if err != nil {
		return nil, err
	}
	return presenceJSON(counts, nil), nil
}

// openAgentStream authorises, subscribes and prepares the first events.
func (e *Events) openAgentStream(c echo.Context) (*agentStream, *sseBuffer, error) {
	ctx, t, account := c.Request().Context(), tenantOf(c), accountOf(c)
	if account == "" {
		return nil, nil, unauthorized("no_user", "the token does not name a user")
	}
	// Counted before any query: a refused stream costs nothing more.
	slot, err := e.caps.admit(c.RealIP(), t.ID, account)
	if err != nil {
		return nil, nil, err
	}
	opened := false
	defer func() {
		if !opened {
			slot.release()
		}
	}()
	mine, err := e.Directory.AgentProjects(ctx, t, account)
	if err != nil {
		return nil, nil, err
	}
	allowed := make([]int64, 0, len(mine)+1)
	for _, p := range mine {
		allowed = append(allowed, p.ID)
	}
	// The page's project is looked up only when it is not one of the
	// caller's, as GET /me does.
	if key := c.QueryParam("project"); key != "" && !slices.ContainsFunc(mine, func(p models.Project) bool { return p.Key == key }) {
		p, err := e.Store.ProjectByKey(ctx, t.ID, key)
		switch {
		case err == nil:
			allowed = append(allowed, p.ID)
		case !errors.Is(err, models.ErrNotFound):
			return nil, nil, err
		}
	}
	slices.Sort(allowed)
	st := &agentStream{hub: e.Agents, slot: slot, tenant: t.ID, allowed: slices.Clip(slices.Compact(allowed))}

	h := e.Agents.hub
	s, err := h.subscribe(t.ID, c.Request().Header.Get("Last-Event-ID"))
	if err != nil {
		return nil, nil, refuseStream(c, err)
	}
	st.sub = s.sub
	first := newSSEBuffer()
	if !s.resumed || slices.ContainsFunc(s.replay, func(ev *hubEvent[models.TenantID, []models.ProjectCount]) bool { return ev.tomb }) {
		data, err := st.snapshot(ctx)
		if err != nil {
			h.unsubscribe(s.sub)
			return nil, nil, err
		}
		first.event(h.eventID(s.cursor), "presence", data)
	} else {
		for _, ev := range s.replay {
			if data := presenceJSON(ev.data, st.allowed); data != nil {
				first.event(h.eventID(ev.id), "presence", data)
			}
		}
	}
	opened = true
	return st, first, nil
}

// presenceJSON encodes the counts of the allowed projects (all when
// allowed is nil); nil when none of them is among the counts.
func presenceJSON(counts []models.ProjectCount, allowed []int64) []byte {
	ev := presenceEvent{Projects: make([]projectCount, 0, len(counts))}
	for _, pc := range counts {
		if _, ok := slices.BinarySearch(allowed, pc.ProjectID); ok || allowed == nil {
			ev.Projects = append(ev.Projects, projectCount{Key: pc.Key, OnlineCount: pc.Online})
		}
	}
	if allowed != nil && len(ev.Projects) == 0 {
		return nil
	}
	data, _ := json.Marshal(ev) // plain structs: cannot fail
	return data
}

// WidgetStream streams a widget's status to customers' pages: the current
// status at once, then a "status" event whenever it changes. No token;
// CORS as the status API; an unknown or disabled widget answers 404.
func (e *Events) WidgetStream(c echo.Context) error {
	h := e.Widgets
	slot, err := e.caps.admit(c.RealIP(), 0, "")
	if err != nil {
		return err
	}
	lastID := c.Request().Header.Get("Last-Event-ID")
	cur, watched, s, err := h.subscribe(c.Param("widgetId"), lastID)
	allowCORS(c, cur) // also on the 404, like the status API
	if err != nil {
		slot.release()
		return refuseStream(c, err)
	}
	// A client that resumes gets the events it missed; if its last known
	// status (the id's third part) is still not the current one, because
	// the widget changed while nobody here streamed it, the snapshot too.
	// Each status is sent in the customer's language, and its id carries
	// that language's ETag, so that a poll after a break is a 304.
	loc := e.bodies.msgs.callerLocale(c)
	send := func(buf *sseBuffer, seq uint64, w *models.WidgetState) string {
		enc := e.bodies.status(*w, loc)
		tag := strings.Trim(enc.etag, `"`)
		buf.event(widgetEventID(h.hub, seq, tag), "status", enc.body)
		return tag
	}
	first := newSSEBuffer()
	known := ""
	if s.resumed {
		_, known, _ = h.hub.parseEventID(lastID)
		for _, ev := range s.replay {
			known = send(first, ev.id, ev.data.state)
		}
	}
	if snapshot := e.bodies.status(cur, loc); known != strings.Trim(snapshot.etag, `"`) {
		send(first, s.cursor, &cur)
	}
	sub := s.sub
	return serveStream(c, stream[string, widgetEvent]{
		hub: h.hub, sub: sub, clock: h.cfg.clock, lifetime: e.caps.lifetime(),
		done: func() { h.unsubscribe(watched, sub); slot.release() },
		write: func(_ context.Context, buf *sseBuffer, ev *hubEvent[string, widgetEvent]) error {
			send(buf, ev.id, ev.data.state)
			return nil
		},
	}, first)
}

// widgetEventID is "<epoch>.<seq>.<etag>": the status a client has seen
// travels with its Last-Event-ID.
func widgetEventID(h *hub[string, widgetEvent], seq uint64, etag string) string {
	return h.eventID(seq) + "." + etag
}

// refuseStream answers a stream the hub would not take.
func refuseStream(c echo.Context, err error) error {
	switch {
	case errors.Is(err, errHubClosed):
		return goAway(c)
	case errors.Is(err, errTooManyStreams):
		return tooManyStreams("on this server")
	}
	return err
}
