package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/models/zones"
)

// Timezones answers the time zones the schedule editor offers: the current
// IANA names of the zone data the server itself loads (models/zones), with
// their offsets now. The answer is the same for everyone and changes only
// when a zone's offset does, so it is encoded once, kept until the next
// offset change (at most a day), and revalidated by its ETag.
type Timezones struct {
	Now func() time.Time

	mu    sync.Mutex
	body  []byte
	etag  string
	until time.Time
}

// timezone is one zone of the answer.
type timezone struct {
	Name string `json:"name"`
	// Offset is "+05:30" style, for people; OffsetMinutes for sorting.
	Offset        string   `json:"offset"`
	OffsetMinutes int      `json:"offsetMinutes"`
	Countries     string   `json:"countries,omitempty"`
	Aliases       []string `json:"aliases,omitempty"`
}

// timezonesResponse answers GET /api/v1/timezones.
type timezonesResponse struct {
	// Version is the tzdata release of the list.
	Version string     `json:"version"`
	Zones   []timezone `json:"zones"`
}

// maxTimezonesAge bounds how long one encoding is kept when no zone
// changes its offset sooner.
const maxTimezonesAge = 24 * time.Hour

// List answers the zones, or 304 when the caller has them.
func (h *Timezones) List(c echo.Context) error {
	body, etag, err := h.answer(h.Now())
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("ETag", etag)
	// The same for every user: the browser keeps it and asks with the ETag.
	hd.Set("Cache-Control", "private, no-cache")
	if match := c.Request().Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSONBlob(http.StatusOK, body)
}

func (h *Timezones) answer(now time.Time) ([]byte, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.body != nil && now.Before(h.until) {
		return h.body, h.etag, nil
	}
	list, until, err := zones.List(now)
	if err != nil {
		return nil, "", fmt.Errorf("timezones: %w", err)
	}
	resp := timezonesResponse{Version: zones.Version(), Zones: make([]timezone, 0, len(list))}
	for _, z := range list {
		m := int(z.Offset / time.Minute)
		resp.Zones = append(resp.Zones, timezone{Name: z.Name, Offset: formatOffset(m), OffsetMinutes: m,
			Countries: z.Countries, Aliases: z.Aliases})
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return nil, "", fmt.Errorf("encode timezones: %w", err)
	}
	sum := sha256.Sum256(body)
	if limit := now.Add(maxTimezonesAge); until.IsZero() || until.After(limit) {
		until = limit
	}
	h.body, h.etag, h.until = body, `"`+hex.EncodeToString(sum[:8])+`"`, until
	return h.body, h.etag, nil
}

// formatOffset writes minutes east of UTC as "+05:30" or "-04:00".
func formatOffset(m int) string {
	sign := '+'
	if m < 0 {
		sign, m = '-', -m
	}
	return fmt.Sprintf("%c%02d:%02d", sign, m/60, m%60)
}
