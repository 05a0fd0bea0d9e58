package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/models/schedule"
)

// SchedulePreview computes what a schedule would do, without saving it:
// whether it says "online" now and its switches over the next days. The
// editor shows them while the user edits, and says after a save what
// happens now (a save switches nothing at once: handlers.Schedules.Put).
type SchedulePreview struct {
	Now func() time.Time
}

// Limits of a preview.
const (
	defaultPreviewDays = 14
	maxPreviewDays     = 31
	// maxPreviewSwitches bounds the answer: 50 rules of short windows on
	// every day of 31 days could make thousands.
	maxPreviewSwitches = 200
)

// previewResponse answers POST /api/v1/me/schedule/preview.
type previewResponse struct {
	Timezone string `json:"timezone"`
	Enabled  bool   `json:"enabled"`
	// OnlineNow tells whether the schedule says "online" now.
	OnlineNow bool `json:"onlineNow"`
	// Until is the end of the period previewed.
	Until    time.Time        `json:"until"`
	Switches []scheduleSwitch `json:"switches"`
	// Truncated says that more switches fall in the period than listed.
	Truncated bool `json:"truncated"`
}

// Preview answers the switches of the schedule in the body over
// ?days= (1–31, default 14) days from now.
func (h *SchedulePreview) Preview(c echo.Context) error {
	days := defaultPreviewDays
	if v := c.QueryParam("days"); v != "" {
		n, err := parsePreviewDays(v) // checked at the edge already
		if err != nil {
			return paramError("days", "problem.preview_days", args{"Max": maxPreviewDays})
		}
		days = n
	}
	var req scheduleRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return fieldError("enabled", "field.required_bool", nil)
	}
	sch := req.schedule()
	if err := sch.Validate(); err != nil {
		var invalid *schedule.ValidationError
		if errors.As(err, &invalid) {
			return scheduleError(invalid)
		}
		return err
	}
	now := h.Now()
	until := now.Add(time.Duration(days) * 24 * time.Hour)
	online, err := sch.OnlineAt(now)
	if err != nil {
		return err
	}
	next, err := sch.Transitions(now, maxPreviewSwitches+1)
	if err != nil {
		return err
	}
	resp := previewResponse{Timezone: sch.Timezone, Enabled: sch.Enabled, OnlineNow: online, Until: until.UTC(),
		Switches: make([]scheduleSwitch, 0, min(len(next), maxPreviewSwitches))}
	for _, tr := range next {
		if tr.At.After(until) {
			break
		}
		if len(resp.Switches) == maxPreviewSwitches {
			resp.Truncated = true
			break
		}
		resp.Switches = append(resp.Switches, scheduleSwitch{At: tr.At.UTC(), Online: tr.Online})
	}
	return c.JSON(http.StatusOK, resp)
}

// parsePreviewDays reads days= of a schedule preview.
func parsePreviewDays(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPreviewDays {
		return 0, errors.New("must be a whole number of days from 1 to " + strconv.Itoa(maxPreviewDays))
	}
	return n, nil
}
