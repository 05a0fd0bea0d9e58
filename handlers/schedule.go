package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
	"agentpresence/models"
	"agentpresence/models/schedule"
)

// ScheduleStore is what the schedule API needs of the store.
type ScheduleStore interface {
	SaveSchedule(ctx context.Context, tenant models.TenantID, accountID string, s schedule.Schedule, now time.Time) (models.Agent, error)
	ScheduleOf(ctx context.Context, tenant models.TenantID, accountID string) (*schedule.Schedule, *time.Time, error)
}

// Schedules is the API of the caller's own weekly schedule.
type Schedules struct {
	Store ScheduleStore
	// Directory tells the user's Jira time zone for a first schedule.
	Directory *jira.Directory
	Now       func() time.Time
}

// scheduleRule is one weekly window in JSON.
type scheduleRule struct {
	Days  []string `json:"days"`
	Start string   `json:"start"`
	End   string   `json:"end"`
}

// scheduleException is one dated exception in JSON.
type scheduleException struct {
	Date  string `json:"date"`
	Off   bool   `json:"off"`
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// scheduleSwitch is one upcoming switch.
type scheduleSwitch struct {
	At     time.Time `json:"at"`
	Online bool      `json:"online"`
}

// scheduleResponse answers GET and PUT /api/v1/me/schedule.
type scheduleResponse struct {
	Timezone     string              `json:"timezone"`
	Enabled      bool                `json:"enabled"`
	Rules        []scheduleRule      `json:"rules"`
	Exceptions   []scheduleException `json:"exceptions"`
	NextSwitches []scheduleSwitch    `json:"nextSwitches"`
}

// scheduleRequest is the body of PUT /api/v1/me/schedule. Enabled is
// required so that a body missing it cannot switch a schedule off.
type scheduleRequest struct {
	Timezone   string              `json:"timezone"`
	Enabled    *bool               `json:"enabled"`
	Rules      []scheduleRule      `json:"rules"`
	Exceptions []scheduleException `json:"exceptions"`
}

// previewSwitches is how many upcoming switches the page shows.
const previewSwitches = 5

// Get answers the caller's schedule. Someone without one gets an empty,
// disabled schedule in their Jira profile's time zone when Jira tells it,
// else in the zone the page sent as ?tz= (its browser's), else UTC.
func (h *Schedules) Get(c echo.Context) error {
	ctx, t, account := c.Request().Context(), tenantOf(c), accountOf(c)
	if account == "" {
		return unauthorized("no_user", "the token does not name a user")
	}
	sch, _, err := h.Store.ScheduleOf(ctx, t.ID, account)
	if errors.Is(err, models.ErrNotFound) {
		zone := h.Directory.UserZone(ctx, t, account)
		if zone == "" {
			zone = defaultZone(c.QueryParam("tz"))
		}
		return c.JSON(http.StatusOK, toScheduleResponse(schedule.Schedule{Timezone: zone}, nil))
	}
	if err != nil {
		return err
	}
	return h.render(c, *sch)
}

// Put replaces the caller's schedule. It switches nothing at once: the
// schedule takes over at its next switch.
func (h *Schedules) Put(c echo.Context) error {
	var req scheduleRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return fieldError("enabled", "field.required_bool", nil)
	}
	ctx, t, account := c.Request().Context(), tenantOf(c), accountOf(c)
	if account == "" {
		return unauthorized("no_user", "the token does not name a user")
	}
	a, err := h.Store.SaveSchedule(ctx, t.ID, account, req.schedule(), h.Now())
	var invalid *schedule.ValidationError
	if errors.As(err, &invalid) {
		return scheduleError(invalid)
	}
	if err != nil {
		return err
	}
	return h.render(c, *a.Schedule)
}

func (h *Schedules) render(c echo.Context, sch schedule.Schedule) error {
	next, err := sch.Transitions(h.Now(), previewSwitches)
	if err != nil {
		return err // stored schedules are valid; a zone gone from the zone database is a 500
	}
	return c.JSON(http.StatusOK, toScheduleResponse(sch, next))
}

// defaultZone is tz when it names an IANA zone, else UTC.
func defaultZone(tz string) string {
	if _, err := schedule.LoadLocation(tz); err != nil {
		return "UTC"
	}
	return tz
}

func (r scheduleRequest) schedule() schedule.Schedule {
	s := schedule.Schedule{Timezone: r.Timezone, Enabled: *r.Enabled,
		Rules: make([]schedule.Rule, 0, len(r.Rules)), Exceptions: make([]schedule.Exception, 0, len(r.Exceptions))}
	for _, x := range r.Rules {
		s.Rules = append(s.Rules, schedule.Rule{Days: x.Days, Start: x.Start, End: x.End})
	}
	for _, x := range r.Exceptions {
		s.Exceptions = append(s.Exceptions, schedule.Exception{Date: x.Date, Off: x.Off, Start: x.Start, End: x.End})
	}
	return s
}

func toScheduleResponse(s schedule.Schedule, next []schedule.Transition) scheduleResponse {
	resp := scheduleResponse{Timezone: s.Timezone, Enabled: s.Enabled, Rules: make([]scheduleRule, 0, len(s.Rules)),
		Exceptions: make([]scheduleException, 0, len(s.Exceptions)), NextSwitches: make([]scheduleSwitch, 0, len(next))}
	for _, x := range s.Rules {
		days := x.Days
		if days == nil {
			days = []string{}
		}
		resp.Rules = append(resp.Rules, scheduleRule{Days: days, Start: x.Start, End: x.End})
	}
	for _, x := range s.Exceptions {
		resp.Exceptions = append(resp.Exceptions, scheduleException{Date: x.Date, Off: x.Off, Start: x.Start, End: x.End})
	}
	for _, tr := range next {
		resp.NextSwitches = append(resp.NextSwitches, scheduleSwitch{At: tr.At.UTC(), Online: tr.Online})
	}
	return resp
}
