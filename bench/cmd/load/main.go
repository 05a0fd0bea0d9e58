// Command load measures the service on PostgreSQL and on SQLite, with a
// seeded data set, against what people would run instead: the ceiling, a
// bare echo handler returning a constant in a process of its own, and
// atlassian-connect-express (bench/ace) verifying the same context tokens.
// Scenarios: public widget status with and without If-None-Match, the
// agent API's GET /api/v1/me with distinct Connect tokens of many tenants
// (and with Forge Invocation Tokens, once the app verifies them),
// heartbeats and the database writes they cause, and the live fan-out to
// SSE subscribers.
//
//	go run ./bench/cmd/load -full    # 1,000 tenants, 100,000 agents, 10,000 subscribers, ACE
//	go run ./bench/cmd/load -smoke   # a few seconds on 10 tenants (CI)
//	go run ./bench/cmd/load -full -backends postgres -scenarios status200,me -pprof /tmp/prof
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
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

// The scenarios, by the ids -scenarios takes.
const (
	scStatus200 = "status200"
	scStatus304 = "status304"
	scMe        = "me"
	scFIT       = "fit"
	scHeartbeat = "heartbeat"
	scFanout    = "fanout"
)

var allScenarios = []string{scStatus200, scStatus304, scMe, scFIT, scHeartbeat, scFanout}

type config struct {
	mode        string
	spec        bench.Spec
	conns       int
	warmup      time.Duration
	duration    time.Duration
	subscribers int
	rounds      int // of the fan-out
	// perPosition is how many times each target of an interleaved
	// scenario takes each position in the order of a round.
	perPosition int
	// sliceWarmup is dropped at the start of every slice but a target's
	// first, which drops warmup.
	sliceWarmup time.Duration
	backends    []string
	serverURL   string
	out         string
	scenarios   map[string]bool
	ace, fit    string // auto, on, off
	pprofDir    string
	logLevel    string
	appEnv      []string
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
	duration := flags.Duration("duration", 0, "measured time per scenario and target (default 10s full, 1s smoke)")
	subscribers := flags.Int("subscribers", 0, "SSE subscribers (default 10000 full, 200 smoke)")
	ceilingPort := flags.Int("serve-ceiling", 0, "internal: serve the ceiling on this port")
	ceilingPprof := flags.Int("serve-ceiling-pprof", 0, "internal: with -serve-ceiling, serve its profiles on this loopback port")
	scenarios := flags.String("scenarios", strings.Join(allScenarios, ","), "which scenarios to run")
	fanoutOnly := flags.Bool("fanout-only", false, "only the live fan-out (and its memory), when working on the streams; -scenarios fanout")
	ace := flags.String("ace", "auto", "measure atlassian-connect-express "+bench.ACEVersion+" (bench/ace) on GET /api/v1/me: on, off, or auto (on in -full)")
	fit := flags.String("fit", "auto", "the FIT-authenticated GET /api/v1/me: on (fail unless the app verifies FITs), off, or auto (run it when a probe answers 200)")
	pprofDir := flags.String("pprof", "", "take CPU and allocation profiles of the app during each scenario's slices into this directory")
	logLevel := flags.String("log-level", "info", "the app's LOG_LEVEL (info: its access log on, as in production)")
	keep := flags.Bool("keep", false, "keep the temporary directory with the processes' logs (printed at the end)")
	var appEnv []string
	flags.Func("app-env", "KEY=VALUE added to the app's environment, e.g. GOGC=200 (repeatable)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("%q is not KEY=VALUE", v)
		}
		appEnv = append(appEnv, v)
		return nil
	})
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *ceilingPort != 0 {
		return serveCeiling(ctx, *ceilingPort, *ceilingPprof)
	}
	if *full && *smoke {
		return errors.New("-full and -smoke exclude each other")
	}
	for name, v := range map[string]string{"-ace": *ace, "-fit": *fit} {
		if v != "auto" && v != "on" && v != "off" {
			return fmt.Errorf("%s %q: on, off or auto", name, v)
		}
	}
	cfg := config{mode: "smoke", spec: bench.Spec{Tenants: 10, ProjectsPerTenant: 10, AgentsPerTenant: 100, OnlineEvery: 10},
		conns: *conns, warmup: 300 * time.Millisecond, sliceWarmup: 100 * time.Millisecond, duration: time.Second,
		subscribers: 200, rounds: 3, perPosition: 1,
		backends: strings.Split(*backends, ","), serverURL: *serverURL, out: *out, scenarios: map[string]bool{},
		ace: *ace, fit: *fit, pprofDir: *pprofDir, logLevel: *logLevel, appEnv: appEnv}
	if *full {
		cfg.mode, cfg.spec.Tenants = "full", 1000
		cfg.warmup, cfg.duration, cfg.subscribers, cfg.rounds, cfg.perPosition = 2*time.Second, 10*time.Second, 10000, 10, 2
		cfg.sliceWarmup = 300 * time.Millisecond
	}
	if cfg.ace == "auto" {
		cfg.ace = map[bool]string{true: "on", false: "off"}[*full]
	}
	if *duration > 0 {
		cfg.duration = *duration
	}
	if *subscribers > 0 {
		cfg.subscribers = *subscribers
	}
	if *fanoutOnly {
		*scenarios = scFanout
	}
	for _, s := range strings.Split(*scenarios, ",") {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("-scenarios: unknown %q (of %s)", s, strings.Join(allScenarios, ","))
		}
		cfg.scenarios[s] = true
	}
	root, err := bench.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(root, "bench", "results")
	}
	if cfg.pprofDir != "" {
		if err := os.MkdirAll(cfg.pprofDir, 0o755); err != nil {
			return err
		}
	}
	limit, err := bench.RaiseFileLimit()
	if err != nil {
		return err
	}
	log.Info("starting", "mode", cfg.mode, "open_files", limit, "tenants", cfg.spec.Tenants, "loadavg", bench.LoadAvg())

	tmp, err := os.MkdirTemp("", "bench-load.")
	if err != nil {
		return err
	}
	if *keep {
		defer fmt.Println("logs kept in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	h := &harness{cfg: cfg, log: log, tmp: tmp, aceDir: bench.ACEDir(root), profiled: map[string]int{}}
	if cfg.scenarios[scMe] && cfg.ace == "on" {
		t0 := time.Now()
		if err := bench.EnsureACE(ctx, h.aceDir); err != nil {
			return err
		}
		h.useACE = true
		log.Info("ace ready", "version", bench.ACEVersion, "seconds", time.Since(t0).Seconds())
	} else if cfg.ace == "off" {
		h.aceSkip = "ACE not run (-ace on to include it; the default in -full only)"
	}
	if h.bin, err = bench.Build(ctx, tmp); err != nil {
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
	ceilingArgs := []string{"-serve-ceiling", fmt.Sprint(cport)}
	if cfg.pprofDir != "" {
		pport, err := bench.FreePort()
		if err != nil {
			return err
		}
		ceilingArgs = append(ceilingArgs, "-serve-ceiling-pprof", fmt.Sprint(pport))
		h.ceilingProf = &bench.Profiler{Base: fmt.Sprintf("http://127.0.0.1:%d", pport), Dir: cfg.pprofDir}
	}
	h.ceiling, err = bench.Start(ctx, "ceiling", self, ceilingArgs, nil, cport, filepath.Join(tmp, "ceiling.log"))
	if err != nil {
		return err
	}
	defer h.ceiling.Stop(5 * time.Second) //nolint:errcheck // best effort at the end
	if cfg.scenarios[scFIT] && cfg.fit != "off" {
		stop, err := h.startForge()
		if err != nil {
			return err
		}
		defer stop()
	}

	report := bench.NewReport(cfg.mode, cfg.conns, cfg.duration)
	report.LogLevel = cfg.logLevel
	report.AppEnv = cfg.appEnv
	for _, backend := range cfg.backends {
		row, err := h.runRow(ctx, backend)
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
		report.Rows = append(report.Rows, row)
	}
	report.LoadAvg = append(report.LoadAvg, bench.LoadAvg())
	path, err := report.Save(cfg.out)
	if err != nil {
		return err
	}
	fmt.Println(report.Markdown())
	fmt.Println("JSON:", path)
	if cfg.pprofDir != "" {
		names := make([]string, 0, len(h.profiled))
		for name := range h.profiled {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			top, err := bench.Tops(ctx, cfg.pprofDir, name, 30)
			if err != nil {
				return err
			}
			fmt.Println("profiles:", filepath.Join(cfg.pprofDir, name+".{cpu,allocs}.*.pb.gz"), "top entries:", top)
		}
	}
	return check(report)
}

// harness holds what outlives a row: the standalone ceiling, the ACE
// peer's directory, the stand-in Forge platform.
type harness struct {
	cfg     config
	log     *slog.Logger
	tmp     string
	bin     string
	ceiling *bench.Proc
	// ceilingProf profiles the standalone ceiling (-pprof); nil: none.
	ceilingProf *bench.Profiler

	aceDir  string
	useACE  bool
	aceSkip string // why ACE was not measured

	forge   *bench.Forge
	jwksURL string

	// profiled counts the profiles taken under each name.
	profiled map[string]int
}

// startForge serves the stand-in Forge platform's JWKS on loopback.
func (h *harness) startForge() (stop func(), err error) {
	h.forge, err = bench.NewForge()
	if err != nil {
		return nil, err
	}
	port, err := bench.FreePort()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/.well-known/jwks.json", h.forge)
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ListenAndServe() }()
	h.jwksURL = fmt.Sprintf("http://127.0.0.1:%d/.well-known/jwks.json", port)
	return func() { _ = srv.Close() }, nil
}

// check fails the run when something answered wrong: errors, 4xx/5xx or
// undelivered events. Performance goals are reported, never enforced,
// since the machine may be shared.
func check(r *bench.Report) error {
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
var ceilingBody = []byte(`{"online":true,"message":"Our agents are online and ready to help.","requiresLogin":false,"chatUrl":"https://example.atlassian.net/servicedesk/customer/portal/1","onlineMessage":"Our agents are online and ready to help.","lang":"en","labels":{"online":"Chat online","offline":"Chat offline","chat":"Start a chat","login":"Log in or register to chat"}}`)

// serveCeiling is the ceiling the goals are ratios to: echo, one route
// with a parameter (as the widget status has), a constant answer, in a
// small process of its own, without the app's heap to collect. With
// pprofPort its profiles are served on a loopback listener of their own,
// as the app's are with PPROF_ADDR.
func serveCeiling(ctx context.Context, port, pprofPort int) error {
	if pprofPort != 0 {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		ps := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", pprofPort), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = ps.ListenAndServe() }()
		defer ps.Close()
	}
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

// target is one process measured in a scenario's slices.
type target struct {
	// name labels its profiles: <backend>-<name>.
	name string
	proc *bench.Proc
	next bench.RequestFunc
	// prof takes its profiles; nil: none.
	prof *bench.Profiler
	// prime, when set, is run before a slice (outside the measured time)
	// unless it ran less than primeWithin before the slice's end.
	prime func(ctx context.Context) error
}

// primeWithin keeps primed answers fresh until a slice's end: GET /me's
// answers are kept for 30 s (see callerSet).
const primeWithin = 25 * time.Second

// measured is what a target's slices of one scenario added up to.
type measured struct {
	run       bench.Run
	cpu, wall time.Duration
	// generator is the load generator's (this process's) CPU.
	generator time.Duration
	rssKiB    int64
	// byRound is requests/s in each round's slice.
	byRound []float64
}

func (m *measured) cores() float64 {
	if m.wall <= 0 {
		return 0
	}
	return m.cpu.Seconds() / m.wall.Seconds()
}

func (m *measured) generatorCores() float64 {
	if m.wall <= 0 {
		return 0
	}
	return m.generator.Seconds() / m.wall.Seconds()
}

// rowState is one backend's row while it runs.
type rowState struct {
	backend string
	app     *bench.Proc
	ace     *bench.Proc
	prof    *bench.Profiler
	// Every interleaved slice of the two ceilings, for the row's summary.
	ceiling, inApp measured
}

// others measures the CPU the rest of the machine uses: /proc/stat's busy
// time less this process's and those the harness started. It is a figure
// for the reader, not a verdict: an unreadable /proc entry counts as zero
// rather than failing the run. PostgreSQL counts among the others.
type others struct {
	procs   []*bench.Proc
	machine bench.Machine
	ours    time.Duration
	start   time.Time
}

func (r *rowState) othersStart(h *harness) others {
	o := others{procs: []*bench.Proc{h.ceiling, r.app}, start: time.Now()}
	if r.ace != nil {
		o.procs = append(o.procs, r.ace)
	}
	o.machine, _ = bench.ReadMachine()
	o.ours = o.oursNow()
	return o
}

func (o others) oursNow() time.Duration {
	u, _ := bench.ReadUsage(os.Getpid())
	sum := u.CPU
	for _, p := range o.procs {
		u, _ := bench.ReadUsage(p.Pid())
		sum += u.CPU
	}
	return sum
}

// cores is the others' average use since start, in cores.
func (o others) cores() float64 {
	m, err := bench.ReadMachine()
	wall := time.Since(o.start)
	if err != nil || wall <= 0 {
		return 0
	}
	return max(0, ((m.Busy-o.machine.Busy)-(o.oursNow()-o.ours)).Seconds()/wall.Seconds())
}

// interleave measures the targets in slices taken in turn, so that a
// shared machine's changing load falls on them alike: the ratio of two is
// then steadier than that of runs a minute apart. Each round gives every
// target one slice; the order rotates from round to round, so that each
// target takes each position cfg.perPosition times. Each slice opens its
// connections afresh and discards a short warm-up; a target's first slice
// gets the whole warm-up, as a scenario measured alone does (caches
// filled, e.g. GET /me's; ACE's JIT warm). CPU is each target's process's
// in its own slices.
func (h *harness) interleave(ctx context.Context, row *rowState, targets []target) ([]measured, error) {
	n := len(targets)
	rounds := n * h.cfg.perPosition
	slice := h.cfg.duration / time.Duration(rounds)
	short := h.cfg.sliceWarmup
	ms := make([]measured, n)
	primed := make([]time.Time, n)
	for r := range rounds {
		for j := range n {
			k := (r + j) % n
			t, m := targets[k], &ms[k]
			warmup := short
			if m.run.Requests() == 0 {
				warmup = h.cfg.warmup
			}
			if t.prime != nil && (primed[k].IsZero() || time.Since(primed[k])+warmup+slice > primeWithin) {
				primed[k] = time.Now()
				if err := t.prime(ctx); err != nil {
					return nil, fmt.Errorf("prime %s: %w", t.name, err)
				}
			}
			before, err := bench.ReadUsage(t.proc.Pid())
			if err != nil {
				return nil, err
			}
			genBefore, err := bench.ReadUsage(os.Getpid())
			if err != nil {
				return nil, err
			}
			var wait func() error
			if t.prof != nil {
				name := row.backend + "-" + t.name
				wait = t.prof.Take(ctx, name, h.profiled[name], warmup, int(slice.Seconds()))
				h.profiled[name]++
			}
			start := time.Now()
			run := bench.Measure(ctx, h.cfg.conns, warmup, slice, t.next)
			m.wall += time.Since(start)
			if wait != nil {
				if err := wait(); err != nil {
					return nil, err
				}
			}
			after, err := bench.ReadUsage(t.proc.Pid())
			if err != nil {
				return nil, err
			}
			genAfter, err := bench.ReadUsage(os.Getpid())
			if err != nil {
				return nil, err
			}
			m.cpu += after.CPU - before.CPU
			m.generator += genAfter.CPU - genBefore.CPU
			m.rssKiB = after.RSSKiB
			m.byRound = append(m.byRound, run.RPS())
			m.run.Add(run)
		}
	}
	return ms, nil
}

// ratioMedian is the median of a/b round by round.
func ratioMedian(a, b []float64) float64 {
	var r []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			r = append(r, a[i]/b[i])
		}
	}
	if len(r) == 0 {
		return 0
	}
	slices.Sort(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

// ratioRange is the lowest and highest of a/b round by round.
func ratioRange(a, b []float64) []float64 {
	lo, hi := 0.0, 0.0
	for i := range min(len(a), len(b)) {
		if b[i] <= 0 {
			continue
		}
		r := a[i] / b[i]
		if lo == 0 || r < lo {
			lo = r
		}
		hi = max(hi, r)
	}
	if lo == 0 {
		return nil
	}
	return []float64{lo, hi}
}

func over(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func (m *measured) add(o measured) {
	m.run.Add(o.run)
	m.cpu += o.cpu
	m.generator += o.generator
	m.wall += o.wall
	m.rssKiB = o.rssKiB
}

// ratioScenario measures a scenario of the app interleaved with the
// standalone ceiling, the in-app ceiling and, when peer is set, ACE on the
// same request; it returns the scenario and, with a peer, ACE's.
func (h *harness) ratioScenario(ctx context.Context, row *rowState, id, name string, next bench.RequestFunc, prime func(context.Context) error, peer bench.RequestFunc) (bench.Scenario, *bench.Scenario, error) {
	targets := []target{
		{name: id, proc: row.app, next: next, prof: row.prof, prime: prime},
		{name: "ceiling", proc: h.ceiling, next: func(w, i int) *http.Request { return get(h.ceiling.URL+"/ceiling/x", nil) }, prof: h.ceilingProf},
		{name: "ceiling-in-app", proc: row.app, next: func(w, i int) *http.Request { return get(row.app.URL+"/bench/ceiling", nil) }, prof: row.prof},
	}
	if peer != nil {
		targets = append(targets, target{name: "ace-" + id, proc: row.ace, next: peer})
	}
	o := row.othersStart(h)
	ms, err := h.interleave(ctx, row, targets)
	if err != nil {
		return bench.Scenario{}, nil, err
	}
	other, loadavg := o.cores(), bench.LoadAvg()
	own, ceil, inApp := &ms[0], &ms[1], &ms[2]
	row.ceiling.add(*ceil)
	row.inApp.add(*inApp)
	s := bench.Scenario{ID: id, Name: name, Load: own.run.Result(), CPUCores: own.cores(), GeneratorCores: own.generatorCores(), RSSMiB: float64(own.rssKiB) / 1024,
		RPSByRound: own.byRound, CeilingRPSByRound: ceil.byRound, InAppRPSByRound: inApp.byRound,
		CeilingRPS: ceil.run.RPS(), Ratio: over(own.run.RPS(), ceil.run.RPS()), RatioRange: ratioRange(own.byRound, ceil.byRound),
		RatioMedian: ratioMedian(own.byRound, ceil.byRound),
		InAppRPS:    inApp.run.RPS(), InAppRatio: over(own.run.RPS(), inApp.run.RPS()), OtherCores: other, LoadAvg: loadavg}
	if peer == nil {
		return s, nil, nil
	}
	ace := &ms[3]
	s.ACERPS, s.TimesACE = ace.run.RPS(), over(own.run.RPS(), ace.run.RPS())
	s.TimesACERange, s.TimesACEMedian = ratioRange(own.byRound, ace.byRound), ratioMedian(own.byRound, ace.byRound)
	p := bench.Scenario{ID: "ace-" + id, Name: "peer: atlassian-connect-express " + bench.ACEVersion + ", " + strings.TrimPrefix(name, "GET ") + " (same tokens, Node " + nodeVersion() + ")",
		Load: ace.run.Result(), CPUCores: ace.cores(), GeneratorCores: ace.generatorCores(), RSSMiB: float64(ace.rssKiB) / 1024,
		RPSByRound: ace.byRound, CeilingRPSByRound: ceil.byRound, InAppRPSByRound: inApp.byRound,
		CeilingRPS: s.CeilingRPS, Ratio: over(ace.run.RPS(), ceil.run.RPS()), RatioRange: ratioRange(ace.byRound, ceil.byRound),
		RatioMedian: ratioMedian(ace.byRound, ceil.byRound),
		InAppRPS:    s.InAppRPS, InAppRatio: over(ace.run.RPS(), inApp.run.RPS()), OtherCores: other, LoadAvg: loadavg}
	return s, &p, nil
}

// measure runs one scenario alone and reads the target process's CPU and
// memory.
func (h *harness) measure(ctx context.Context, row *rowState, id, name string, next bench.RequestFunc) (bench.Scenario, error) {
	before, err := bench.ReadUsage(row.app.Pid())
	if err != nil {
		return bench.Scenario{}, err
	}
	o := row.othersStart(h)
	var wait func() error
	if row.prof != nil {
		pname := row.backend + "-" + id
		wait = row.prof.Take(ctx, pname, h.profiled[pname], h.cfg.warmup, int(h.cfg.duration.Seconds()))
		h.profiled[pname]++
	}
	start := time.Now()
	res := bench.Load(ctx, h.cfg.conns, h.cfg.warmup, h.cfg.duration, next)
	wall := time.Since(start)
	if wait != nil {
		if err := wait(); err != nil {
			return bench.Scenario{}, err
		}
	}
	after, err := bench.ReadUsage(row.app.Pid())
	if err != nil {
		return bench.Scenario{}, err
	}
	return bench.Scenario{ID: id, Name: name, Load: res, CPUCores: (after.CPU - before.CPU).Seconds() / wall.Seconds(),
		RSSMiB: float64(after.RSSKiB) / 1024, OtherCores: o.cores(), LoadAvg: bench.LoadAvg()}, nil
}

var nodeVersionOnce = sync.OnceValue(func() string {
	out, err := execOutput("node", "--version")
	if err != nil {
		return "?"
	}
	return strings.TrimPrefix(strings.TrimSpace(out), "v")
})

func nodeVersion() string { return nodeVersionOnce() }

// ratioGoal is a goal on a scenario's ratio to the ceiling.
func ratioGoal(name string, s *bench.Scenario, target float64) bench.Goal {
	g := bench.Goal{Name: name, Scenario: s.ID, Target: target, Value: s.Ratio,
		Measured: fmt.Sprintf("%.2f× (%.0f vs %.0f req/s; by round %s, median %.2f; in-app ceiling %.2f×)",
			s.Ratio, s.Load.RPS, s.CeilingRPS, rangeText(s.RatioRange), s.RatioMedian, s.InAppRatio)}
	g.Met = bench.Bool(s.Ratio >= target && clean(s))
	return g
}

func rangeText(r []float64) string {
	if len(r) != 2 {
		return "–"
	}
	return fmt.Sprintf("%.2f–%.2f", r[0], r[1])
}

// clean: no transport error and no answer other than 2xx and 304.
func clean(s *bench.Scenario) bool {
	if s.Load.Errors > 0 {
		return false
	}
	for code, n := range s.Load.Status {
		if n > 0 && code >= 300 && code != http.StatusNotModified {
			return false
		}
	}
	return true
}

func (h *harness) runRow(ctx context.Context, backend string) (bench.Row, error) {
	cfg := h.cfg
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
		dbURL = "sqlite:" + filepath.Join(h.tmp, "sqlite", "presence.db")
	default:
		return row, fmt.Errorf("unknown backend %q (postgres or sqlite)", backend)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return row, err
	}
	t0 := time.Now()
	spec := cfg.spec
	spec.ForgeTwins = h.forge != nil // the FIT scenario's installations
	ds, err := bench.Seed(ctx, dbURL, key, spec, time.Now())
	if err != nil {
		return row, err
	}
	row.SeedSeconds = time.Since(t0).Seconds()
	h.log.Info("seeded", "backend", backend, "seconds", row.SeedSeconds)

	port, err := bench.FreePort()
	if err != nil {
		return row, err
	}
	env := []string{fmt.Sprintf("PORT=%d", port), fmt.Sprintf("BASE_URL=http://127.0.0.1:%d", port), "DATABASE_URL=" + dbURL,
		"APP_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key), "RATE_LIMITS=off", "LOG_LEVEL=" + cfg.logLevel,
		"CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:9", "DEMO=", "BENCH_CEILING=1"}
	rs := &rowState{backend: backend}
	if cfg.pprofDir != "" {
		pport, err := bench.FreePort()
		if err != nil {
			return row, err
		}
		env = append(env, fmt.Sprintf("PPROF_ADDR=127.0.0.1:%d", pport))
		rs.prof = &bench.Profiler{Base: fmt.Sprintf("http://127.0.0.1:%d", pport), Dir: cfg.pprofDir}
	}
	if h.forge != nil {
		env = append(env, h.forge.Env(h.jwksURL)...)
	}
	env = append(env, cfg.appEnv...) // last, so that they win
	app, err := bench.Start(ctx, "app-"+backend, h.bin, nil, env, port, filepath.Join(h.tmp, "app-"+backend+".log"))
	if err != nil {
		return row, err
	}
	defer func() {
		if err := app.Stop(30 * time.Second); err != nil {
			h.log.Warn("stop app", "err", err)
		}
	}()
	rs.app = app
	if h.useACE {
		ace, err := bench.StartACE(ctx, h.aceDir, h.tmp, ds.Tenants)
		if err != nil {
			return row, err
		}
		defer func() {
			if err := ace.Stop(10 * time.Second); err != nil {
				h.log.Warn("stop ace", "err", err)
			}
		}()
		rs.ace = ace
		if err := bench.CheckACE(ctx, ace.URL, ds.Tenants[0], time.Now()); err != nil {
			return row, err
		}
	}
	dsn := dbURL
	if backend == "sqlite" {
		dsn = "file:" + strings.TrimPrefix(dbURL, "sqlite:") + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driverOf(backend), dsn)
	if err != nil {
		return row, err
	}
	defer db.Close()

	var widgets []string
	for _, t := range ds.Tenants {
		for _, p := range t.Projects {
			widgets = append(widgets, p.WidgetID)
		}
	}
	pick := func(w, i, n int) int { return (w*7919 + i*104729) % n }
	var scenarios []bench.Scenario
	if cfg.scenarios[scStatus200] {
		s, _, err := h.ratioScenario(ctx, rs, scStatus200, "widget status 200", func(w, i int) *http.Request {
			return get(app.URL+"/public/v1/widgets/"+widgets[pick(w, i, len(widgets))]+"/status", nil)
		}, nil, nil)
		if err != nil {
			return row, err
		}
		scenarios = append(scenarios, s)
		row.Goals = append(row.Goals, ratioGoal("public status 200 ≥ 0.95× ceiling", &s, 0.95))
	}
	if cfg.scenarios[scStatus304] {
		etags := make([]string, min(len(widgets), 1000))
		for i := range etags {
			resp, err := http.Get(app.URL + "/public/v1/widgets/" + widgets[i] + "/status")
			if err != nil {
				return row, err
			}
			resp.Body.Close()
			etags[i] = resp.Header.Get("ETag")
		}
		s, _, err := h.ratioScenario(ctx, rs, scStatus304, "widget status 304 (If-None-Match)", func(w, i int) *http.Request {
			k := pick(w, i, len(etags))
			return get(app.URL+"/public/v1/widgets/"+widgets[k]+"/status", map[string]string{"If-None-Match": etags[k]})
		}, nil, nil)
		if err != nil {
			return row, err
		}
		s.Note = fmt.Sprintf("%d answers 304", s.Load.Status[http.StatusNotModified])
		scenarios = append(scenarios, s)
		row.Goals = append(row.Goals, ratioGoal("public status 304 ≥ 0.95× ceiling", &s, 0.95))
	}

	// Distinct agents of every tenant, 10 each at a time (see callerSet).
	now := time.Now()
	connect, err := newCallerSet(ds, func(ti int, acct string) (string, error) { return "JWT " + ds.Tenants[ti].Token(acct, now), nil })
	if err != nil {
		return row, err
	}
	if err := bench.RefreshMemberships(ctx, db, backend == "postgres", time.Now()); err != nil {
		return row, err
	}
	if cfg.scenarios[scMe] {
		var peer bench.RequestFunc
		if rs.ace != nil {
			peer = func(w, i int) *http.Request {
				return get(rs.ace.URL+"/api/v1/me", map[string]string{"Authorization": connect.pick(w, i)})
			}
		}
		meName := fmt.Sprintf("GET /api/v1/me (%d agents of %d tenants at a time)", connect.size(), len(ds.Tenants))
		s, p, err := h.ratioScenario(ctx, rs, scMe, meName, func(w, i int) *http.Request {
			return get(app.URL+"/api/v1/me", map[string]string{"Authorization": connect.pick(w, i)})
		}, func(ctx context.Context) error { return connect.prime(ctx, cfg.conns, app.URL+"/api/v1/me") }, peer)
		if err != nil {
			return row, err
		}
		scenarios = append(scenarios, s)
		row.Goals = append(row.Goals, ratioGoal("GET /api/v1/me with a Connect token ≥ 0.7× ceiling", &s, 0.7))
		g := bench.Goal{Name: "GET /api/v1/me with a Connect token ≥ 10× ACE " + bench.ACEVersion + " on the same request", Scenario: s.ID, Target: 10}
		if p != nil {
			scenarios = append(scenarios, *p)
			g.Value = s.TimesACE
			g.Measured = fmt.Sprintf("%.1f× (%.0f vs %.0f req/s; by round %s, median %.1f)", s.TimesACE, s.Load.RPS, s.ACERPS, rangeTextF(s.TimesACERange), s.TimesACEMedian)
			g.Met = bench.Bool(s.TimesACE >= 10 && clean(&s) && clean(p))
		} else {
			g.Skipped, g.Measured = h.aceSkip, h.aceSkip
		}
		row.Goals = append(row.Goals, g)
	}
	if cfg.scenarios[scFIT] {
		if err := bench.RefreshMemberships(ctx, db, backend == "postgres", time.Now()); err != nil {
			return row, err
		}
		s, g, err := h.fitScenario(ctx, rs, ds)
		if err != nil {
			return row, err
		}
		if s != nil {
			scenarios = append(scenarios, *s)
		}
		row.Goals = append(row.Goals, g)
	}

	if cfg.scenarios[scHeartbeat] {
		// Heartbeats of the same agents, each many times per flush interval.
		writesBefore, counted := agentWrites(ctx, db, backend)
		hbStart := time.Now()
		callers := connect.gens[0]
		s, err := h.measure(ctx, rs, scHeartbeat, fmt.Sprintf("POST /api/v1/me/heartbeat (%d agents)", len(callers)), func(w, i int) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, app.URL+"/api/v1/me/heartbeat", nil)
			req.Header.Set("Authorization", callers[pick(w, i, len(callers))])
			return req
		})
		if err != nil {
			return row, err
		}
		hbPhase := time.Since(hbStart)
		scenarios = append(scenarios, s)
		row.Goals = append(row.Goals, bench.Goal{Name: "heartbeats ≥ 20,000/s", Scenario: s.ID, Target: 20000, Value: s.Load.RPS,
			Measured: fmt.Sprintf("%.0f/s", s.Load.RPS), Met: bench.Bool(s.Load.RPS >= 20000 && clean(&s))})
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
	}

	// The ceilings first: every interleaved slice of the row.
	if rs.ceiling.run.Requests() > 0 {
		c, a := &rs.ceiling, &rs.inApp
		row.Scenarios = append(row.Scenarios,
			bench.Scenario{ID: "ceiling", Name: "ceiling: echo constant in a process of its own (all interleaved slices)",
				Load: c.run.Result(), CPUCores: c.cores(), GeneratorCores: c.generatorCores(), RSSMiB: float64(c.rssKiB) / 1024, Ratio: 1},
			bench.Scenario{ID: "ceiling-in-app", Name: "in-app ceiling: echo constant in the app's binary and server (all interleaved slices)",
				Load: a.run.Result(), CPUCores: a.cores(), GeneratorCores: a.generatorCores(), RSSMiB: float64(a.rssKiB) / 1024,
				Ratio: over(a.run.RPS(), c.run.RPS()), InAppRatio: 1})
	}
	row.Scenarios = append(row.Scenarios, scenarios...)

	if cfg.scenarios[scFanout] {
		f, err := fanout(ctx, h.log, cfg, app, ds)
		if err != nil {
			return row, err
		}
		row.Fanout = f
	}
	return row, nil
}

func rangeTextF(r []float64) string {
	if len(r) != 2 {
		return "–"
	}
	return fmt.Sprintf("%.1f–%.1f", r[0], r[1])
}

// fitScenario measures GET /api/v1/me with Forge Invocation Tokens, the
// tenants' agents as principals of the tenant's installation, chosen as
// for the Connect tokens, once a probe shows that the app verifies them
// (issue 10). The installations' site URLs are the seeded tenants' base
// URLs.
func (h *harness) fitScenario(ctx context.Context, row *rowState, ds *bench.Dataset) (*bench.Scenario, bench.Goal, error) {
	g := bench.Goal{Name: "GET /api/v1/me with a FIT (Forge) ≥ 0.5× ceiling", Scenario: scFIT, Target: 0.5}
	if h.forge == nil {
		g.Skipped, g.Measured = "not run (-fit off)", "not run (-fit off)"
		return nil, g, nil
	}
	now := time.Now()
	fits, err := newCallerSet(ds, func(ti int, acct string) (string, error) {
		tok, err := h.forge.Token(bench.InstallationOf(ti), acct, now, 2*time.Hour)
		return "Bearer " + tok, err
	})
	if err != nil {
		return nil, g, err
	}
	url := row.app.URL + "/api/v1/me"
	if reason := probe(ctx, url, fits.gens[0][0]); reason != "" {
		if h.cfg.fit == "on" {
			return nil, g, fmt.Errorf("-fit on: %s", reason)
		}
		g.Skipped = "not available yet: " + reason + " (-fit on to require it)"
		g.Measured = g.Skipped
		return nil, g, nil
	}
	s, _, err := h.ratioScenario(ctx, row, scFIT, fmt.Sprintf("GET /api/v1/me with a FIT (%d principals of %d installations at a time)", fits.size(), len(ds.Tenants)),
		func(w, i int) *http.Request { return get(url, map[string]string{"Authorization": fits.pick(w, i)}) },
		func(ctx context.Context) error { return fits.prime(ctx, h.cfg.conns, url) }, nil)
	if err != nil {
		return nil, g, err
	}
	return &s, ratioGoal(g.Name, &s, g.Target), nil
}

// callerSet is the agents whose tokens GET /me is measured with: 10
// distinct agents of every tenant at a time, a generation. The app keeps
// each answer for 30 s from when it was computed (meCacheTTL in
// handlers/routes.go); a hit does not extend it. So that every slice is
// answered from the cache, as the scenario means to measure, and not a
// mix of hits and misses set by the harness's pacing, a target's prime
// moves to the next generation (agents never asked, or asked long ago) and
// asks each of them once before the slices of the next primeWithin.
type callerSet struct {
	gens [][]string // Authorization headers, by generation
	cur  atomic.Int32
}

// newCallerSet takes agent j of a tenant into generation j % G, where G is
// the tenant's agents / 10.
func newCallerSet(ds *bench.Dataset, auth func(tenant int, acct string) (string, error)) (*callerSet, error) {
	n := max(1, ds.Spec.AgentsPerTenant/10)
	c := &callerSet{gens: make([][]string, n)}
	for ti, t := range ds.Tenants {
		for j, acct := range t.Agents {
			if j >= n*10 {
				break
			}
			a, err := auth(ti, acct)
			if err != nil {
				return nil, err
			}
			c.gens[j%n] = append(c.gens[j%n], a)
		}
	}
	// The first prime moves to generation 0.
	c.cur.Store(int32(n - 1))
	return c, nil
}

func (c *callerSet) size() int { return len(c.gens[0]) }

// pick is the Authorization of the i-th request of worker w.
func (c *callerSet) pick(w, i int) string {
	g := c.gens[c.cur.Load()]
	return g[(w*7919+i*104729)%len(g)]
}

// prime moves to the next generation and asks GET url once for each.
func (c *callerSet) prime(ctx context.Context, conns int, url string) error {
	g := c.gens[(int(c.cur.Load())+1)%len(c.gens)]
	if err := bench.Each(ctx, conns, len(g), func(i int) *http.Request {
		return get(url, map[string]string{"Authorization": g[i]})
	}); err != nil {
		return err
	}
	c.cur.Store(int32((int(c.cur.Load()) + 1) % len(c.gens)))
	return nil
}

// probe asks once; it returns why the answer is not a 200, or "".
func probe(ctx context.Context, url, auth string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "a FIT-authenticated GET /api/v1/me failed: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = json.Unmarshal(raw, &body)
	return fmt.Sprintf("a FIT-authenticated GET /api/v1/me answered %d %s", resp.StatusCode, cmp.Or(body.Error.Code, "(no error code)"))
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
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
