package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
	"agentpresence/handlers/live"
	"agentpresence/models"
)

// Events serves the live streams: the agents' counts and the widgets'
// status.
type Events struct {
	Agents    *AgentHub
	Widgets   *WidgetHub
	Store     PresenceStore
	Directory *jira.Directory
	// Caps bound the open streams; nil: no caps.
	Caps *live.Caps
	// Bodies keep the widgets' status as encoded in each language, shared
	// with the status API; nil: encoded for each event. Messages words it.
	Bodies   *StatusBodies
	Messages *Messages
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
	return live.Serve(c, live.Stream[models.TenantID, []models.ProjectCount]{
		Hub: h, Sub: st.sub, Lifetime: e.Caps.Lifetime(),
		Done: func() { h.Unsubscribe(st.sub); st.slot.Release() },
		Write: func(ctx context.Context, buf *live.Buffer, ev *live.Event[models.TenantID, []models.ProjectCount]) error {
			if ev.Stale {
				// Something changed that the hub did not count: count for
				// this client.
				data, err := st.snapshot(ctx)
				if err != nil {
					return err
				}
				buf.Event(h.EventID(ev.ID), "presence", data)
				return nil
			}
			if data := presenceJSON(ev.Data, st.allowed); data != nil {
				buf.Event(h.EventID(ev.ID), "presence", data)
			}
			return nil
		},
	}, first)
}

// agentStream is what an agent's stream keeps while it idles.
type agentStream struct {
	hub     *AgentHub
	sub     *live.Subscriber[models.TenantID, []models.ProjectCount]
	slot    *live.Slot
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
func (e *Events) openAgentStream(c echo.Context) (*agentStream, *live.Buffer, error) {
	ctx, t, account := c.Request().Context(), tenantOf(c), accountOf(c)
	if account == "" {
		return nil, nil, unauthorized("no_user", "the token does not name a user")
	}
	// Counted before any query: a refused stream costs nothing more.
	slot, err := e.Caps.Admit(clientKey(c.RealIP()), streamUser(t.ID, account))
	if err != nil {
		return nil, nil, err
	}
	opened := false
	defer func() {
		if !opened {
			slot.Release()
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
	s, err := h.Subscribe(t.ID, c.Request().Header.Get("Last-Event-ID"))
	if err != nil {
		return nil, nil, refuseStream(c, err)
	}
	st.sub = s.Sub
	first := live.NewBuffer()
	if !s.Resumed || slices.ContainsFunc(s.Replay, func(ev *live.Event[models.TenantID, []models.ProjectCount]) bool { return ev.Stale }) {
		data, err := st.snapshot(ctx)
		if err != nil {
			h.Unsubscribe(s.Sub)
			return nil, nil, err
		}
		first.Event(h.EventID(s.Cursor), "presence", data)
	} else {
		for _, ev := range s.Replay {
			if data := presenceJSON(ev.Data, st.allowed); data != nil {
				first.Event(h.EventID(ev.ID), "presence", data)
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
	slot, err := e.Caps.Admit(clientKey(c.RealIP()), "")
	if err != nil {
		return err
	}
	lastID := c.Request().Header.Get("Last-Event-ID")
	cur, watched, s, err := h.subscribe(c.Param("widgetId"), lastID)
	allowCORS(c, cur) // also on the 404, like the status API
	if err != nil {
		slot.Release()
		return refuseStream(c, err)
	}
	// A client that resumes gets the events it missed; if its last known
	// status (the id's third part) is still not the current one, because
	// the widget changed while nobody here streamed it, the snapshot too.
	// Each status is sent in the customer's language, and its id carries
	// that language's ETag, so that a poll after a break is a 304.
	loc := e.Messages.callerLocale(c)
	send := func(buf *live.Buffer, seq uint64, w *models.WidgetState) string {
		enc := e.Bodies.status(e.Messages, *w, loc)
		tag := strings.Trim(enc.etag, `"`)
		buf.Event(widgetEventID(h.hub, seq, tag), "status", enc.body)
		return tag
	}
	first := live.NewBuffer()
	known := ""
	if s.Resumed {
		_, known, _ = h.hub.ParseEventID(lastID)
		for _, ev := range s.Replay {
			known = send(first, ev.ID, ev.Data.state)
		}
	}
	if snapshot := e.Bodies.status(e.Messages, cur, loc); known != strings.Trim(snapshot.etag, `"`) {
		send(first, s.Cursor, &cur)
	}
	sub := s.Sub
	return live.Serve(c, live.Stream[string, widgetEvent]{
		Hub: h.hub, Sub: sub, Lifetime: e.Caps.Lifetime(),
		Done: func() { h.unsubscribe(watched, sub); slot.Release() },
		Write: func(_ context.Context, buf *live.Buffer, ev *live.Event[string, widgetEvent]) error {
			send(buf, ev.ID, ev.Data.state)
			return nil
		},
	}, first)
}

// widgetEventID is "<epoch>.<seq>.<etag>": the status a client has seen
// travels with its Last-Event-ID.
func widgetEventID(h *live.Hub[string, widgetEvent], seq uint64, etag string) string {
	return h.EventID(seq) + "." + etag
}

// refuseStream answers a stream the hub would not take: a closing hub
// sends the client elsewhere; a full one is a cap like the others.
func refuseStream(c echo.Context, err error) error {
	if errors.Is(err, live.ErrClosed) {
		return live.GoAway(c)
	}
	return err
}

// streamUser is the identity an agent's streams are capped by: the tenant
// and the verified account.
func streamUser(t models.TenantID, account string) string {
	return strconv.FormatInt(int64(t), 10) + ":" + account
}
