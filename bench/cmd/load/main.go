// Command load measures the service against a bare echo handler returning a
// constant (the ceiling, served by the app binary itself on the same port
// with BENCH_CEILING=1), on PostgreSQL and on SQLite, with a seeded data
// set: public widget status with and without If-None-Match, the agent API's
// GET /api/v1/me with distinct tokens of many tenants, heartbeats and the
// database writes they cause, and the live fan-out to SSE subscribers.
//
//	go run ./bench/cmd/load -full    # 1,000 tenants, 100,000 agents, 10,000 subscribers
//	go run ./bench/cmd/load -smoke   # a few seconds on 10 tenants (CI)
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/bench"
	"agentpresence/jobs"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], log); err != nil {
		log.Error("load", "err", err)
		os.Exit(1)
	}
}

type config struct {
	mode        string
	spec        bench.Spec
	conns       int
	warmup      time.Duration
	duration    time.Duration
	subscribers int
	rounds      int
	backends    []string
	serverURL   string
	out         string
	fanoutOnly  bool
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	flags := flag.NewFlagSet("load", flag.ContinueOnError)
	full := flags.Bool("full", false, "the full run: 1,000 tenants × 10 projects, 100,000 agents, 10 s per scenario, 10,000 subscribers")
	smoke := flags.Bool("smoke", false, "a few seconds on 10 tenants (the default; what CI runs)")
	backends := flags.String("backends", "postgres,sqlite", "which rows to run")
	serverURL := flags.String("database-url", cmp.Or(os.Getenv("BENCH_DATABASE_URL"), os.Getenv("TEST_DATABASE_URL"),
		"postgres://postgres@127.0.0.1:54330/postgres?sslmode=disable"), "a PostgreSQL server where the harness may create a database")
	out := flags.String("out", "", "where the JSON goes (default bench/results in the module)")
	conns := flags.Int("conns", 64, "keep-alive connections of the load generator")
	duration := flags.Duration("duration", 0, "measured time per scenario (default 10s full, 1s smoke)")
	subscribers := flags.Int("subscribers", 0, "SSE subscribers (default 10000 full, 200 smoke)")
	ceilingPort := flags.Int("serve-ceiling", 0, "internal: serve the ceiling on this port")
	fanoutOnly := flags.Bool("fanout-only", false, "only the live fan-out (and its memory), when working on the streams")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *ceilingPort != 0 {
		return serveCeiling(ctx, *ceilingPort)
	}
	if *full && *smoke {
		return errors.New("-full and -smoke exclude each other")
	}
	cfg := config{mode: "smoke", spec: bench.Spec{Tenants: 10, ProjectsPerTenant: 10, AgentsPerTenant: 100, OnlineEvery: 10},
		conns: *conns, warmup: 300 * time.Millisecond, duration: time.Second, subscribers: 200, rounds: 3,
		backends: strings.Split(*backends, ","), serverURL: *serverURL, out: *out, fanoutOnly: *fanoutOnly}
	if *full {
		cfg.mode, cfg.spec.Tenants = "full", 1000
		cfg.warmup, cfg.duration, cfg.subscribers, cfg.rounds = 2*time.Second, 10*time.Second, 10000, 10
	}
	if *duration > 0 {
		cfg.duration = *duration
	}
	if *subscribers > 0 {
		cfg.subscribers = *subscribers
	}
	if cfg.out == "" {
		root, err := bench.ModuleRoot(ctx)
		if err != nil {
			return err
		}
		cfg.out = filepath.Join(root, "bench", "results")
	}
	limit, err := bench.RaiseFileLimit()
	if err != nil {
		return err
	}
	log.Info("starting", "mode", cfg.mode, "open_files", limit, "tenants", cfg.spec.Tenants)

	tmp, err := os.MkdirTemp("", "bench-load.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, err := bench.Build(ctx, tmp)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cport, err := bench.FreePort()
	if err != nil {
		return err
	}
	ceiling, err := bench.Start(ctx, "ceiling", self, []string{"-serve-ceiling", fmt.Sprint(cport)}, nil, cport, filepath.Join(tmp, "ceiling.log"))
	if err != nil {
		return err
	}
	defer ceiling.Stop(5 * time.Second) //nolint:errcheck // best effort at the end

	report := bench.NewReport(cfg.mode, cfg.conns, cfg.duration)
	for _, backend := range cfg.backends {
		row, err := runRow(ctx, log, cfg, backend, bin, tmp, ceiling)
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
		report.Rows = append(report.Rows, row)
	}
	path, err := report.Save(cfg.out)
	if err != nil {
		return err
	}
	fmt.Println(report.Markdown())
	fmt.Println("JSON:", path)
	return check(cfg, report)
}

// check fails the run when something answered wrong: errors, 5xx or
// undelivered events. Performance goals are reported, never enforced,
// since the machine may be shared.
func check(cfg config, r *bench.Report) error {
	var problems []string
	for _, row := range r.Rows {
		for _, s := range row.Scenarios {
			for code, n := range s.Load.Status {
				if code >= 400 {
					problems = append(problems, fmt.Sprintf("%s %s: %d answers %d", row.Backend, s.Name, n, code))
				}
			}
			if s.Load.Errors > 0 {
				problems = append(problems, fmt.Sprintf("%s %s: %d transport errors %v", row.Backend, s.Name, s.Load.Errors, s.Load.Errs))
			}
			if s.Load.Requests == 0 {
				problems = append(problems, fmt.Sprintf("%s %s: no request completed", row.Backend, s.Name))
			}
		}
		if f := row.Fanout; f != nil && f.Delivered != f.Expected {
			problems = append(problems, fmt.Sprintf("%s fan-out: delivered %d of %d", row.Backend, f.Delivered, f.Expected))
		}
		if w := row.Writes; w != nil && w.Met != nil && !*w.Met {
			problems = append(problems, fmt.Sprintf("%s heartbeats: %.2f writes per agent per interval", row.Backend, w.PerAgent))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// ceilingBody is as long as a widget status answer.
var ceilingBody = []byte(`{"online":true,"message":"We are online. Start a chat.","requiresLogin":false}`)

// serveCeiling is a second reference, shown but not used for the ratios:
// echo, one route, a constant answer, in a small process of its own
// (without the app's heap to collect).
func serveCeiling(ctx context.Context, port int) error {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/ceiling/:id", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, ceilingBody) })
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// measureInterleaved measures a scenario in slices alternating with the
// ceiling's (ceiling first in one pair, the scenario first in the next), so
// that a shared machine's changing load falls on both alike: the ratio of
// the two is then steadier than that of runs a minute apart. The scenario
// comes back with CeilingRPS and Ratio set; CPU is the app's in the
// scenario's own slices.
func measureInterleaved(ctx context.Context, cfg config, name string, p *bench.Proc, ceiling, next bench.RequestFunc) (bench.Scenario, error) {
	pairs := 5
	if cfg.mode == "smoke" {
		pairs = 2
	}
	slice := cfg.duration / time.Duration(pairs)
	// Each slice opens its connections afresh and discards a short
	// warm-up; the scenario's first slice gets the whole warm-up, as a
	// scenario measured alone does (caches filled, e.g. GET /me's).
	warmup := min(cfg.warmup, 300*time.Millisecond)
	var mine, theirs bench.Run
	var cpu, wall time.Duration
	for i := range 2 * pairs {
		own := i%2 == 0
		if (i/2)%2 == 1 {
			own = !own
		}
		if !own {
			theirs.Add(bench.Measure(ctx, cfg.conns, warmup, slice, ceiling))
			continue
		}
		ownWarmup := warmup
		if mine.Requests() == 0 {
			ownWarmup = cfg.warmup
		}
		before, err := bench.ReadUsage(p.Pid())
		if err != nil {
			return bench.Scenario{}, err
		}
		start := time.Now()
		mine.Add(bench.Measure(ctx, cfg.conns, ownWarmup, slice, next))
		wall += time.Since(start)
		after, err := bench.ReadUsage(p.Pid())
		if err != nil {
			return bench.Scenario{}, err
		}
		cpu += after.CPU - before.CPU
	}
	after, err := bench.ReadUsage(p.Pid())
	if err != nil {
		return bench.Scenario{}, err
	}
	s := bench.Scenario{Name: name, Load: mine.Result(), CPUCores: cpu.Seconds() / wall.Seconds(),
		RSSMiB: float64(after.RSSKiB) / 1024}
	if s.CeilingRPS = theirs.Result().RPS; s.CeilingRPS > 0 {
		s.Ratio = s.Load.RPS / s.CeilingRPS
	}
	return s, nil
}

// measure runs one scenario and reads the target process's CPU and memory.
func measure(ctx context.Context, cfg config, name string, p *bench.Proc, next bench.RequestFunc) (bench.Scenario, error) {
	before, err := bench.ReadUsage(p.Pid())
	if err != nil {
		return bench.Scenario{}, err
	}
	start := time.Now()
	res := bench.Load(ctx, cfg.conns, cfg.warmup, cfg.duration, next)
	wall := time.Since(start)
	after, err := bench.ReadUsage(p.Pid())
	if err != nil {
		return bench.Scenario{}, err
	}
	return bench.Scenario{Name: name, Load: res, CPUCores: (after.CPU - before.CPU).Seconds() / wall.Seconds(),
		RSSMiB: float64(after.RSSKiB) / 1024}, nil
}

func runRow(ctx context.Context, log *slog.Logger, cfg config, backend, bin, tmp string, ceiling *bench.Proc) (bench.Row, error) {
	row := bench.Row{Backend: backend, Spec: cfg.spec}
	var dbURL string
	switch backend {
	case "postgres":
		u, drop, err := bench.CreateDatabase(ctx, cfg.serverURL, bench.DatabaseName("load"))
		if err != nil {
			return row, err
		}
		defer drop()
		dbURL = u
	case "sqlite":
		dbURL = "sqlite:" + filepath.Join(tmp, "sqlite", "presence.db")
	default:
		return row, fmt.Errorf("unknown backend %q (postgres or sqlite)", backend)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return row, err
	}
	t0 := time.Now()
	ds, err := bench.Seed(ctx, dbURL, key, cfg.spec, time.Now())
	if err != nil {
		return row, err
	}
	row.SeedSeconds = time.Since(t0).Seconds()
	log.Info("seeded", "backend", backend, "seconds", row.SeedSeconds)

	port, err := bench.FreePort()
	if err != nil {
		return row, err
	}
	env := []string{fmt.Sprintf("PORT=%d", port), fmt.Sprintf("BASE_URL=http://127.0.0.1:%d", port), "DATABASE_URL=" + dbURL,
		"APP_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key), "RATE_LIMITS=off", "LOG_LEVEL=warn",
		"CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:9", "DEMO=", "BENCH_CEILING=1"}
	app, err := bench.Start(ctx, "app-"+backend, bin, nil, env, port, filepath.Join(tmp, "app-"+backend+".log"))
	if err != nil {
		return row, err
	}
	defer func() {
		if err := app.Stop(30 * time.Second); err != nil {
			log.Warn("stop app", "err", err)
		}
	}()
	dsn := dbURL
	if backend == "sqlite" {
		dsn = "file:" + strings.TrimPrefix(dbURL, "sqlite:") + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driverOf(backend), dsn)
	if err != nil {
		return row, err
	}
	defer db.Close()

	if cfg.fanoutOnly {
		row.Fanout, err = fanout(ctx, log, cfg, app, ds)
		return row, err
	}
	// The ceiling first, in the same minute as the app's scenarios: a bare
	// echo handler in the app's binary and server (BENCH_CEILING).
	ceilingURL := app.URL + "/bench/ceiling"
	ceilingNext := func(w, i int) *http.Request { return get(ceilingURL, nil) }
	ceil, err := measure(ctx, cfg, "ceiling: echo constant (in the app)", app, ceilingNext)
	if err != nil {
		return row, err
	}
	ceil.Ratio = 1
	row.Scenarios = append(row.Scenarios, ceil)
	separate, err := measure(ctx, cfg, "reference: echo constant in a process of its own", ceiling, func(w, i int) *http.Request {
		return get(ceiling.URL+"/ceiling/x", nil)
	})
	if err != nil {
		return row, err
	}
	// The machine may be shared: the ceiling is measured again after the
	// app's scenarios and the ratios taken to the higher of the two.
	type withGoal struct {
		s    *bench.Scenario
		goal float64 // × ceiling; 0: none
	}
	var scenarios []withGoal
	ratio := func(s *bench.Scenario, goal float64) {
		scenarios = append(scenarios, withGoal{s, goal})
		if goal > 0 {
			s.Goal = fmt.Sprintf("≥ %.1f× ceiling", goal)
		}
	}

	var widgets []string
	for _, t := range ds.Tenants {
		for _, p := range t.Projects {
			widgets = append(widgets, p.WidgetID)
		}
	}
	pick := func(w, i, n int) int { return (w*7919 + i*104729) % n }
	s, err := measureInterleaved(ctx, cfg, "widget status 200", app, ceilingNext, func(w, i int) *http.Request {
		return get(app.URL+"/public/v1/widgets/"+widgets[pick(w, i, len(widgets))]+"/status", nil)
	})
	if err != nil {
		return row, err
	}
	widget200 := s
	ratio(&widget200, 0.9)

	etags := make([]string, min(len(widgets), 1000))
	for i := range etags {
		resp, err := http.Get(app.URL + "/public/v1/widgets/" + widgets[i] + "/status")
		if err != nil {
			return row, err
		}
		resp.Body.Close()
		etags[i] = resp.Header.Get("ETag")
	}
	s, err = measureInterleaved(ctx, cfg, "widget status 304 (If-None-Match)", app, ceilingNext, func(w, i int) *http.Request {
		k := pick(w, i, len(etags))
		return get(app.URL+"/public/v1/widgets/"+widgets[k]+"/status", map[string]string{"If-None-Match": etags[k]})
	})
	if err != nil {
		return row, err
	}
	widget304 := s
	widget304.Note = fmt.Sprintf("%d answers 304", s.Load.Status[http.StatusNotModified])
	ratio(&widget304, 0.9)

	// Distinct agents of every tenant: 10 each.
	now := time.Now()
	type caller struct{ auth string }
	var callers []caller
	for _, t := range ds.Tenants {
		for j := 0; j < len(t.Agents); j += max(1, len(t.Agents)/10) {
			callers = append(callers, caller{auth: "JWT " + t.Token(t.Agents[j], now)})
		}
	}
	if err := bench.RefreshMemberships(ctx, db, backend == "postgres", time.Now()); err != nil {
		return row, err
	}
	s, err = measureInterleaved(ctx, cfg, fmt.Sprintf("GET /api/v1/me (%d agents of %d tenants)", len(callers), len(ds.Tenants)), app, ceilingNext, func(w, i int) *http.Request {
		return get(app.URL+"/api/v1/me", map[string]string{"Authorization": callers[pick(w, i, len(callers))].auth})
	})
	if err != nil {
		return row, err
	}
	me := s
	ratio(&me, 0.5)

	// Heartbeats of the same agents, each many times per flush interval.
	writesBefore, counted := agentWrites(ctx, db, backend)
	hbStart := time.Now()
	s, err = measure(ctx, cfg, fmt.Sprintf("POST /api/v1/me/heartbeat (%d agents)", len(callers)), app, func(w, i int) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, app.URL+"/api/v1/me/heartbeat", nil)
		req.Header.Set("Authorization", callers[pick(w, i, len(callers))].auth)
		return req
	})
	if err != nil {
		return row, err
	}
	hbPhase := time.Since(hbStart)
	heartbeat := s
	ratio(&heartbeat, 0)
	heartbeat.Goal = "≥ 20,000/s"
	heartbeat.Met = bench.Bool(s.Load.RPS >= 20000 && s.Load.Errors == 0)
	row.Writes = &bench.Writes{Agents: len(callers), Note: "SQLite has no per-table write statistics"}
	if counted {
		// Let the last flush run, and the backends report their statistics
		// (PostgreSQL sends them when a session has been idle for a while).
		after := waitStable(ctx, db, backend, time.Now().Add(statsDelay))
		// Flushes that can carry heartbeats: those during the phase and
		// the one after it.
		intervals := int(hbPhase/jobs.FlushInterval) + 2
		w := row.Writes
		w.Counted, w.Rows, w.Intervals, w.Note = true, after-writesBefore, intervals, ""
		w.PerAgent = float64(w.Rows) / float64(w.Agents) / float64(intervals)
		w.Met = bench.Bool(w.Rows <= int64(w.Agents*intervals))
	}

	ceil2, err := measure(ctx, cfg, "ceiling again, after the app's scenarios", app, ceilingNext)
	if err != nil {
		return row, err
	}
	best := max(ceil.Load.RPS, ceil2.Load.RPS)
	ceil2.Ratio = ceil2.Load.RPS / best
	row.Scenarios[0].Ratio = ceil.Load.RPS / best
	scenarios = append(scenarios, withGoal{s: &separate})
	for _, sc := range scenarios {
		if sc.s.CeilingRPS == 0 {
			sc.s.Ratio = sc.s.Load.RPS / best
		}
		if sc.goal > 0 {
			sc.s.Met = bench.Bool(sc.s.Ratio >= sc.goal && sc.s.Load.Errors == 0)
		}
		row.Scenarios = append(row.Scenarios, *sc.s)
	}
	row.Scenarios = append(row.Scenarios, ceil2)

	f, err := fanout(ctx, log, cfg, app, ds)
	if err != nil {
		return row, err
	}
	row.Fanout = f
	return row, nil
}

func driverOf(backend string) string {
	if backend == "postgres" {
		return "pgx"
	}
	return "sqlite"
}

// agentWrites is the number of rows inserted and updated in agents so far.
func agentWrites(ctx context.Context, db *sql.DB, backend string) (int64, bool) {
	if backend != "postgres" {
		return 0, false
	}
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = 'agents'").Scan(&n); err != nil {
		return 0, false
	}
	return n, true
}

// statsDelay covers the last flush (jobs.FlushInterval) and PostgreSQL's
// reporting of an idle session's statistics (at most 10 s after it went
// idle).
const statsDelay = jobs.FlushInterval + 11*time.Second

// waitStable reads the count until it stops moving, and not before
// notBefore.
func waitStable(ctx context.Context, db *sql.DB, backend string, notBefore time.Time) int64 {
	last, _ := agentWrites(ctx, db, backend)
	for deadline := notBefore.Add(15 * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		n, _ := agentWrites(ctx, db, backend)
		if n == last && time.Now().After(notBefore) {
			break
		}
		last = n
	}
	return last
}

func get(url string, header map[string]string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// fanout opens the subscribers on one tenant's project (half of them on
// its public widget, half on its agents' stream), then switches one agent
// on and off in that project: every switch changes the widget's status and
// the project's online count, so every subscriber must receive one event
// per switch. Latency runs from just before the PUT to the event's arrival.
func fanout(ctx context.Context, log *slog.Logger, cfg config, app *bench.Proc, ds *bench.Dataset) (*bench.Fanout, error) {
	t := ds.Tenants[0]
	p := t.Projects[1%len(t.Projects)] // nobody is seeded online there
	widgetURL := app.URL + "/public/v1/widgets/" + p.WidgetID + "/events"
	client := bench.NewStreamClient()
	defer client.CloseIdleConnections()

	n, rounds := cfg.subscribers, cfg.rounds
	now := time.Now()
	f := &bench.Fanout{Subscribers: n, Rounds: rounds, Expected: n * rounds}
	var (
		round     atomic.Int32
		t0        = make([]time.Time, rounds+1)
		delivered = make([]atomic.Int32, rounds+1)
		lats      = make([][]time.Duration, n)
		ready     sync.WaitGroup
		readers   sync.WaitGroup
		mu        sync.Mutex
		streams   []*bench.Stream
	)
	sem := make(chan struct{}, 100)
	var openErr atomic.Value
	open := func(i int, url string) {
		ready.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			s, err := bench.OpenStream(ctx, client, url, "")
			if err != nil {
				openErr.Store(err)
				ready.Done()
				return
			}
			mu.Lock()
			streams = append(streams, s)
			mu.Unlock()
			readers.Add(1)
			go func() {
				defer readers.Done()
				last, first := int32(0), true
				_ = s.Read(func(bench.Event) {
					if first { // the snapshot every stream starts with
						first = false
						ready.Done()
						return
					}
					r := round.Load()
					if r > last {
						last = r
						lats[i] = append(lats[i], time.Since(t0[r]))
						delivered[r].Add(1)
					}
				})
			}()
		}()
	}
	// Public subscribers first, then agents', so that each kind's memory
	// is read on its own: VmRSS after they all sent their first event and
	// the app had two seconds to settle, minus VmRSS before.
	phase := func(from, to int, url func(i int) string) (kib float64, err error) {
		before, err := bench.ReadUsage(app.Pid())
		if err != nil {
			return 0, err
		}
		for i := from; i < to; i++ {
			open(i, url(i))
		}
		if !waitTimeout(&ready, time.Minute) {
			return 0, errors.New("open subscribers: not every stream sent its first event within a minute")
		}
		if err, _ := openErr.Load().(error); err != nil {
			return 0, fmt.Errorf("open subscribers: %w", err)
		}
		time.Sleep(2 * time.Second)
		after, err := bench.ReadUsage(app.Pid())
		if err != nil {
			return 0, err
		}
		return float64(after.RSSKiB-before.RSSKiB) / float64(max(to-from, 1)), nil
	}
	start := time.Now()
	f.Public, f.Agent = n/2, n-n/2
	var err1, err2 error
	f.KiBPerPublic, err1 = phase(0, f.Public, func(int) string { return widgetURL })
	if err1 == nil {
		f.KiBPerAgent, err2 = phase(f.Public, n, func(i int) string {
			acct := t.Agents[i%len(t.Agents)]
			return app.URL + "/api/v1/events?project=" + p.Key + "&jwt=" + t.Token(acct, now)
		})
	}
	if err := errors.Join(err1, err2); err != nil {
		closeAll(streams)
		return nil, err
	}
	f.ConnectSecs = time.Since(start).Seconds() - 4
	f.KiBPerIdle = (f.KiBPerPublic*float64(f.Public) + f.KiBPerAgent*float64(f.Agent)) / float64(n)
	log.Info("subscribers connected", "n", n, "kib_each", f.KiBPerIdle, "kib_public", f.KiBPerPublic, "kib_agent", f.KiBPerAgent)

	toggler := t.Agents[1]
	auth := "JWT " + t.Token(toggler, now)
	for r := 1; r <= rounds; r++ {
		body := fmt.Sprintf(`{"online":%t,"scope":"project","project":%q}`, r%2 == 1, p.Key)
		req, _ := http.NewRequest(http.MethodPut, app.URL+"/api/v1/me/status", bytes.NewBufferString(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		t0[r] = time.Now()
		round.Store(int32(r))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			closeAll(streams)
			return nil, fmt.Errorf("toggle: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			closeAll(streams)
			return nil, fmt.Errorf("toggle: HTTP %d", resp.StatusCode)
		}
		deadline := time.Now().Add(10 * time.Second)
		for int(delivered[r].Load()) < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
	}
	closeAll(streams)
	readers.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	f.Delivered = len(all)
	f.P50, f.P99 = bench.Ms(bench.Quantile(all, 0.5)), bench.Ms(bench.Quantile(all, 0.99))
	if len(all) > 0 {
		f.Max = bench.Ms(all[len(all)-1])
	}
	f.Met = bench.Bool(f.Delivered == f.Expected && f.P99 < 250)
	return f, nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func closeAll(streams []*bench.Stream) {
	for _, s := range streams {
		s.Close()
	}
}
