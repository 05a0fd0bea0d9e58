package app

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// ceilingPath is the load harness's ceiling, served when BENCH_CEILING is
// on.
const ceilingPath = "/bench/ceiling"

// withCeiling serves a bare echo handler returning a constant beside the
// service: in this binary, process and server, on this port, as the
// performance goals define the ceiling. Measured here rather than in a
// process of its own, the ratio compares like with like (the same heap,
// garbage collector and runtime settings) and is left with the cost of the
// service's own middleware and handlers.
func withCeiling(next http.Handler) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// As long as a widget status answer.
	body := []byte(`{"online":true,"message":"Our agents are online and ready to help.","requiresLogin":false,"chatUrl":"https://example.atlassian.net/servicedesk/customer/portal/1","onlineMessage":"Our agents are online and ready to help.","lang":"en","labels":{"online":"Chat online","offline":"Chat offline","chat":"Start a chat","login":"Log in or register to chat"}}`)
	e.GET(ceilingPath, func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == ceilingPath {
			e.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
