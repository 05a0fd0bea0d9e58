package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// serverDate sets the answer's Date header from the service's clock
// (net/http would set it from the machine's): the pages read deadlines
// the answers carry (GET /me's autoOfflineAt) against it, so that a
// browser whose clock is off still warns a minute before, and a clock
// the service is given (tests, the demo's) is the one they see.
func serverDate(now func() time.Time) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("Date", now().UTC().Format(http.TimeFormat))
			return next(c)
		}
	}
}
