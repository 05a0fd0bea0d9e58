package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"agentpresence/app/demo"
	"agentpresence/handlers"
	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/live"
	"agentpresence/handlers/logsink"
	"agentpresence/jobs"
	"agentpresence/models"
	"agentpresence/models/pgbus"
	"agentpresence/models/secretbox"
)

// App is one running replica: the store, the HTTP server and the jobs.
//
// New and Start run ordered steps (open store → board → bus → hubs →
// server → jobs; then start jobs → listen → demo install), each pushing
// what undoes it on one cleanup stack. A failing step unwinds the stack,
// and Shutdown unwinds it too: exactly what was done is undone, last done
// first.
type App struct {
	cfg  Config
	log  *slog.Logger
	opts Options
	// assets holds static/ and the descriptor template.
	assets fs.FS

	store    *models.Store
	board    *models.Board
	activity *models.ActivityBuffer
	// bus carries changes between replicas (PostgreSQL only; nil on SQLite).
	bus *pgbus.Bus
	// streams are the live streams' caps, derived once from the open-files
	// limit.
	streams live.Limits
	// agentEvents and widgetEvents are the live streams' hubs.
	agentEvents  *handlers.AgentHub
	widgetEvents *handlers.WidgetHub
	server       *http.Server
	jobs         *jobs.Runner
	ln           net.Listener
	// more are the demo's other loopback listeners.
	more []net.Listener
	// demo plays Jira around the app in demo mode; nil otherwise.
	demo *demo.Host
	// demoClock is the demo's movable clock (nil: not the demo's).
	demoClock *demo.Clock
	// metrics and tracing are nil unless configured (metrics.go,
	// tracing.go); guard holds calls to Jira back (handlers/jira).
	metrics    *metrics
	metricsSrv *metricsServer
	tracing    *tracing
	guard      *jira.Guard

	undo cleanupStack

	// reporter and forgetAccounts are the personal data reporting job's
	// (built with the server's Jira client and directory).
	reporter       jobs.AccountReporter
	forgetAccounts func(models.TenantID, []string)
}

// Options carry what tests replace: the clock and the HTTP client used for
// the install-keys server.
type Options struct {
	// Clock drives the jobs and, unless Now is set, is everyone's now;
	// default the real clock.
	Clock      clockwork.Clock
	Now        func() time.Time
	HTTPClient *http.Client
	// OpenFiles reports the open-files limit that the instance's stream
	// cap is derived from; default RLIMIT_NOFILE, raised to its hard limit.
	OpenFiles func() (uint64, error)
	// SpanExporter receives the spans, synchronously, and turns tracing
	// on (tests); default: OTLP when configured.
	SpanExporter sdktrace.SpanExporter
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Now == nil {
		o.Now = o.Clock.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.OpenFiles == nil {
		o.OpenFiles = openFilesLimit
	}
	return o
}

// step is one ordered step of New or Start; it pushes its own undo.
type step struct {
	name string
	do   func(ctx context.Context) error
}

// New opens the store and builds everything the replica runs; nothing
// listens yet and no job runs. On failure it undoes what it did.
func New(ctx context.Context, cfg Config, log *slog.Logger, assets fs.FS, opts Options) (*App, error) {
	// The demo runs on a clock a person or a browser scenario can move
	// ahead (POST /demo/api/clock), unless a test brings its own.
	var demoClock *demo.Clock
	if cfg.Demo && opts.Clock == nil && opts.Now == nil {
		demoClock = demo.NewClock()
		opts.Clock = demoClock
	}
	a := &App{cfg: cfg, log: log, opts: opts.withDefaults(), assets: assets, demoClock: demoClock}
	err := a.run(ctx, []step{
		{"open store", a.openStore},
		{"start tracing", a.startTracing},
		{"load board", a.loadBoard},
		{"start change bus", a.startBus},
		{"open live hubs", a.openHubs},
		{"build metrics", a.buildMetrics},
		{"build server", a.buildServer},
		{"build jobs", a.buildJobs},
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Start starts the jobs, then listens on the configured port (0 picks a
// free one) and serves in the background; in demo mode the simulated Jira
// then installs the app. On failure it undoes everything, New's steps too.
func (a *App) Start() error {
	return a.run(context.Background(), []step{
		{"start jobs", a.startJobs},
		{"listen", a.listen},
		{"serve metrics", a.serveMetrics},
		{"install demo", a.installDemo},
	})
}

// run runs steps in order; the first failure unwinds the cleanup stack.
func (a *App) run(ctx context.Context, steps []step) error {
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			// The undo runs with a context of its own: ctx may be what
			// failed.
			return errors.Join(err, a.undo.unwind(context.Background()))
		}
	}
	return nil
}

// Shutdown undoes in reverse what New and Start did: end the live streams
// (the server's Shutdown would wait for them), stop taking requests and
// drain those in flight, stop the jobs (flushing the last heartbeats),
// stop watching changes and the change bus, then close the store.
func (a *App) Shutdown(ctx context.Context) error {
	return a.undo.unwind(ctx)
}

// openStore opens the database (migrating it) with the secret box that
// seals tenants' secrets.
func (a *App) openStore(ctx context.Context) error {
	if err := a.cfg.ensureLocalKey(); err != nil {
		return err
	}
	box, err := secretbox.New(a.cfg.AppSecretKey, a.cfg.AppSecretKeyPrevious...)
	if err != nil {
		return err
	}
	store, err := models.Open(ctx, models.StoreConfig{URL: a.cfg.DatabaseURL, Box: box, Now: a.opts.Now, Log: a.log})
	if err != nil {
		return err
	}
	a.store = store
	a.undo.push("close store", func(context.Context) error { return store.Close() })
	return nil
}

// loadBoard reads every widget's state into memory, where the public
// status is answered from.
func (a *App) loadBoard(ctx context.Context) error {
	a.board = models.NewBoard(a.store, models.WithLicensing(models.Licensing{Enforced: a.cfg.Licensing}))
	return a.board.Load(ctx)
}

// startBus listens for other replicas' changes (PostgreSQL only), so that
// everything built after it hears them.
func (a *App) startBus(ctx context.Context) error {
	if a.store.Dialect() != models.DialectPostgres {
		return nil
	}
	bus := pgbus.New(a.store, a.cfg.DatabaseURL, pgbus.WithLogger(a.log))
	if err := bus.Start(ctx); err != nil {
		return err
	}
	a.bus = bus
	a.undo.push("close change bus", func(context.Context) error {
		if err := bus.Close(); err != nil {
			return fmt.Errorf("close change bus: %w", err)
		}
		return nil
	})
	return nil
}

// openHubs builds the live streams' hubs, fed by the store's and the
// board's changes, capped by the instance's stream cap.
func (a *App) openHubs(context.Context) error {
	a.streams = a.streamLimits()
	limit := live.WithMaxStreams(a.streams.Instance)
	a.agentEvents = handlers.NewAgentHub(a.store, a.log, limit)
	a.widgetEvents = handlers.NewWidgetHub(a.board, limit)
	a.undo.push("close live hubs", a.closeHubs)
	return nil
}

// closeHubs ends every stream; harmless twice.
func (a *App) closeHubs(context.Context) error {
	a.agentEvents.Close()
	a.widgetEvents.Close()
	return nil
}

// buildServer builds the HTTP layer's collaborators (caches, limiters,
// the Jira directory, the demo host) and the server; nothing listens yet.
func (a *App) buildServer(context.Context) error {
	cfg, now := a.cfg, a.opts.Now
	template, err := fs.ReadFile(a.assets, "atlassian-connect.json")
	if err != nil {
		return fmt.Errorf("read descriptor template: %w", err)
	}
	descriptor, err := handlers.NewDescriptor(template, cfg.BaseURL, cfg.AppKey, cfg.AppName, handlers.WithLicensing(cfg.Licensing))
	if err != nil {
		return err
	}
	base, _ := url.Parse(cfg.BaseURL) // validated by LoadConfig
	a.activity = &models.ActivityBuffer{}
	tenants := handlers.NewTenantCache(a.store, 10*time.Second, now)
	a.watch(tenants.Invalidate) // other replicas' lifecycle changes
	answers := handlers.NewMeCache(handlers.MeCacheTTL, now)
	a.watch(answers.OnChange)
	// Tenants' Jira: https to public addresses, checked by the dialer on
	// the resolved address before connecting; loopback http only where
	// configured (the demo's and a developer's simulated Jira).
	jiraTargets := jira.TargetPolicy{AllowLoopback: cfg.JiraAllowLoopback || cfg.Demo}
	// Every call to a tenant's Jira passes the guard: Retry-After, backoff,
	// the breaker, the hourly counts.
	a.guard = jira.NewGuard(a.guardConfig())
	jiraClient := &jira.Client{AppKey: cfg.AppKey, HTTP: a.guard.WrapClient(jiraTargets.HTTPClient(jira.DefaultTimeout)), Targets: jiraTargets, Now: now}
	limiters, caps := handlers.NewLimiters(limits(cfg), now), live.NewCaps(a.streams)
	var connectScript string
	var frameAncestors []string
	if cfg.Demo {
		a.demo, err = demo.New(demo.Options{BaseURL: cfg.BaseURL, AppKey: cfg.AppKey, Store: a.store, HTTPClient: a.opts.HTTPClient, Log: a.log,
			Assets: a.assets, ForgeAppID: cfg.ForgeAppID, Now: now, Clock: a.demoClock, Tick: a.tickNow})
		if err != nil {
			return err
		}
		// The simulated Jira signs installs with its own key.
		a.undo.push("stop the demo's Forge platform", func(context.Context) error { a.demo.Close(); return nil })
		cfg.InstallKeysURL = a.demo.KeysURL()
		connectScript, frameAncestors = a.demo.ConnectScript(), a.demo.Origins()
		// The demo plays Forge too: its stand-in platform signs the FITs.
		cfg.ForgeAppID, cfg.ForgeJWKSURL = a.demo.ForgeAppID(), a.demo.ForgeJWKSURL()
		// The simulated site plays Atlassian's API host for Forge's reports.
		cfg.PersonalDataURL = a.demo.Site().BaseURL()
	}
	forgeAuth, err := forgeAuth(cfg, a.store, a.opts.HTTPClient, now, a.log)
	if err != nil {
		return err
	}
	msgs, err := handlers.NewMessages(now)
	if err != nil {
		return err
	}
	directory := jira.NewDirectory(jira.DirectoryConfig{Jira: jiraClient, Store: a.store, Now: now,
		MembershipTTL: 5 * time.Minute, PermissionTTL: time.Minute, MaxStale: cfg.MembershipMaxStale})
	if cfg.PersonalDataReporting {
		// The reporting API is a service of its own with its own limits:
		// its calls bypass the guard, so that its 429 (which the job
		// honours) does not hold the tenant's Jira calls back.
		reportClient := &jira.Client{AppKey: cfg.AppKey, HTTP: jiraTargets.HTTPClient(jira.DefaultTimeout), Targets: jiraTargets, Now: now}
		a.reporter = &jira.PersonalData{Client: reportClient, ForgeURL: cfg.PersonalDataURL}
		a.forgetAccounts = directory.ForgetAccounts
	}
	// Pushed before the server's shutdown, so undone after it: every line
	// of a request answered is written.
	access := handlers.NewAccessLog(a.log, 0)
	a.undo.push("flush the access log", access.Close)
	e := handlers.NewServer(handlers.Deps{
		Store:      a.store,
		Descriptor: descriptor,
		Installs: &connect.InstallVerifier{KeysURL: cfg.InstallKeysURL, Client: a.opts.HTTPClient,
			Leeway: cfg.JWTLeeway, Now: now},
		Verifier:   connect.Verifier{Leeway: cfg.JWTLeeway, Now: now},
		Tenants:    tenants,
		Directory:  directory,
		Board:      a.board,
		Activity:   a.activity,
		BaseURL:    cfg.BaseURL,
		BasePath:   strings.TrimRight(base.Path, "/"),
		Assets:     a.assets,
		Log:        a.log,
		Now:        now,
		Limiters:   limiters,
		TrustProxy: cfg.TrustProxy,
		StreamCaps: caps,
		Metrics:    a.httpMetrics(),
		AccessLog:  access,
		Tracer:     a.tracer("http"),

		JiraTargets:    jiraTargets,
		ConnectScript:  connectScript,
		FrameAncestors: frameAncestors,
		AgentEvents:    a.agentEvents,
		WidgetEvents:   a.widgetEvents,
		MeAnswers:      answers,
		StatusBodies:   handlers.NewStatusBodies(now),
		Forge:          forgeAuth,
		Messages:       msgs,
		Licensing:      models.Licensing{Enforced: cfg.Licensing},
	})
	var handler http.Handler = e
	if a.demo != nil {
		mux := http.NewServeMux()
		mux.Handle("/demo/", loopbackOnly(a.demo))
		mux.Handle("/", e)
		handler = mux
	}
	if a.metrics != nil {
		a.metrics.watchStreams(a.agentEvents, a.widgetEvents, limiters, caps)
		a.metrics.watchAccessLog(access)
		if cfg.MetricsToken != "" {
			handler = withMetricsRoute(handler, a.metrics.handler(cfg.MetricsToken, a.log))
		}
	}
	if cfg.BenchCeiling {
		handler = withCeiling(handler)
	}
	a.server = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// watch feeds fn the store's changes (here and, through the bus, other
// replicas') until shutdown.
func (a *App) watch(fn models.ChangeFunc) {
	stop := a.store.Watch(fn)
	a.undo.push("stop watching changes", func(context.Context) error { stop(); return nil })
}

// buildJobs builds the job runner. Jobs run on every replica; on
// PostgreSQL their advisory locks keep a tick on one replica at a time.
func (a *App) buildJobs(context.Context) error {
	var observer jobs.RunObserver
	if a.metrics != nil {
		observer = a.metrics.jobs
	}
	runner, err := jobs.NewRunner(jobs.Config{Store: a.store, Activity: a.activity, Clock: a.opts.Clock,
		Retention: a.cfg.Retention, EventRetention: a.cfg.EventRetention, Log: a.log, Observer: observer,
		Reporter: a.reporter, Forget: a.forgetAccounts})
	if err != nil {
		return err
	}
	a.jobs = runner
	// Built, not started: a shutdown stops its scheduler and flushes the
	// heartbeats all the same.
	a.undo.push("stop jobs", runner.Shutdown)
	return nil
}

// tickNow runs, in their order, the jobs that act on the time: the
// buffered heartbeats are written, then periods end, schedules switch and
// silent agents go offline. The demo calls it when its clock is moved.
func (a *App) tickNow(ctx context.Context) error {
	now := a.opts.Now
	for _, j := range []jobs.Job{
		&jobs.ActivityFlush{Store: a.store, Buffer: a.activity, Now: now},
		&jobs.Expiry{Store: a.store, Now: now},
		&jobs.Schedules{Store: a.store, Now: now},
		&jobs.Inactivity{Store: a.store, Now: now},
	} {
		if err := j.Run(ctx); err != nil {
			return fmt.Errorf("tick now: %w", err)
		}
	}
	return nil
}

// startJobs starts the scheduler; stopping it is buildJobs' undo.
func (a *App) startJobs(context.Context) error {
	a.jobs.Start()
	return nil
}

// listen opens the configured port on every interface and serves; in
// demo mode, which hands out tokens to whoever asks, on the loopback
// addresses only (IPv4, and IPv6 where the machine has it: browsers try
// both for localhost).
func (a *App) listen(context.Context) error {
	host := ""
	if a.demo != nil {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(a.cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	a.ln = ln
	if a.demo != nil {
		port := ln.Addr().(*net.TCPAddr).Port
		if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
			a.more = append(a.more, ln6)
		} else {
			a.log.Debug("no IPv6 loopback listener", "err", err)
		}
	}
	for _, ln := range append([]net.Listener{a.ln}, a.more...) {
		go func() {
			if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("serve", "err", err)
			}
		}()
		a.log.Info("listening", "addr", ln.Addr().String(), "base_url", a.cfg.BaseURL)
	}
	a.undo.push("shut the server down", func(ctx context.Context) error {
		// The streams end first: Shutdown would wait for the ones that run
		// in their request's goroutine (HTTP/2), and clients resume on
		// another replica.
		_ = a.closeHubs(ctx)
		if err := a.server.Shutdown(ctx); err != nil {
			return fmt.Errorf("shutdown server: %w", err)
		}
		return nil
	})
	return nil
}

// installDemo has the simulated Jira install the app, which answers now.
func (a *App) installDemo(ctx context.Context) error {
	if a.demo == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return a.demo.Start(ctx)
}

// Addrs are all the addresses the server listens on, once started.
func (a *App) Addrs() []string {
	var out []string
	for _, ln := range append([]net.Listener{a.ln}, a.more...) {
		if ln != nil {
			out = append(out, ln.Addr().String())
		}
	}
	return out
}

// Addr is where the server listens, once started.
func (a *App) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// MetricsAddr is where METRICS_ADDR's listener listens, once started;
// "" without one.
func (a *App) MetricsAddr() string {
	if a.metricsSrv == nil {
		return ""
	}
	return a.metricsSrv.ln.Addr().String()
}

// Store gives tests the replica's store.
func (a *App) Store() *models.Store { return a.store }

// cleanupStack is what New and Start did, to undo last first.
type cleanupStack struct {
	mu    sync.Mutex
	steps []cleanup
}

type cleanup struct {
	name string
	undo func(ctx context.Context) error
}

func (s *cleanupStack) push(name string, undo func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, cleanup{name: name, undo: undo})
}

// unwind undoes every step, last done first, even after a failure, and
// empties the stack: a second unwind does nothing.
func (s *cleanupStack) unwind(ctx context.Context) error {
	s.mu.Lock()
	steps := s.steps
	s.steps = nil
	s.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].undo(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Main is the whole program: it reads flags and environment, runs a replica
// until ctx ends or SIGTERM/SIGINT arrives, then shuts it down gracefully.
func Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, assets fs.FS) error {
	flags := flag.NewFlagSet("agentpresence", flag.ContinueOnError)
	flags.SetOutput(stderr)
	demo := flags.Bool("demo", false, "run the local demo host (only with a loopback BASE_URL)")
	healthcheck := flags.Bool("healthcheck", false, "ask the local server's /healthz and exit (for container health checks)")
	reseal := flags.Bool("reseal", false, "re-seal every tenant's shared secret under APP_SECRET_KEY and exit (key rotation; README, runbook)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *healthcheck {
		return checkHealth(ctx, getenv)
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	cfg.Demo = cfg.Demo || *demo
	if err := cfg.ensureLocalKey(); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("config: LOG_LEVEL %q: %w", cfg.LogLevel, err)
	}
	// Lines are written by the sink's goroutine, many per write; closed
	// last, after the replica's shutdown, so that no line is lost.
	sink := logsink.New(stderr, 0, 0)
	defer sink.Close() //nolint:errcheck // nowhere left to report it
	log := newLogger(sink, level, cfg.LogLinesPerSecond)
	log.Info("config", cfg.fields()...)
	if *reseal {
		return resealSecrets(ctx, cfg, log)
	}
	if cfg.Demo && !cfg.BaseIsLoopback() {
		return errors.New("config: the demo mode is refused unless BASE_URL is a loopback address")
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := New(ctx, cfg, log, assets, Options{})
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return err // Start undid everything
	}
	if cfg.PprofAddr != "" {
		pp, err := startPprof(cfg.PprofAddr, log)
		if err != nil {
			_ = a.Shutdown(context.Background())
			return err
		}
		defer pp.Close() //nolint:errcheck // the process is ending
	}
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return a.Shutdown(sctx)
}

// checkHealth asks a server on this machine for /healthz; a distroless
// image has no curl, so the binary checks itself.
func checkHealth(ctx context.Context, getenv func(string) string) error {
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: status %d", resp.StatusCode)
	}
	return nil
}

// defaultLogLinesPerSecond is LOG_LINES_PER_SECOND's default: each kind
// of log line (level, message, and a request's route and status) passes
// at most this rate, after a burst of ten times as many.
const defaultLogLinesPerSecond = 50

// newLogger writes JSON lines at level to w. Repeated lines pass at
// perSecond per kind (a flood of bad requests must not flood the log), and
// the next one that passes says how many were left out; 0 passes every
// line, for operators who want the access log whole.
func newLogger(w io.Writer, level slog.Level, perSecond int) *slog.Logger {
	var h slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	if perSecond > 0 {
		h = handlers.NewLogThrottle(h, float64(perSecond), 10*perSecond)
	}
	return slog.New(h)
}

// loopbackOnly refuses requests from another machine, whatever Host they
// name: the demo host hands out tokens to whoever asks.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			http.Error(w, "the demo answers only on this machine", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// streamLimits are the stream caps: the instance's derived from the
// open-files limit (STREAMS_PER_INSTANCE may lower it, not raise it past
// what the descriptors allow). RATE_LIMITS=off lifts the per-user and
// per-address caps, as the load harness needs, but never the instance's.
func (a *App) streamLimits() live.Limits {
	cfg, log := a.cfg, a.log
	n, err := a.opts.OpenFiles()
	if err != nil {
		log.Warn("open-files limit unknown; the stream cap takes its ceiling", "err", err)
		n = 0
	}
	lim := live.Limits{PerUser: cfg.StreamsPerUser, PerAddress: cfg.StreamsPerAddress,
		Instance: live.InstanceCap(n, cfg.StreamsPerInstance), Lifetime: cfg.StreamLifetime}
	if !cfg.RateLimits {
		lim.PerUser, lim.PerAddress = 0, 0
	}
	log.Info("live stream caps", "open_files", n, "per_instance", lim.Instance, "per_address", lim.PerAddress,
		"per_user", lim.PerUser, "lifetime", lim.Lifetime.String())
	return lim
}

func limits(cfg Config) handlers.Limits {
	if !cfg.RateLimits {
		return handlers.Limits{}
	}
	return handlers.DefaultLimits()
}

// startTracing starts the tracer provider when tracing is configured, and
// traces the store's queries; its undo exports the last spans.
func (a *App) startTracing(ctx context.Context) error {
	if a.cfg.OTLPTracesURL == "" && a.opts.SpanExporter == nil {
		return nil
	}
	t, err := newTracing(ctx, a.cfg, a.opts.SpanExporter)
	if err != nil {
		return err
	}
	a.tracing = t
	a.undo.push("stop tracing", t.shutdown)
	if err := a.store.Use(gormTracing{tracer: t.tracer("store"), system: string(a.store.Dialect())}); err != nil {
		return err
	}
	a.log.Info("tracing", "otlp_traces_url", maskDatabaseURL(a.cfg.OTLPTracesURL))
	return nil
}

// tracer is the named tracer, or nil when tracing is off: then nobody
// starts a span at all.
func (a *App) tracer(name string) trace.Tracer {
	if a.tracing == nil {
		return nil
	}
	return a.tracing.tracer(name)
}

// buildMetrics builds the registry when metrics are served, watching the
// store; the server's and the jobs' observers come from it.
func (a *App) buildMetrics(context.Context) error {
	if !a.cfg.MetricsOn() {
		return nil
	}
	a.metrics = newMetrics(a.opts.Now)
	return a.metrics.watchStore(a.store)
}

// httpMetrics is the server's request metrics, or nil.
func (a *App) httpMetrics() *handlers.HTTPMetrics {
	if a.metrics == nil {
		return nil
	}
	return a.metrics.http
}

// guardConfig is the Jira guard's: the app's clock, and the metrics and
// tracing when on.
func (a *App) guardConfig() jira.GuardConfig {
	cfg := jira.GuardConfig{Now: a.opts.Now, Tracer: a.tracer("jira")}
	if a.metrics != nil {
		cfg.Observer = a.metrics.jira
	}
	return cfg
}

// serveMetrics opens METRICS_ADDR's listener, when configured.
func (a *App) serveMetrics(context.Context) error {
	if a.metrics == nil || a.cfg.MetricsAddr == "" {
		return nil
	}
	srv, err := startMetricsServer(a.cfg.MetricsAddr, a.metrics.handler(a.cfg.MetricsToken, a.log), a.log)
	if err != nil {
		return err
	}
	a.metricsSrv = srv
	a.undo.push("close metrics listener", srv.close)
	return nil
}
