package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Pinger is what readiness needs of the store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// System answers the probes of an orchestrator.
type System struct {
	DB Pinger
}

// Healthz says the process is up; it touches nothing else so that a slow
// database does not get a healthy process restarted.
func (s System) Healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz says the process can serve: the database answers.
func (s System) Readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		return &APIError{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "database unreachable"}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
