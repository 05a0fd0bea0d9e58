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
	"net/url"
	"os"
	"os/signal"
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
)

// App is one running replica: the store, the HTTP server and the jobs.
type App struct {
	cfg    Config
	log    *slog.Logger
	store  *models.Store
	server *http.Server
	ln     net.Listener
	now    func() time.Time

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
	if err := cfg.ensureLocalKey(); err != nil {
		return nil, err
	}
	box, err := models.NewSecretBox(cfg.AppSecretKey)
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
	agentEvents := handlers.NewAgentHub(store, handlers.WithHubLogger(log))
	widgetEvents := handlers.NewWidgetHub(board, handlers.WithHubLogger(log))
	jiraClient := &jira.Client{AppKey: cfg.AppKey, HTTP: opts.HTTPClient, Now: opts.Now}
	var demoHost *demo.Host
	var connectScript string
	var frameAncestors []string
	if cfg.Demo {
		demoHost, err = demo.New(demo.Options{BaseURL: cfg.BaseURL, AppKey: cfg.AppKey, Store: store, HTTPClient: opts.HTTPClient, Log: log,
			HistoryStore: func(ctx context.Context, now func() time.Time) (*models.Store, error) {
				return models.Open(ctx, models.StoreConfig{URL: cfg.DatabaseURL, Box: box, Now: now, Log: log})
			}})
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
			MembershipTTL: 5 * time.Minute, PermissionTTL: time.Minute},
		Board:      board,
		Activity:   activity,
		BaseURL:    cfg.BaseURL,
		BasePath:   strings.TrimRight(base.Path, "/"),
		Assets:     assets,
		Log:        log,
		Now:        opts.Now,
		Limits:     limits(cfg),
		TrustProxy: cfg.TrustProxy,

		ConnectScript:  connectScript,
		FrameAncestors: frameAncestors,
		AgentEvents:    agentEvents,
		WidgetEvents:   widgetEvents,
	})
	var handler http.Handler = e
	if demoHost != nil {
		mux := http.NewServeMux()
		mux.Handle("/demo/", demoHost)
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
		Retention: cfg.Retention, Log: log})
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
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", a.cfg.Port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	a.ln = ln
	go func() {
		if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("serve", "err", err)
		}
	}()
	a.log.Info("listening", "addr", ln.Addr().String(), "base_url", a.cfg.BaseURL)
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
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	log.Info("config", cfg.fields()...)
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

func limits(cfg Config) handlers.Limits {
	if !cfg.RateLimits {
		return handlers.Limits{}
	}
	return handlers.DefaultLimits()
}
