// Command fault runs three replicas of the real binary on one PostgreSQL
// behind a round-robin client while agents toggle, schedules fire and the
// inactivity sweep runs; it kills one replica with SIGKILL and starts it
// again, restarts PostgreSQL under load, and then checks that every due
// transition was applied exactly once, that every acknowledged toggle is
// in the database, that writes failed with 503 (never 500, never a hang)
// while the database was away, that the public status kept answering from
// memory, and that live subscribers on the surviving replicas converged.
//
//	go run ./bench/cmd/fault            # the short form CI runs
//	go run ./bench/cmd/fault -soak 5m   # then five minutes of steady mixed load
//
// With PG_TEST_BIN, PG_TEST_DATA and TEST_DATABASE_URL set (as .ci/test-all
// does) it restarts that cluster; otherwise it makes a throwaway one under
// /tmp, as the postgres user when run as root.
package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"agentpresence/bench"
	"agentpresence/models"
	"agentpresence/models/schedule"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], log); err != nil {
		log.Error("fault", "err", err)
		os.Exit(1)
	}
}

const replicas = 3

// The seeded tenants, by role.
const (
	toggleTenants     = 2 // tenants 0 and 1: agents toggle through the API
	scheduleTenant    = 2 // schedules due during the run
	inactivityTenant  = 3 // stale online rows, auto-offline after 1 minute
	scheduledAgents   = 20
	inactiveAgents    = 10
	togglersPerWorker = 5
)

func run(ctx context.Context, args []string, log *slog.Logger) error {
	flags := flag.NewFlagSet("fault", flag.ContinueOnError)
	soak := flags.Duration("soak", 0, "after the faults, steady mixed load for this long (e.g. 5m): memory at start and end, zero 5xx")
	pgPort := flags.Int("pg-port", 54341, "port of the throwaway PostgreSQL when none is given by the environment")
	keep := flags.Bool("keep-logs", false, "keep the replicas' logs (printed path)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if _, err := bench.RaiseFileLimit(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bench-fault.")
	if err != nil {
		return err
	}
	if *keep {
		log.Info("logs", "dir", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin, err := bench.Build(ctx, tmp)
	if err != nil {
		return err
	}
	cluster, err := bench.OpenCluster(ctx, *pgPort)
	if err != nil {
		return err
	}
	defer cluster.Close()
	dbURL, drop, err := bench.CreateDatabase(ctx, cluster.URL, bench.DatabaseName("fault"))
	if err != nil {
		return err
	}
	defer drop()

	key := make([]byte, 32)
	if _, err := crand.Read(key); err != nil {
		return err
	}
	spec := bench.Spec{Tenants: 4, ProjectsPerTenant: 3, AgentsPerTenant: 30}
	ds, err := bench.Seed(ctx, dbURL, key, spec, time.Now())
	if err != nil {
		return err
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := seedFaults(ctx, db, ds); err != nil {
		return err
	}

	h := &harness{log: log, pg: cluster, ds: ds, db: db, bin: bin, tmp: tmp,
		env: []string{"DATABASE_URL=" + dbURL, "APP_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key), "RATE_LIMITS=off",
			"LOG_LEVEL=info", "CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:9", "DEMO=", "SHUTDOWN_TIMEOUT=5s"},
		client: bench.NewClient(64), acked: map[toggleKey]bool{}, status: map[string]int{}}
	h.client.Timeout = 10 * time.Second
	for i := range replicas {
		port, err := bench.FreePort()
		if err != nil {
			return err
		}
		h.ports = append(h.ports, port)
		h.procs = append(h.procs, nil)
		h.alive = append(h.alive, &atomic.Bool{})
		if err := h.start(ctx, i); err != nil {
			return err
		}
	}
	defer h.stopAll()
	return h.scenario(ctx, *soak)
}

// seedFaults adds what the fault run needs to the base data set: the
// inactivity tenant's stale online rows (swept by the first sweep) and, for
// the schedule tenant, schedules without rules whose planned switches the
// harness sets once the replicas are up (planSchedules).
func seedFaults(ctx context.Context, db *sql.DB, ds *bench.Dataset) error {
	stale := time.Now().UTC().Add(-2 * time.Hour)
	t := ds.Tenants[inactivityTenant]
	if _, err := db.ExecContext(ctx, "UPDATE tenants SET auto_offline_minutes = 1 WHERE id = $1", int64(t.ID)); err != nil {
		return fmt.Errorf("seed inactivity: %w", err)
	}
	for j := range inactiveAgents {
		if _, err := db.ExecContext(ctx, `INSERT INTO statuses (tenant_id, project_id, account_id, online, since, source)
VALUES ($1, $2, $3, true, $4, 'manual')`, int64(t.ID), t.Projects[0].ID, t.Agents[j], stale); err != nil {
			return fmt.Errorf("seed inactivity: %w", err)
		}
	}
	st := ds.Tenants[scheduleTenant]
	sch, _ := json.Marshal(schedule.Schedule{Timezone: "UTC", Enabled: true, Rules: []schedule.Rule{}, Exceptions: []schedule.Exception{}})
	for j := range scheduledAgents {
		if _, err := db.ExecContext(ctx, "UPDATE agents SET schedule = $1 WHERE tenant_id = $2 AND account_id = $3",
			string(sch), int64(st.ID), st.Agents[j]); err != nil {
			return fmt.Errorf("seed schedules: %w", err)
		}
		if scheduledOnline(j) {
			continue
		}
		// Going offline on schedule: online now in its projects.
		for _, p := range bench.AgentProjects(j, len(st.Projects)) {
			if _, err := db.ExecContext(ctx, `INSERT INTO statuses (tenant_id, project_id, account_id, online, since, source)
VALUES ($1, $2, $3, true, $4, 'manual')`, int64(st.ID), st.Projects[p].ID, st.Agents[j], stale); err != nil {
				return fmt.Errorf("seed schedules: %w", err)
			}
		}
	}
	return nil
}

func scheduledOnline(j int) bool { return j%2 == 0 }

type toggleKey struct {
	tenant  int
	agent   int
	project int
}

type harness struct {
	log    *slog.Logger
	pg     *bench.Cluster
	ds     *bench.Dataset
	db     *sql.DB
	bin    string
	tmp    string
	env    []string
	client *http.Client
	ports  []int
	procs  []*bench.Proc
	alive  []*atomic.Bool
	rr     atomic.Uint64

	mu       sync.Mutex
	acked    map[toggleKey]bool // last acknowledged state
	status   map[string]int     // "kind code" → count
	failures []string
	// dbDown marks the window of the PostgreSQL restart, for the counts.
	dbDown atomic.Bool
	// firstAckAfterRestart is when a write succeeded again.
	restartDone, firstAck atomic.Int64
	soaking               atomic.Bool
	summary               summary
}

func (h *harness) start(ctx context.Context, i int) error {
	env := append([]string{fmt.Sprintf("PORT=%d", h.ports[i]), fmt.Sprintf("BASE_URL=http://127.0.0.1:%d", h.ports[i])}, h.env...)
	p, err := bench.Start(ctx, fmt.Sprintf("replica-%d", i), h.bin, nil, env, h.ports[i],
		filepath.Join(h.tmp, fmt.Sprintf("replica-%d-%d.log", i, time.Now().UnixNano())))
	if err != nil {
		return err
	}
	h.procs[i] = p
	h.alive[i].Store(true)
	return nil
}

func (h *harness) stopAll() {
	for i, p := range h.procs {
		if p != nil && h.alive[i].Load() {
			if err := p.Stop(15 * time.Second); err != nil {
				h.log.Warn("stop replica", "replica", i, "err", err)
			}
			h.alive[i].Store(false)
		}
	}
}

func (h *harness) fail(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failures) < 50 {
		h.failures = append(h.failures, fmt.Sprintf(format, args...))
	}
}

func (h *harness) count(kind string, code int) {
	h.mu.Lock()
	h.status[fmt.Sprintf("%s %d", kind, code)]++
	h.mu.Unlock()
}

// do sends a request to the next replica in turn and returns the status
// (0 for a transport error: a dead replica refuses connections).
func (h *harness) do(ctx context.Context, kind, method, path, auth string, body []byte) (int, error) {
	i := int(h.rr.Add(1) % replicas)
	if h.soaking.Load() {
		kind = "soak " + kind
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, fmt.Sprintf("http://127.0.0.1:%d%s", h.ports[i], path), r)
	if err != nil {
		return 0, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if time.Since(start) >= h.client.Timeout-time.Second {
			h.fail("%s on replica %d hung for %s", kind, i, time.Since(start).Round(time.Millisecond))
		} else if !h.alive[i].Load() {
			h.count(kind+" refused (replica killed)", 0)
		} else {
			h.count(kind+" transport error", 0)
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h.count(kind, resp.StatusCode)
	if resp.StatusCode >= 500 && (resp.StatusCode != http.StatusServiceUnavailable || h.soaking.Load()) {
		h.fail("%s on replica %d answered %d", kind, i, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// toggler owns some agents and switches them in turn, one request at a
// time per agent, so that "last acknowledged" is well defined.
func (h *harness) toggler(ctx context.Context, keys []toggleKey, rng *rand.Rand) {
	pending := map[toggleKey]bool{} // last attempt not acknowledged
	for ctx.Err() == nil {
		k := keys[rng.IntN(len(keys))]
		online := rng.IntN(2) == 0
		h.toggle(ctx, k, online, pending)
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	}
	// Settle: every key whose last attempt was not acknowledged is sent
	// again until it is, so that the final state is known.
	for k, online := range pending {
		for attempt := 0; ; attempt++ {
			if h.toggle(context.Background(), k, online, pending) || attempt > 100 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func (h *harness) toggle(ctx context.Context, k toggleKey, online bool, pending map[toggleKey]bool) bool {
	t := h.ds.Tenants[k.tenant]
	body, _ := json.Marshal(map[string]any{"online": online, "scope": "project", "project": t.Projects[k.project].Key})
	code, err := h.do(ctx, "toggle", http.MethodPut, "/api/v1/me/status", "JWT "+t.Token(t.Agents[k.agent], time.Now()), body)
	if err == nil && code == http.StatusOK {
		h.mu.Lock()
		h.acked[k] = online
		h.mu.Unlock()
		delete(pending, k)
		if h.restartDone.Load() != 0 && h.firstAck.Load() == 0 {
			h.firstAck.Store(time.Now().UnixNano())
		}
		return true
	}
	pending[k] = online
	return false
}

// publicProber asks for widget statuses; on a live replica they must
// answer 200 from memory even while the database is away.
func (h *harness) publicProber(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		t := h.ds.Tenants[rng.IntN(len(h.ds.Tenants))]
		p := t.Projects[rng.IntN(len(t.Projects))]
		kind := "public"
		if h.dbDown.Load() {
			kind = "public-while-db-down"
		}
		code, err := h.do(ctx, kind, http.MethodGet, "/public/v1/widgets/"+p.WidgetID+"/status", "", nil)
		if err == nil && code != http.StatusOK {
			h.fail("public status answered %d", code)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) heartbeats(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		t := h.ds.Tenants[rng.IntN(toggleTenants)]
		_, _ = h.do(ctx, "heartbeat", http.MethodPost, "/api/v1/me/heartbeat", "JWT "+t.Token(t.Agents[rng.IntN(len(t.Agents))], time.Now()), nil)
		time.Sleep(10 * time.Millisecond)
	}
}

// planSchedules makes the scheduled agents due one after another over span.
func (h *harness) planSchedules(ctx context.Context, from time.Time, span time.Duration) error {
	st := h.ds.Tenants[scheduleTenant]
	for j := range scheduledAgents {
		at := from.Add(span * time.Duration(j) / scheduledAgents).UTC()
		if _, err := h.db.ExecContext(ctx, "UPDATE agents SET next_switch_at = $1, next_switch_online = $2 WHERE tenant_id = $3 AND account_id = $4",
			at, scheduledOnline(j), int64(st.ID), st.Agents[j]); err != nil {
			return fmt.Errorf("plan schedules: %w", err)
		}
	}
	return nil
}

func (h *harness) scenario(ctx context.Context, soak time.Duration) error {
	subs := h.subscribe(ctx)
	defer subs.close()

	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var keys []toggleKey
	for ti := range toggleTenants {
		for j := range h.ds.Spec.AgentsPerTenant {
			for _, p := range bench.AgentProjects(j, h.ds.Spec.ProjectsPerTenant) {
				keys = append(keys, toggleKey{ti, j, p})
			}
		}
	}
	// One worker per group of agents: an agent's keys stay in one worker.
	byWorker := map[int][]toggleKey{}
	for _, k := range keys {
		w := (k.tenant*h.ds.Spec.AgentsPerTenant + k.agent) / togglersPerWorker
		byWorker[w] = append(byWorker[w], k)
	}
	for w, ks := range byWorker {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.toggler(loadCtx, ks, rand.New(rand.NewPCG(uint64(w), 1)))
		}()
	}
	for w := range 2 {
		wg.Add(2)
		go func() { defer wg.Done(); h.publicProber(loadCtx, rand.New(rand.NewPCG(uint64(w), 2))) }()
		go func() { defer wg.Done(); h.heartbeats(loadCtx, rand.New(rand.NewPCG(uint64(w), 3))) }()
	}
	start := time.Now()
	if err := h.planSchedules(ctx, start.Add(2*time.Second), 18*time.Second); err != nil {
		stopLoad()
		return err
	}
	h.log.Info("load running", "toggle_keys", len(keys), "replicas", replicas)

	// One replica killed and started again.
	sleepUntil(start.Add(7 * time.Second))
	victim := 1
	h.log.Info("kill -9", "replica", victim, "pid", h.procs[victim].Pid())
	h.alive[victim].Store(false)
	h.procs[victim].Kill()
	sleepUntil(start.Add(10 * time.Second))
	if err := h.start(ctx, victim); err != nil {
		stopLoad()
		return fmt.Errorf("restart replica: %w", err)
	}
	h.log.Info("replica back", "replica", victim)

	// PostgreSQL restarted under load.
	sleepUntil(start.Add(15 * time.Second))
	h.log.Info("restarting PostgreSQL")
	h.dbDown.Store(true)
	restartStart := time.Now()
	if err := h.pg.Restart(ctx); err != nil {
		h.dbDown.Store(false)
		stopLoad()
		return err
	}
	h.dbDown.Store(false)
	h.restartDone.Store(time.Now().UnixNano())
	h.log.Info("PostgreSQL back", "took", time.Since(restartStart).Round(time.Millisecond))

	sleepUntil(start.Add(28 * time.Second))
	stopLoad()
	wg.Wait()
	h.log.Info("load stopped; settling")

	if err := h.waitJobs(ctx); err != nil {
		h.fail("%v", err)
	}
	h.verify(ctx, subs)
	if soak > 0 {
		h.soak(ctx, soak)
	}
	return h.result(restartStart)
}

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// subscriptions are widget streams on every replica, resumed with
// Last-Event-ID whenever they end, keeping the last status each saw.
type subscriptions struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	online map[subKey]bool
	events map[subKey]int
	resume map[subKey]int
}

type subKey struct {
	replica int
	widget  string
}

func (s *subscriptions) close() {
	s.cancel()
	s.wg.Wait()
}

func (h *harness) widgets() []bench.Project {
	var ps []bench.Project
	for _, t := range h.ds.Tenants {
		ps = append(ps, t.Projects...)
	}
	return ps
}

func (h *harness) subscribe(ctx context.Context) *subscriptions {
	s := &subscriptions{online: map[subKey]bool{}, events: map[subKey]int{}, resume: map[subKey]int{}}
	client := bench.NewStreamClient()
	ctx, s.cancel = context.WithCancel(ctx)
	for i := range replicas {
		for _, p := range h.widgets() {
			k := subKey{i, p.WidgetID}
			url := fmt.Sprintf("http://127.0.0.1:%d/public/v1/widgets/%s/events", h.ports[i], p.WidgetID)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				last := ""
				for ctx.Err() == nil {
					st, err := bench.OpenStream(ctx, client, url, last)
					if err != nil {
						time.Sleep(200 * time.Millisecond)
						continue
					}
					_ = st.Read(func(ev bench.Event) {
						var body struct {
							Online bool `json:"online"`
						}
						if ev.Name != "status" || json.Unmarshal(ev.Data, &body) != nil {
							return
						}
						if ev.ID != "" {
							last = ev.ID
						}
						s.mu.Lock()
						s.online[k] = body.Online
						s.events[k]++
						s.mu.Unlock()
					})
					st.Close()
					s.mu.Lock()
					s.resume[k]++
					s.mu.Unlock()
				}
			}()
		}
	}
	return s
}

// waitJobs waits until every planned switch is taken and the inactivity
// sweep has run (it runs every 15 s).
func (h *harness) waitJobs(ctx context.Context) error {
	st, it := h.ds.Tenants[scheduleTenant], h.ds.Tenants[inactivityTenant]
	deadline := time.Now().Add(60 * time.Second)
	for {
		var due, swept int
		err := h.db.QueryRowContext(ctx, "SELECT count(*) FROM agents WHERE tenant_id = $1 AND next_switch_at IS NOT NULL", int64(st.ID)).Scan(&due)
		if err == nil {
			err = h.db.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE tenant_id = $1 AND source = 'inactivity'", int64(it.ID)).Scan(&swept)
		}
		if err == nil && due == 0 && swept >= inactiveAgents {
			time.Sleep(2 * time.Second) // let the last notifications reach the streams
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jobs did not finish within a minute: %d switches still due, %d of %d inactivity events (err %v)", due, swept, inactiveAgents, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// transitions counts events of one tenant and source by (account, project).
func (h *harness) transitions(ctx context.Context, tenant models.TenantID, source string) (map[[2]string]int, map[[2]string]bool, error) {
	rows, err := h.db.QueryContext(ctx, "SELECT account_id, project_id, to_online FROM events WHERE tenant_id = $1 AND source = $2", int64(tenant), source)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	n, to := map[[2]string]int{}, map[[2]string]bool{}
	for rows.Next() {
		var acct string
		var pid int64
		var online bool
		if err := rows.Scan(&acct, &pid, &online); err != nil {
			return nil, nil, err
		}
		k := [2]string{acct, fmt.Sprint(pid)}
		n[k]++
		to[k] = online
	}
	return n, to, rows.Err()
}

type summary struct {
	scheduled, inactive, toggles, toggleKeys int
	subsChecked, subsAgree                   int
	subsNote                                 string
}

func (h *harness) verify(ctx context.Context, subs *subscriptions) {
	result := &h.summary
	// Every due transition applied exactly once.
	st := h.ds.Tenants[scheduleTenant]
	n, to, err := h.transitions(ctx, st.ID, "schedule")
	if err != nil {
		h.fail("read schedule events: %v", err)
	}
	want := map[[2]string]bool{}
	for j := range scheduledAgents {
		for _, p := range bench.AgentProjects(j, len(st.Projects)) {
			want[[2]string{st.Agents[j], fmt.Sprint(st.Projects[p].ID)}] = scheduledOnline(j)
		}
	}
	for k, online := range want {
		switch {
		case n[k] != 1:
			h.fail("scheduled switch of %s in project %s applied %d times", k[0], k[1], n[k])
		case to[k] != online:
			h.fail("scheduled switch of %s in project %s went the wrong way", k[0], k[1])
		}
	}
	for k := range n {
		if _, ok := want[k]; !ok {
			h.fail("unexpected scheduled switch of %s in project %s", k[0], k[1])
		}
	}
	result.scheduled = len(want)

	it := h.ds.Tenants[inactivityTenant]
	n, _, err = h.transitions(ctx, it.ID, "inactivity")
	if err != nil {
		h.fail("read inactivity events: %v", err)
	}
	for j := range inactiveAgents {
		k := [2]string{it.Agents[j], fmt.Sprint(it.Projects[0].ID)}
		if n[k] != 1 {
			h.fail("inactivity switch of %s applied %d times", k[0], n[k])
		}
	}
	if len(n) != inactiveAgents {
		h.fail("%d agents switched for inactivity, want %d", len(n), inactiveAgents)
	}
	result.inactive = inactiveAgents

	onlineInDB := h.checkToggles(ctx)

	// Subscribers on the surviving replicas converged on every widget.
	widgetOf := map[string]string{}
	for _, p := range h.widgets() {
		widgetOf[fmt.Sprint(p.ID)] = p.WidgetID
	}
	truth := map[string]bool{}
	for k := range onlineInDB {
		truth[widgetOf[k[1]]] = true
	}
	subs.mu.Lock()
	defer subs.mu.Unlock()
	resumes := 0
	for k, n := range subs.resume {
		if k.replica != 1 {
			resumes += n
		}
	}
	for _, p := range h.widgets() {
		for i := range replicas {
			if i == 1 { // the killed one
				continue
			}
			k := subKey{i, p.WidgetID}
			result.subsChecked++
			if got, ok := subs.online[k]; !ok || got != truth[p.WidgetID] {
				h.fail("replica %d's subscriber of %s ended with online=%t (seen %t), database says %t", i, p.WidgetID, got, ok, truth[p.WidgetID])
				continue
			}
			result.subsAgree++
		}
	}
	result.subsNote = fmt.Sprintf("%d stream resumptions on the surviving replicas", resumes)
}

// checkToggles compares the last acknowledged state of every toggled agent
// and project with the database, and returns who is online there.
func (h *harness) checkToggles(ctx context.Context) map[[2]string]bool {
	result := &h.summary
	// Every acknowledged toggle present: the last acknowledged state per
	// agent and project is the database's.
	onlineInDB := map[[2]string]bool{}
	rows, err := h.db.QueryContext(ctx, "SELECT account_id, project_id FROM statuses WHERE online")
	if err != nil {
		h.fail("read statuses: %v", err)
	} else {
		for rows.Next() {
			var acct string
			var pid int64
			if err := rows.Scan(&acct, &pid); err == nil {
				onlineInDB[[2]string{acct, fmt.Sprint(pid)}] = true
			}
		}
		rows.Close()
	}
	var lost []string
	var lostKeys []toggleKey
	h.mu.Lock()
	for k, online := range h.acked {
		t := h.ds.Tenants[k.tenant]
		if got := onlineInDB[[2]string{t.Agents[k.agent], fmt.Sprint(t.Projects[k.project].ID)}]; got != online {
			lostKeys = append(lostKeys, k)
			lost = append(lost, fmt.Sprintf("acknowledged toggle lost: %s in %s acknowledged online=%t, database says %t",
				t.Agents[k.agent], t.Projects[k.project].Key, online, got))
		}
	}
	result.toggleKeys = len(h.acked)
	result.toggles = h.status["toggle 200"] + h.status["soak toggle 200"]
	h.mu.Unlock()
	for _, l := range lost {
		h.fail("%s", l) // fail takes h.mu
	}
	for _, k := range lostKeys {
		// What changed it last, to tell a lost write from a job's switch.
		t := h.ds.Tenants[k.tenant]
		var source string
		var to bool
		var at time.Time
		err := h.db.QueryRowContext(ctx, `SELECT source, to_online, at FROM events WHERE tenant_id = $1 AND account_id = $2
AND project_id = $3 ORDER BY id DESC LIMIT 1`, int64(t.ID), t.Agents[k.agent], t.Projects[k.project].ID).Scan(&source, &to, &at)
		h.fail("  last event of %s in %s: %s to online=%t at %s (%v)", t.Agents[k.agent], t.Projects[k.project].Key, source, to, at.UTC().Format(time.TimeOnly), err)
		if len(lostKeys) > 3 {
			break
		}
	}
	return onlineInDB
}

// soak holds a steady mixed load and compares the replicas' memory.
func (h *harness) soak(ctx context.Context, d time.Duration) {
	h.log.Info("soak", "duration", d)
	h.soaking.Store(true)
	before := make([]bench.Usage, replicas)
	for i, p := range h.procs {
		before[i], _ = bench.ReadUsage(p.Pid())
	}
	loadCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var keys []toggleKey
	for j := range h.ds.Spec.AgentsPerTenant {
		keys = append(keys, toggleKey{0, j, bench.AgentProjects(j, h.ds.Spec.ProjectsPerTenant)[0]})
	}
	for w := range 4 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			h.toggler(loadCtx, keys[w*len(keys)/4:(w+1)*len(keys)/4], rand.New(rand.NewPCG(uint64(w), 9)))
		}()
		go func() { defer wg.Done(); h.publicProber(loadCtx, rand.New(rand.NewPCG(uint64(w), 8))) }()
		go func() { defer wg.Done(); h.heartbeats(loadCtx, rand.New(rand.NewPCG(uint64(w), 7))) }()
	}
	wg.Wait()
	for i, p := range h.procs {
		after, _ := bench.ReadUsage(p.Pid())
		fmt.Printf("soak replica %d: RSS %.1f MiB at start, %.1f MiB at end\n", i, float64(before[i].RSSKiB)/1024, float64(after.RSSKiB)/1024)
	}
	h.soaking.Store(false)
	time.Sleep(time.Second)
	h.checkToggles(ctx) // and still no acknowledged change lost
}

func (h *harness) result(restartStart time.Time) error {
	result := &h.summary
	h.mu.Lock()
	defer h.mu.Unlock()
	var kinds []string
	for k := range h.status {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Println("answers by kind and status (0: no answer):")
	for _, k := range kinds {
		fmt.Printf("  %-40s %d\n", k, h.status[k])
	}
	fmt.Printf("scheduled transitions checked: %d (each applied exactly once)\n", result.scheduled)
	fmt.Printf("inactivity transitions checked: %d\n", result.inactive)
	fmt.Printf("acknowledged toggles: %d over %d agent-projects, the last of each compared with the database\n", result.toggles, result.toggleKeys)
	if fa := h.firstAck.Load(); fa != 0 {
		fmt.Printf("first acknowledged write %.1fs after PostgreSQL's restart completed (restart began %s)\n",
			time.Duration(fa-h.restartDone.Load()).Seconds(), restartStart.UTC().Format(time.TimeOnly))
	} else {
		h.failures = append(h.failures, "no write was acknowledged after PostgreSQL's restart")
	}
	fmt.Printf("live subscribers: %d of %d converged; %s\n", result.subsAgree, result.subsChecked, result.subsNote)
	if len(h.failures) > 0 {
		for _, f := range h.failures {
			fmt.Println("FAIL:", f)
		}
		return fmt.Errorf("%d failures", len(h.failures))
	}
	fmt.Println("fault run passed")
	return nil
}
