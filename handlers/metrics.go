package handlers

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"agentpresence/handlers/live"
)

// HTTPMetrics counts and times requests by route pattern (never the raw
// path, which would be an unbounded label), method and status. The public
// widget status serves tens of thousands of requests a second, so the
// per-request work (in the request log's middleware) is a map lookup, a
// monotonic clock reading and two atomic updates: each route's
// observers are resolved once, when the server is built, and each status
// code's counter the first time that code is answered; no label is built
// and nothing is allocated per request.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu     sync.Mutex // guards writes of routes (prepare); reads need none
	routes atomic.Pointer[map[routeKey]*routeMetrics]
	other  *routeMetrics
}

// unmatchedRoute is the route label of requests no route matched (404s,
// 405s): their paths are whatever clients send.
const unmatchedRoute = "unmatched"

type routeKey struct{ path, method string }

// routeMetrics are one route's resolved observers.
type routeMetrics struct {
	route, method string
	duration      prometheus.Observer
	requests      *prometheus.CounterVec
	// codes holds each status code's counter once answered; indexed by
	// code-100.
	codes [500]atomic.Pointer[prometheus.Counter]
}

// NewHTTPMetrics registers the request metrics on reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentpresence_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agentpresence_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (for streams: to open them), by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	m.other = m.resolve(unmatchedRoute, "")
	empty := map[routeKey]*routeMetrics{}
	m.routes.Store(&empty)
	return m
}

// resolve builds a route's observers.
func (m *HTTPMetrics) resolve(route, method string) *routeMetrics {
	label := method
	if label == "" {
		label = "other"
	}
	return &routeMetrics{route: route, method: label, requests: m.requests, duration: m.duration.WithLabelValues(route, label)}
}

// prepare resolves the observers of every route of e; NewServer calls it
// once the routes are added.
func (m *HTTPMetrics) prepare(e *echo.Echo) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := map[routeKey]*routeMetrics{}
	for k, v := range *m.routes.Load() {
		next[k] = v
	}
	for _, r := range e.Routes() {
		k := routeKey{path: r.Path, method: r.Method}
		if _, ok := next[k]; !ok && isMethod(r.Method) {
			next[k] = m.resolve(r.Path, r.Method)
		}
	}
	m.routes.Store(&next)
}

// isMethod leaves out echo's internal route kinds.
func isMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, http.MethodHead:
		return true
	}
	return false
}

// observe counts a request whose answer is rendered, by route pattern,
// method and status, and times it from start; nil metrics observe
// nothing.
func (m *HTTPMetrics) observe(c echo.Context, start time.Time) {
	if m == nil {
		return
	}
	rm := (*m.routes.Load())[routeKey{path: c.Path(), method: c.Request().Method}]
	if rm == nil {
		rm = m.other
	}
	rm.duration.Observe(time.Since(start).Seconds())
	rm.counter(c.Response().Status).Inc()
}

// counter is the route's counter of code, resolved on first use.
func (rm *routeMetrics) counter(code int) prometheus.Counter {
	if code < 100 || code > 599 {
		code = 599 // not a status a client could read; kept apart
	}
	slot := &rm.codes[code-100]
	if c := slot.Load(); c != nil {
		return *c
	}
	c := rm.requests.WithLabelValues(rm.route, rm.method, strconv.Itoa(code))
	slot.CompareAndSwap(nil, &c)
	return *slot.Load()
}

// Limiter names, as metrics label them.
const (
	LimiterPublic         = "public"
	LimiterAuthFailures   = "auth_failures"
	LimiterStatusChanges  = "status_changes"
	LimiterStreamInstance = "streams_instance"
	LimiterStreamAddress  = "streams_address"
	LimiterStreamUser     = "streams_user"
)

// refusals counts what each limiter refused.
type refusals struct {
	public, authFailures, statusChanges atomic.Uint64
}

// Refusals is how many requests each limiter refused since start, by
// limiter name (the streams' caps' refusals come from live.Caps).
func (l *Limiters) Refusals() map[string]uint64 {
	if l == nil {
		return map[string]uint64{LimiterPublic: 0, LimiterAuthFailures: 0, LimiterStatusChanges: 0}
	}
	return map[string]uint64{
		LimiterPublic:        l.refused.public.Load(),
		LimiterAuthFailures:  l.refused.authFailures.Load(),
		LimiterStatusChanges: l.refused.statusChanges.Load(),
	}
}

// StreamCapRefusals is how many streams each cap refused, by limiter
// name.
func StreamCapRefusals(c *live.Caps) map[string]uint64 {
	return map[string]uint64{
		LimiterStreamInstance: c.Refused(live.CapInstance),
		LimiterStreamAddress:  c.Refused(live.CapAddress),
		LimiterStreamUser:     c.Refused(live.CapUser),
	}
}

// Drops is how many agents' streams the hub let go for falling behind.
func (h *AgentHub) Drops() uint64 { return h.hub.Drops() }

// Resumptions is how many agents' streams resumed from history.
func (h *AgentHub) Resumptions() uint64 { return h.hub.Resumptions() }

// Drops is how many widget streams the hub let go for falling behind.
func (h *WidgetHub) Drops() uint64 { return h.hub.Drops() }

// Resumptions is how many widget streams resumed from history.
func (h *WidgetHub) Resumptions() uint64 { return h.hub.Resumptions() }
