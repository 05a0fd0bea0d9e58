package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"agentpresence/handlers"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/live"
	"agentpresence/models"
)

// metrics is the replica's Prometheus registry (its own, no global) and
// the observers that feed it: the HTTP layer's, the Jira guard's, the
// jobs'. It exists only when metrics are served (METRICS_ADDR or
// METRICS_TOKEN); otherwise nothing is observed and the hot paths pay
// nothing.
type metrics struct {
	reg  *prometheus.Registry
	http *handlers.HTTPMetrics
	jira *jiraMetrics
	jobs *jobMetrics
	now  func() time.Time
	// online counts the agents online (watchStore).
	online *onlineCollector
}

// jiraTenantBuckets is how many buckets the Jira calls' tenants are hashed
// into: a bounded label that still singles out a noisy tenant's bucket.
const jiraTenantBuckets = 16

// onlineCountsEvery is how often a scrape may count the agents online in
// the database; scrapes in between get the last count.
const onlineCountsEvery = 15 * time.Second

func newMetrics(now func() time.Time) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &metrics{reg: reg, http: handlers.NewHTTPMetrics(reg), jira: newJiraMetrics(reg), jobs: newJobMetrics(reg, now), now: now}
}

// watchStore adds the database pool's use (database/sql's DBStats) and
// the agents and tenants online, counted now and then.
func (m *metrics) watchStore(store *models.Store) error {
	db, err := store.SQL()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	m.online = &onlineCollector{store: store, now: m.now, every: onlineCountsEvery,
		tenants: prometheus.NewDesc("agentpresence_tenants_online", "Tenants with at least one agent online (counted at most every 15 s).", nil, nil),
		agents:  prometheus.NewDesc("agentpresence_agents_online", "Agents online in at least one project, across tenants (counted at most every 15 s).", nil, nil)}
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, "presence"), m.online)
	return nil
}

// watchStreams adds the open streams, the hubs' drops and resumptions,
// and the limiters' and stream caps' refusals.
func (m *metrics) watchStreams(agents *handlers.AgentHub, widgets *handlers.WidgetHub, limiters *handlers.Limiters, caps *live.Caps) {
	for kind, hub := range map[string]interface {
		Streams() int
		Drops() uint64
		Resumptions() uint64
	}{"agent": agents, "widget": widgets} {
		labels := prometheus.Labels{"kind": kind}
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "agentpresence_streams_open", ConstLabels: labels,
				Help: "Live event streams open on this replica, by kind (agent: the pages' counts; widget: customers')."},
				func() float64 { return float64(hub.Streams()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "agentpresence_stream_drops_total", ConstLabels: labels,
				Help: "Streams a hub let go for falling 16 events behind (their clients resume), by kind."},
				func() float64 { return float64(hub.Drops()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "agentpresence_stream_resumptions_total", ConstLabels: labels,
				Help: "Streams resumed with a Last-Event-ID still in the hub's history, by kind."},
				func() float64 { return float64(hub.Resumptions()) }),
		)
	}
	m.reg.MustRegister(&refusalCollector{limiters: limiters, caps: caps,
		desc: prometheus.NewDesc("agentpresence_rate_limit_refusals_total",
			"Requests and streams refused by a limit of ours, by limiter.", []string{"limiter"}, nil)})
}

// watchAccessLog counts the requests that waited for room in the access
// log's queue: a log output slower than the traffic (lines are never
// dropped; requests slow down instead).
func (m *metrics) watchAccessLog(access *handlers.AccessLog) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "agentpresence_access_log_waits_total",
		Help: "Requests that found the access log's queue full and waited for room (the log output is too slow)."},
		func() float64 { return float64(access.Waits()) }))
}

// handler serves the registry in Prometheus's text format; with a token,
// only to requests that carry it as a Bearer token.
func (m *metrics) handler(token string, log *slog.Logger) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the Bearer token METRICS_TOKEN", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// withMetricsRoute serves /metrics (GET, with the token) beside next on
// the service's port; everything else goes to next.
func withMetricsRoute(next, metrics http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			metrics.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// metricsServer serves /metrics alone on METRICS_ADDR, a listener apart
// from the service's port (the Helm chart's pods expose it to Prometheus,
// not through the Service).
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

func startMetricsServer(addr string, h http.Handler, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	s := &metricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics serve", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return s, nil
}

func (s *metricsServer) close(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("close metrics listener: %w", err)
	}
	return nil
}

// checkMetricsAddr accepts host:port (an empty host: every interface).
func checkMetricsAddr(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("config: METRICS_ADDR %q must be host:port, e.g. :9090 or 127.0.0.1:9090", addr)
	}
	return nil
}

// jiraMetrics hears the Jira guard (jira.GuardObserver).
type jiraMetrics struct {
	calls    *prometheus.CounterVec
	duration prometheus.Histogram
	held     *prometheus.CounterVec
	breaker  *prometheus.CounterVec
}

func newJiraMetrics(reg prometheus.Registerer) *jiraMetrics {
	m := &jiraMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentpresence_jira_calls_total",
			Help: "Calls sent to tenants' Jira, by status (error: no answer) and tenant bucket (the site's key hashed into 16)."},
			[]string{"tenant_bucket", "status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "agentpresence_jira_call_duration_seconds",
			Help: "Time a call to Jira took.", Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentpresence_jira_held_total",
			Help: "Calls to Jira held back instead of sent, by reason (global_quota, retry_after, backoff, breaker_open, breaker_probe)."},
			[]string{"reason"}),
		breaker: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentpresence_jira_breaker_transitions_total",
			Help: "Sites' circuit breakers changing state, by the state entered (open, half_open, closed)."},
			[]string{"state"}),
	}
	reg.MustRegister(m.calls, m.duration, m.held, m.breaker)
	// Known label values start at zero, so that rates work from the
	// first scrape and dashboards find every series.
	for _, r := range []string{jira.HeldGlobalQuota, jira.HeldRetryAfter, jira.HeldBackoff, jira.HeldBreakerOpen, jira.HeldBreakerProbe} {
		m.held.WithLabelValues(r)
	}
	for _, st := range []string{"open", "half_open", "closed"} {
		m.breaker.WithLabelValues(st)
	}
	return m
}

// JiraCall counts a call by its status and the site's bucket.
func (m *jiraMetrics) JiraCall(site, _ string, status int, took time.Duration) {
	m.calls.WithLabelValues(strconv.Itoa(jira.TenantBucket(site, jiraTenantBuckets)), jiraStatus(status)).Inc()
	m.duration.Observe(took.Seconds())
}

// JiraHeld counts a held call.
func (m *jiraMetrics) JiraHeld(_, reason string) { m.held.WithLabelValues(reason).Inc() }

// JiraBreaker counts a breaker's change.
func (m *jiraMetrics) JiraBreaker(_, state string) { m.breaker.WithLabelValues(state).Inc() }

// jiraStatus is the status label: the codes Jira answers that matter one
// by one, else the class, so the label set stays small.
func jiraStatus(code int) string {
	switch code {
	case 0:
		return "error"
	case 200, 204, 400, 401, 403, 404, 429, 500, 502, 503, 504:
		return strconv.Itoa(code)
	}
	return strconv.Itoa(code/100) + "xx"
}

// jobMetrics hears the job runner (jobs.RunObserver).
type jobMetrics struct {
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lag         *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	now         func() time.Time
}

func newJobMetrics(reg prometheus.Registerer, now func() time.Time) *jobMetrics {
	m := &jobMetrics{now: now,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentpresence_job_runs_total",
			Help: "Job runs on this replica, by job and result (ok, error); a run another replica took is not counted here."},
			[]string{"job", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "agentpresence_job_duration_seconds",
			Help: "Time a job run took, by job.", Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 60}},
			[]string{"job"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "agentpresence_job_lag_seconds",
			Help: "How late a job run started after the instant it was scheduled for, by job.", Buckets: []float64{.001, .01, .1, .5, 1, 2, 5, 15, 60}},
			[]string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "agentpresence_job_last_success_timestamp_seconds",
			Help: "When a job last ran without error on this replica (Unix time), by job."},
			[]string{"job"}),
	}
	reg.MustRegister(m.runs, m.duration, m.lag, m.lastSuccess)
	return m
}

// JobRan counts a run.
func (m *jobMetrics) JobRan(name string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	} else {
		m.lastSuccess.WithLabelValues(name).Set(float64(m.now().UnixMilli()) / 1000)
	}
	m.runs.WithLabelValues(name, result).Inc()
	m.duration.WithLabelValues(name).Observe(took.Seconds())
}

// JobLate observes a run's lag.
func (m *jobMetrics) JobLate(name string, lag time.Duration) {
	m.lag.WithLabelValues(name).Observe(lag.Seconds())
}

// refusalCollector reads the limiters' and caps' refusal counts at each
// scrape.
type refusalCollector struct {
	limiters *handlers.Limiters
	caps     *live.Caps
	desc     *prometheus.Desc
}

func (c *refusalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *refusalCollector) Collect(ch chan<- prometheus.Metric) {
	for _, counts := range []map[string]uint64{c.limiters.Refusals(), handlers.StreamCapRefusals(c.caps)} {
		for name, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), name)
		}
	}
}

// onlineCollector counts the agents and tenants online in the database,
// at most every onlineCountsEvery, whatever the scrape rate; while the
// count fails (the database away), the last one is reported.
type onlineCollector struct {
	store           *models.Store
	now             func() time.Time
	every           time.Duration
	tenants, agents *prometheus.Desc

	mu       sync.Mutex
	at       time.Time
	counted  bool
	nTenants int64
	nAgents  int64
}

func (c *onlineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.tenants
	ch <- c.agents
}

func (c *onlineCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); !c.counted || now.Sub(c.at) >= c.every {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		tenants, agents, err := c.store.OnlineCounts(ctx)
		cancel()
		if err == nil {
			c.nTenants, c.nAgents, c.at, c.counted = tenants, agents, now, true
		}
	}
	ch <- prometheus.MustNewConstMetric(c.tenants, prometheus.GaugeValue, float64(c.nTenants))
	ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(c.nAgents))
}
