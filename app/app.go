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
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/app/demo"
	"agentpresence/handlers"
	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira"
	"agentpresence/jobs"
	"agentpresence/models"
	"agentpresence/models/pgbus"
	"agentpresence/models/secretbox"
)

// App is one running replica: the store, the HTTP server and the jobs.
type App struct {
	cfg    Config
	log    *slog.Logger
	store  *models.Store
	server *http.Server
	ln     net.Listener
	// more are the demo's other loopback listeners.
	more []net.Listener
	now  func() time.Time

	board    *models.Board
	activity *models.ActivityBuffer
	jobs     *jobs.Runner

	// Live updates: the streams' hubs, and the bus that carries changes
	// between replicas (PostgreSQL only; nil until Start).
	agentEvents  *handlers.AgentHub
	widgetEvents *handlers.WidgetHub
	bus          *pgbus.Bus

	// demo plays Jira around the app in demo mode; nil otherwise.
	demo *demo.Host
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
}

// New opens the store and builds the server; nothing listens yet.
func New(ctx context.Context, cfg Config, log *slog.Logger, assets fs.FS, opts Options) (*App, error) {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Now == nil {
		opts.Now = opts.Clock.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.OpenFiles == nil {
		opts.OpenFiles = openFilesLimit
	}
	if err := cfg.ensureLocalKey(); err != nil {
		return nil, err
	}
	box, err := secretbox.New(cfg.AppSecretKey, cfg.AppSecretKeyPrevious...)
	if err != nil {
		return nil, err
	}
	store, err := models.Open(ctx, models.StoreConfig{URL: cfg.DatabaseURL, Box: box, Now: opts.Now, Log: log})
	if err != nil {
		return nil, err
	}
	template, err := fs.ReadFile(assets, "atlassian-connect.json")
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("read descriptor template: %w", err)
	}
	descriptor, err := handlers.NewDescriptor(template, cfg.BaseURL, cfg.AppKey, cfg.AppName)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL) // validated by LoadConfig
	board := models.NewBoard(store)
	if err := board.Load(ctx); err != nil {
		_ = store.Close()
		return nil, err
	}
	activity := &models.ActivityBuffer{}
	tenants := &handlers.TenantCache{Store: store, TTL: 10 * time.Second, Now: opts.Now}
	store.Watch(tenants.Invalidate) // other replicas' lifecycle changes
	streams := streamLimits(cfg, opts.OpenFiles, log)
	agentEvents := handlers.NewAgentHub(store, handlers.WithHubLogger(log), handlers.WithHubMaxStreams(streams.Instance))
	widgetEvents := handlers.NewWidgetHub(board, handlers.WithHubLogger(log), handlers.WithHubMaxStreams(streams.Instance))
	// Tenants' Jira: https to public addresses, checked by the dialer on
	// the resolved address before connecting; loopback http only where
	// configured (the demo's and a developer's simulated Jira).
	jiraTargets := jira.TargetPolicy{AllowLoopback: cfg.JiraAllowLoopback || cfg.Demo}
	jiraClient := &jira.Client{AppKey: cfg.AppKey, HTTP: jiraTargets.HTTPClient(jira.DefaultTimeout), Targets: jiraTargets, Now: opts.Now}
	var demoHost *demo.Host
	var connectScript string
	var frameAncestors []string
	if cfg.Demo {
		demoHost, err = demo.New(demo.Options{BaseURL: cfg.BaseURL, AppKey: cfg.AppKey, Store: store, HTTPClient: opts.HTTPClient, Log: log,
			Now: opts.Now})
		if err != nil {
			_ = store.Close()
			return nil, err
		}
		// The simulated Jira signs installs with its own key.
		cfg.InstallKeysURL = demoHost.KeysURL()
		connectScript, frameAncestors = demoHost.ConnectScript(), demoHost.Origins()
	}
	e := handlers.NewServer(handlers.Deps{
		Store:      store,
		Descriptor: descriptor,
		Installs: &connect.InstallVerifier{KeysURL: cfg.InstallKeysURL, Client: opts.HTTPClient,
			Leeway: cfg.JWTLeeway, Now: opts.Now},
		Verifier: connect.Verifier{Leeway: cfg.JWTLeeway, Now: opts.Now},
		Tenants:  tenants,
		Directory: &handlers.Directory{Jira: jiraClient, Store: store, Now: opts.Now,
			MembershipTTL: 5 * time.Minute, PermissionTTL: time.Minute, MaxStale: cfg.MembershipMaxStale},
		Board:      board,
		Activity:   activity,
		BaseURL:    cfg.BaseURL,
		BasePath:   strings.TrimRight(base.Path, "/"),
		Assets:     assets,
		Log:        log,
		Now:        opts.Now,
		Limits:     limits(cfg),
		TrustProxy: cfg.TrustProxy,
		Streams:    streams,

		JiraTargets:    jiraTargets,
		ConnectScript:  connectScript,
		FrameAncestors: frameAncestors,
		AgentEvents:    agentEvents,
		WidgetEvents:   widgetEvents,
	})
	var handler http.Handler = e
	if demoHost != nil {
		mux := http.NewServeMux()
		mux.Handle("/demo/", loopbackOnly(demoHost))
		mux.Handle("/", e)
		handler = mux
	}
	if cfg.BenchCeiling {
		handler = withCeiling(handler)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Jobs run on every replica; on PostgreSQL their advisory locks keep a
	// tick on one replica at a time.
	runner, err := jobs.NewRunner(jobs.Config{Store: store, Activity: activity, Clock: opts.Clock,
		Retention: cfg.Retention, EventRetention: cfg.EventRetention, Log: log})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return &App{cfg: cfg, log: log, store: store, server: srv, now: opts.Now, board: board, activity: activity,
		jobs: runner, agentEvents: agentEvents, widgetEvents: widgetEvents, demo: demoHost}, nil
}

// Start listens for other replicas' changes (PostgreSQL), starts the jobs,
// then listens on the configured port (0 picks a free one) and serves in
// the background.
func (a *App) Start() error {
	if a.store.Dialect() == models.DialectPostgres {
		a.bus = pgbus.New(a.store, a.cfg.DatabaseURL, pgbus.WithLogger(a.log))
		if err := a.bus.Start(context.Background()); err != nil {
			a.bus = nil
			return err
		}
	}
	a.jobs.Start()
	if err := a.listen(); err != nil {
		return err
	}
	for _, ln := range append([]net.Listener{a.ln}, a.more...) {
		go func() {
			if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("serve", "err", err)
			}
		}()
		a.log.Info("listening", "addr", ln.Addr().String(), "base_url", a.cfg.BaseURL)
	}
	if a.demo != nil {
		// Jira installs the app once it answers.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.demo.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// listen opens the configured port on every interface; in demo mode, which
// hands out tokens to whoever asks, on the loopback addresses only (IPv4,
// and IPv6 where the machine has it: browsers try both for localhost).
func (a *App) listen() error {
	if a.demo == nil {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", a.cfg.Port))
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		a.ln = ln
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(a.cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	a.ln = ln
	port := ln.Addr().(*net.TCPAddr).Port
	if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
		a.more = append(a.more, ln6)
	} else {
		a.log.Debug("no IPv6 loopback listener", "err", err)
	}
	return nil
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

// Store gives tests the replica's store.
func (a *App) Store() *models.Store { return a.store }

// Shutdown stops in the reverse order of start: end the live streams
// (Shutdown would wait for them), stop taking requests and drain those in
// flight, stop the jobs (flushing the last heartbeats), stop the change
// bus, then close the store.
func (a *App) Shutdown(ctx context.Context) error {
	var errs []error
	a.agentEvents.Close()
	a.widgetEvents.Close()
	if err := a.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown server: %w", err))
	}
	if err := a.jobs.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if a.bus != nil {
		if err := a.bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close change bus: %w", err))
		}
	}
	if err := a.store.Close(); err != nil {
		errs = append(errs, err)
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
	// Repeated lines pass at a bounded rate per kind (a flood of bad
	// requests must not flood the log); the next one says how many were
	// left out.
	log := slog.New(handlers.NewLogThrottle(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}),
		logLinesPerSecond, logLinesBurst))
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
		_ = a.Shutdown(context.Background())
		return err
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

// Each kind of log line (level, message, and a request's route and
// status) passes at most this rate after its burst.
const (
	logLinesPerSecond = 50
	logLinesBurst     = 500
)

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
func streamLimits(cfg Config, openFiles func() (uint64, error), log *slog.Logger) handlers.StreamLimits {
	n, err := openFiles()
	if err != nil {
		log.Warn("open-files limit unknown; the stream cap takes its ceiling", "err", err)
		n = 0
	}
	lim := handlers.StreamLimits{PerUser: cfg.StreamsPerUser, PerAddress: cfg.StreamsPerAddress,
		Instance: handlers.StreamInstanceCap(n, cfg.StreamsPerInstance), Lifetime: cfg.StreamLifetime}
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
