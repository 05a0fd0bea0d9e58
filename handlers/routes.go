package handlers

import (
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/trace"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/live"
	"agentpresence/models"
)

// Deps is everything the HTTP layer needs, built by app (or a test): the
// stateful collaborators (caches, limiters, hubs, the directory) are
// constructed and fed their changes there, so that NewServer only routes.
type Deps struct {
	Store      *models.Store
	Descriptor *Descriptor
	Installs   *connect.InstallVerifier
	Verifier   connect.Verifier
	Tenants    *TenantCache
	Directory  *jira.Directory
	Board      *models.Board
	Activity   ActivityRecorder
	BaseURL    string
	BasePath   string
	// Assets holds static/ (pages, scripts, icons).
	Assets fs.FS
	Log    *slog.Logger
	Now    func() time.Time
	// Limiters are the per-client and per-agent budgets; nil: no limits.
	Limiters *Limiters
	// TrustProxy takes the client address from X-Forwarded-For; only behind
	// a proxy that sets it, or anyone could pick their own address.
	TrustProxy bool
	// ConnectScript replaces Atlassian's all.js in the pages (demo mode).
	ConnectScript string
	// FrameAncestors are extra origins that may frame the pages (demo mode).
	FrameAncestors []string
	// JiraTargets says which base URLs an install may give (the zero value:
	// https to public addresses only).
	JiraTargets jira.TargetPolicy

	// AgentEvents and WidgetEvents are the live streams' hubs (required);
	// app closes them before shutting the server down.
	AgentEvents  *AgentHub
	WidgetEvents *WidgetHub
	// MeAnswers keeps GET /me answers (app feeds it the store's changes);
	// nil: none kept.
	MeAnswers *MeCache
	// StatusBodies keeps the public status's encoded answers; nil: none.
	StatusBodies *StatusBodies
	// StreamCaps cap the live streams and set their lifetime; nil: no caps.
	StreamCaps *live.Caps
	// AccessLog writes the request lines off the request's path (app
	// closes it after the server); nil: each request writes its own.
	AccessLog *AccessLog
	// Metrics observes every request (metrics.go); nil: none.
	Metrics *HTTPMetrics
	// Tracer starts a span per request (tracing.go); nil, as when tracing
	// is off: none, and nothing is spent on it.
	Tracer trace.Tracer
	// Forge verifies Forge Invocation Tokens; nil when the service is not
	// a Forge remote (FORGE_APP_ID unset).
	Forge *ForgeAuth
	// Messages words answers in the caller's language (NewMessages); nil:
	// the embedded catalogs, parsed here.
	Messages *Messages
	// Licensing says whether sites' licenses are enforced (license.go).
	Licensing models.Licensing
}

// NewServer builds the echo instance with every route of the service. The
// routes are listed here, in one place, so that a reader (and the OpenAPI
// test) sees the whole surface at once. It builds nothing else: what keeps
// state or listens to changes comes in d.
func NewServer(d Deps) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	msgs := d.Messages
	if msgs == nil {
		msgs = mustMessages(d.Now)
	}
	e.HTTPErrorHandler = ErrorHandler(d.Log, msgs)
	e.IPExtractor = echo.ExtractIPDirect()
	if d.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	assignRequestIDs := middleware.RequestIDWithConfig(middleware.RequestIDConfig{
		// Customers' polls are the bulk of the traffic and are logged only
		// at debug; an id for each costs more than the answer itself.
		Skipper:   func(c echo.Context) bool { return isPublicPath(c.Request().URL.Path) },
		Generator: requestIDs(),
	})
	recoverPanics := middleware.RecoverWithConfig(middleware.RecoverConfig{
		// A panic is logged once, structured, with its stack; the error
		// handler then answers a generic 500.
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			d.Log.ErrorContext(c.Request().Context(), "panic", "err", err, "stack", string(stack), "request_id", requestID(c))
			return err
		},
	})
	// Every request's middleware, outermost first, built into one chain
	// once (chainOnce).
	global := []echo.MiddlewareFunc{assignRequestIDs}
	if d.Tracer != nil {
		global = append(global, traceRequests(d.Tracer))
	}
	global = append(global,
		requestLog(d.Log, d.AccessLog, d.Metrics),
		recoverPanics,
		middleware.BodyLimit("1M"),
		securityHeaders,
		writeDeadline(responseWriteTimeout),
		// The public API is limited per client before anything else looks
		// at the request, then every path and query parameter's shape is
		// checked.
		rateLimit(d.Limiters, isPublicPath),
		checkParams,
	)
	e.Use(chainOnce(global...))

	auth := &Auth{Tenants: d.Tenants, Verifier: d.Verifier, BasePath: d.BasePath, Limits: d.Limiters, Forge: d.Forge}
	system := System{DB: d.Store}
	lifecycle := &Lifecycle{Store: d.Store, Installs: d.Installs, Tenants: d.Tenants,
		BaseURL: d.BaseURL, BasePath: d.BasePath, Log: d.Log, JiraTargets: d.JiraTargets, Now: d.Now}
	pages := &Pages{Assets: d.Assets, ConnectScript: d.ConnectScript, FrameAncestors: d.FrameAncestors,
		Portals: d.Store, Directory: d.Directory, Messages: msgs}
	agents := &Agents{Store: d.Store, Directory: d.Directory, Activity: d.Activity, Now: d.Now, Log: d.Log,
		cache: d.MeAnswers, statusChanges: d.Limiters.perAgent()}
	schedules := &Schedules{Store: d.Store, Directory: d.Directory, Now: d.Now}
	settings := &Settings{Store: d.Store, Agents: agents, Messages: msgs}
	public := &Public{Board: d.Board, Messages: msgs, bodies: d.StatusBodies}
	webhooks := &Webhooks{Activity: d.Activity, Now: d.Now}
	admin := &Admin{Store: d.Store, Directory: d.Directory, Now: d.Now}
	timezones := &Timezones{Now: d.Now}
	preview := &SchedulePreview{Now: d.Now}
	events := &Events{Agents: d.AgentEvents, Widgets: d.WidgetEvents, Store: d.Store, Directory: d.Directory,
		Caps: d.StreamCaps, Bodies: d.StatusBodies, Messages: msgs}

	e.GET("/healthz", system.Healthz)
	e.GET("/readyz", system.Readyz)
	e.GET("/atlassian-connect.json", d.Descriptor.Serve)
	e.GET("/openapi.yaml", pages.OpenAPI)

	e.POST("/lifecycle/installed", lifecycle.Installed)
	e.POST("/lifecycle/uninstalled", lifecycle.Uninstalled)
	signedByTenant := auth.Require(RequestToken, true)
	e.POST("/lifecycle/enabled", lifecycle.Enabled, signedByTenant)
	e.POST("/lifecycle/disabled", lifecycle.Disabled, signedByTenant)

	license := &License{Licensing: d.Licensing, Store: d.Store, Tenants: d.Tenants, Pages: pages, Now: d.Now, Log: d.Log}
	pageAuth := auth.Require(RequestToken, false)
	for _, name := range PageNames() {
		e.GET("/pages/"+name, pages.Serve(name), pageAuth, license.Page(name))
	}
	// Scripts and styles compress to about a third; widget.js is loaded by
	// every visitor of customers' sites. Answers under a kilobyte (icons'
	// small files, errors) are sent as they are.
	e.GET("/static/*", pages.Static, middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 1024}))

	e.POST("/webhooks/activity", webhooks.RecordActivity, auth.Require(RequestToken, false))

	// What Forge sends the remote (forge/manifest.yml's endpoints), and the
	// Forge portal footer's facts (forgelifecycle.go, forgeportal.go).
	projectEvents := &ProjectEvents{Directory: d.Directory}
	forgeLife := &ForgeLifecycle{Store: d.Store, Tenants: d.Tenants, Activity: d.Activity, Now: d.Now, Log: d.Log, Projects: projectEvents}
	forgePortal := &ForgePortal{Portals: d.Store, Directory: d.Directory, Board: d.Board, Messages: msgs}
	e.POST("/forge/lifecycle/installed", forgeLife.Installed, auth.RequireForge(false), license.Observe)
	e.POST("/forge/lifecycle/uninstalling", forgeLife.Uninstalling, auth.RequireForge(true))
	e.POST("/forge/lifecycle/refresh", forgeLife.Refresh, auth.RequireForge(false), license.Observe)
	e.POST("/forge/events/activity", forgeLife.Event, auth.RequireForge(false), license.Observe)
	e.POST("/webhooks/projects", projectEvents.Changed, auth.Require(RequestToken, false))
	e.GET("/forge/portal-footer", forgePortal.Footer, auth.RequireForgeUI(), license.Observe, noStore)

	api := e.Group("/api/v1", auth.Require(ContextToken, false), license.Gate, noStore, serverDate(d.Now), forgeConditional)
	api.GET("/me", agents.Me)
	api.PUT("/me/status", agents.SetStatus)
	api.POST("/me/heartbeat", agents.Heartbeat)
	api.GET("/me/schedule", schedules.Get)
	api.PUT("/me/schedule", schedules.Put)
	api.POST("/me/schedule/preview", preview.Preview)
	api.GET("/timezones", timezones.List)
	api.GET("/projects/:key/agents", agents.OnlineAgents)
	api.POST("/projects/:key/agents/:accountId/offline", agents.PutOffline)
	api.GET("/projects/:key/settings", settings.ProjectSettings)
	api.PUT("/projects/:key/settings", settings.UpdateProjectSettings)
	api.POST("/projects/:key/widget/rotate", settings.RotateWidget)
	api.GET("/settings", settings.TenantSettings)
	api.PUT("/settings", settings.UpdateTenantSettings)
	api.GET("/events", events.AgentStream)
	api.GET("/admin/online", admin.Online)
	api.GET("/admin/events", admin.Events)
	api.GET("/admin/report", admin.Report)

	e.GET("/public/v1/widgets/:widgetId/status", public.Status)
	e.OPTIONS("/public/v1/widgets/:widgetId/status", public.Preflight)
	e.GET("/public/v1/widgets/:widgetId/events", events.WidgetStream)
	e.OPTIONS("/public/v1/widgets/:widgetId/events", public.Preflight)
	d.Metrics.prepare(e)
	return e
}

// chainOnce builds a middleware chain a single time. Echo wraps its global
// middleware around the route's handler anew on every request: a closure
// per middleware per request, half the allocations of a public status. The
// chain built here ends in the handler the router put on the context,
// which is the one echo would have wrapped.
func chainOnce(mw ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	chain := func(c echo.Context) error { return c.Handler()(c) }
	for i := len(mw) - 1; i >= 0; i-- {
		chain = mw[i](chain)
	}
	return func(echo.HandlerFunc) echo.HandlerFunc { return chain }
}

// isPublicPath names the customer-facing API, which needs no token and is
// limited per client.
func isPublicPath(p string) bool { return strings.HasPrefix(p, "/public/") }

// responseWriteTimeout bounds the writing of one ordinary answer; the
// server has no WriteTimeout because the event streams are long.
const responseWriteTimeout = 30 * time.Second

// streamRoutes are the routes that set their own write deadline on every
// write (handlers/live).
var streamRoutes = map[string]bool{"/api/v1/events": true, "/public/v1/widgets/:widgetId/events": true}

// writeDeadline gives every request a write deadline of its own: timeout
// from now for ordinary answers, so that a client that stops reading does
// not hold a goroutine for ever, and none for streams, which bound each
// write themselves. Setting it on every request also replaces whatever the
// previous request on the same keep-alive connection left behind.
func writeDeadline(timeout time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			deadline := time.Now().Add(timeout)
			if streamRoutes[c.Path()] {
				deadline = time.Time{}
			}
			// It fails only on a closed connection or a writer without
			// deadlines (tests' recorders); neither needs one.
			_ = http.NewResponseController(c.Response()).SetWriteDeadline(deadline)
			return next(c)
		}
	}
}

// securityHeaders are set on every answer; pages add their own policy
// (with Referrer-Policy, which only documents use).
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Assigned, not Set: the values are built once.
		c.Response().Header()["X-Content-Type-Options"] = nosniff
		return next(c)
	}
}

// Header values set on many answers, built once and never written into.
var (
	nosniff      = []string{"nosniff"}
	noStoreValue = []string{"no-store"}
)

// quietPath names the high-volume routes whose successes log at debug.
func quietPath(p string) bool {
	return isPublicPath(p) || p == "/healthz" || p == "/readyz" || p == "/api/v1/me/heartbeat"
}

// noStore keeps per-user answers out of shared caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header()["Cache-Control"] = noStoreValue
		return next(c)
	}
}

// requestLog writes one structured line per request with its id, tenant,
// status and latency; never the query string, which may hold a token.
// With an AccessLog the line is built and written off the request's path.
// It also feeds the request metrics, once the error is rendered (one
// middleware less: echo wraps each request in every middleware anew).
func requestLog(log *slog.Logger, access *AccessLog, metrics *HTTPMetrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			logRequest(log, access, c, start, err)
			metrics.observe(c, start)
			return nil
		}
	}
}

// maxLoggedLen bounds what a log line takes from a request (a path may be
// a megabyte long).
const maxLoggedLen = 256

// truncateForLog cuts a request's value to maxLoggedLen bytes (on a rune
// boundary) and says how long it was.
func truncateForLog(v string) string {
	if len(v) <= maxLoggedLen {
		return v
	}
	cut := maxLoggedLen
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…(" + strconv.Itoa(len(v)) + " bytes)"
}

// logRequest is apart from requestLog's closure, which stays on the stack
// for as long as a request runs: a small frame there lets the stacks of
// long-lived streams shrink.
func logRequest(log *slog.Logger, access *AccessLog, c echo.Context, start time.Time, err error) {
	if err != nil {
		c.Error(err)
	}
	status := c.Response().Status
	level := slog.LevelInfo
	switch {
	case status >= http.StatusInternalServerError:
		level = slog.LevelWarn
	case status < http.StatusBadRequest && quietPath(c.Request().URL.Path):
		// Customers' polls and probes would drown the log at info.
		level = slog.LevelDebug
	}
	if !log.Enabled(c.Request().Context(), level) {
		return
	}
	end := time.Now()
	e := accessEntry{at: end, level: level, method: c.Request().Method, path: c.Request().URL.Path, route: c.Path(),
		status: status, latency: end.Sub(start), requestID: requestID(c), tenant: int64(tenantOf(c).ID)}
	if access == nil {
		writeRequestLine(log, e)
		return
	}
	access.add(e)
}
