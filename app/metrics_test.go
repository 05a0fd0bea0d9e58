package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

const metricsToken = "metrics-token-0123456789"

// metricsApp is a real replica with a simulated Jira site installed:
// SUP, agent-1 (agent and admin) and agent-2 (agent).
type metricsApp struct {
	*App
	site   *jiratest.Site
	base   string
	client *http.Client
	tenant models.Tenant
}

func startMetricsApp(t *testing.T, dialect models.Dialect, metricsAddr, token string) *metricsApp {
	t.Helper()
	return startAppWith(t, dialect, metricsAddr, token, Options{})
}

func startAppWith(t *testing.T, dialect models.Dialect, metricsAddr, token string, opts Options) *metricsApp {
	t.Helper()
	const appKey = "io.example.presence"
	site, err := jiratest.New(jiratest.Options{AppKey: appKey})
	if err != nil {
		t.Fatal(err)
	}
	jiraSrv := httptest.NewServer(site)
	t.Cleanup(jiraSrv.Close)
	if err := site.SetBaseURL(jiraSrv.URL); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := Config{Port: port, BaseURL: fmt.Sprintf("http://127.0.0.1:%d", port), DatabaseURL: dbtest.URL(t, dialect),
		AppKey: appKey, AppName: "Presence", InstallKeysURL: site.KeysURL(), AppSecretKey: []byte("0123456789abcdef0123456789abcdef"),
		JWTLeeway: 30 * time.Second, RateLimits: true, JiraAllowLoopback: true, StreamsPerUser: 10, StreamsPerAddress: 300,
		MetricsAddr: metricsAddr, MetricsToken: token}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), os.DirFS(".."), opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.metrics != nil {
		a.metrics.online.every = 0 // count at every scrape
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, a) })
	if err := site.SetAppBaseURL(cfg.BaseURL); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		site.AddProject(jiratest.ProjectSpec{ID: 10001, Key: "SUP"}),
		site.AddUser(jiratest.UserSpec{AccountID: "agent-1", Agent: []string{"SUP"}, ProjectAdmin: []string{"SUP"}, JiraAdmin: true}),
		site.AddUser(jiratest.UserSpec{AccountID: "agent-2", Agent: []string{"SUP"}, JiraAdmin: true}),
		site.Install(context.Background()),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	tn, err := a.Store().TenantByClientKey(context.Background(), site.ClientKey())
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	return &metricsApp{App: a, site: site, base: cfg.BaseURL, client: client, tenant: tn}
}

// call sends a request to the service's port as user (none: no token).
func (m *metricsApp) call(t *testing.T, method, path, user, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, m.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("Authorization", "JWT "+m.site.ContextToken(user))
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := m.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// status sends a request and returns its status, reading the body.
func (m *metricsApp) status(t *testing.T, method, path, user, body string) int {
	t.Helper()
	resp := m.call(t, method, path, user, body)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// scrape reads target's /metrics with the token (none: without).
func scrape(t *testing.T, client *http.Client, target, token string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return resp.StatusCode, fams
}

// series sums the values of name's series whose labels include want
// (counters, gauges, and histograms' sample counts); found is false when
// no series matched.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) (sum float64, found bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

// TestMetricsScrape runs a replica with metrics on, scrapes /metrics from
// METRICS_ADDR, drives each thing the metrics count through the real
// service (requests, a status change over its limit, streams and a
// resumption, a 429 from Jira and a call held back after it, the jobs),
// and checks each named series exists and moved; on SQLite and
// PostgreSQL. Then every metric the Grafana dashboard names must be among
// the scraped ones.
func TestMetricsScrape(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		m := startMetricsApp(t, dialect, "127.0.0.1:0", metricsToken)
		target := "http://" + m.MetricsAddr() + "/metrics"
		_, before := scrape(t, m.client, target, metricsToken)

		if s := m.status(t, "GET", "/api/v1/me?project=SUP", "agent-1", ""); s != http.StatusOK {
			t.Fatalf("me: %d", s)
		}
		if s := m.status(t, "PUT", "/api/v1/me/status", "agent-1", `{"online":true,"scope":"project","project":"SUP"}`); s != http.StatusOK {
			t.Fatalf("online: %d", s)
		}
		sup, err := m.Store().ProjectByKey(context.Background(), m.tenant.ID, "SUP")
		if err != nil {
			t.Fatal(err)
		}
		statusPath := "/public/v1/widgets/" + sup.WidgetID + "/status"
		if s := m.status(t, "GET", statusPath, "", ""); s != http.StatusOK {
			t.Fatalf("widget status: %d", s)
		}
		if s := m.status(t, "GET", "/nope/"+sup.WidgetID, "", ""); s != http.StatusNotFound {
			t.Fatalf("an unknown path: %d", s)
		}
		// Status changes past the agent's budget (12 at once) are refused.
		refused := false
		for i := range 14 {
			s := m.status(t, "PUT", "/api/v1/me/status", "agent-1", fmt.Sprintf(`{"online":%t,"scope":"project","project":"SUP"}`, i%2 == 1))
			refused = refused || s == http.StatusTooManyRequests
		}
		if !refused {
			t.Fatal("14 status changes at once were all let through")
		}
		if s := m.status(t, "PUT", "/api/v1/me/status", "agent-2", `{"online":true,"scope":"project","project":"SUP"}`); s != http.StatusOK {
			t.Fatalf("agent-2 online: %d", s)
		}
		// Streams: an agent's and a widget's stay open; a second widget
		// stream resumes from the first one's id.
		agentStream := m.call(t, "GET", "/api/v1/events?project=SUP", "agent-1", "")
		defer agentStream.Body.Close()
		widgetStream := m.call(t, "GET", "/public/v1/widgets/"+sup.WidgetID+"/events", "", "")
		defer widgetStream.Body.Close()
		id := firstLine(t, widgetStream, "id: ")
		resumed := m.call(t, "GET", "/public/v1/widgets/"+sup.WidgetID+"/events", "", "", "Last-Event-ID", id)
		defer resumed.Body.Close()
		firstLine(t, resumed, "event: ") // nothing missed: a keepalive
		// Jira refuses agent-2's admin check with a 429; the next check
		// is held back, not sent.
		m.site.SetFault(jiratest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "600", Reason: "jira-quota-tenant-based",
			Path: "/rest/api/3/permissions/check"})
		for range 2 {
			if s := m.status(t, "GET", "/api/v1/admin/online", "agent-2", ""); s < 500 {
				t.Fatalf("an admin check Jira refuses: %d, want 5xx", s)
			}
		}
		waitFor(t, "a schedules run", func() bool {
			_, fams := scrape(t, m.client, target, metricsToken)
			n, _ := series(fams, "agentpresence_job_runs_total", map[string]string{"job": "schedules", "result": "ok"})
			return n > 0
		})
		_, after := scrape(t, m.client, target, metricsToken)

		for _, c := range []struct {
			name   string
			labels map[string]string
			moves  bool // else: exists, and is above zero when min says
			min    float64
		}{
			{"agentpresence_http_requests_total", map[string]string{"route": "/api/v1/me", "method": "GET", "code": "200"}, true, 1},
			{"agentpresence_http_requests_total", map[string]string{"route": "/public/v1/widgets/:widgetId/status", "code": "200"}, true, 1},
			{"agentpresence_http_requests_total", map[string]string{"route": "unmatched", "code": "404"}, true, 1},
			{"agentpresence_http_requests_total", map[string]string{"route": "/api/v1/me/status", "code": "429"}, true, 1},
			{"agentpresence_http_request_duration_seconds", map[string]string{"route": "/api/v1/me"}, true, 1},
			{"agentpresence_streams_open", map[string]string{"kind": "agent"}, true, 1},
			{"agentpresence_streams_open", map[string]string{"kind": "widget"}, true, 2},
			{"agentpresence_stream_resumptions_total", map[string]string{"kind": "widget"}, true, 1},
			{"agentpresence_stream_drops_total", map[string]string{"kind": "widget"}, false, 0},
			{"agentpresence_job_runs_total", map[string]string{"job": "schedules", "result": "ok"}, true, 1},
			{"agentpresence_job_duration_seconds", map[string]string{"job": "schedules"}, true, 1},
			{"agentpresence_job_lag_seconds", map[string]string{"job": "schedules"}, true, 1},
			{"agentpresence_job_last_success_timestamp_seconds", map[string]string{"job": "schedules"}, true, 1},
			{"agentpresence_jira_calls_total", map[string]string{"status": "200"}, true, 1},
			{"agentpresence_jira_calls_total", map[string]string{"status": "429"}, true, 1},
			{"agentpresence_jira_call_duration_seconds", nil, true, 1},
			{"agentpresence_jira_held_total", map[string]string{"reason": "retry_after"}, true, 1},
			{"agentpresence_jira_breaker_transitions_total", map[string]string{"state": "open"}, false, 0},
			{"agentpresence_rate_limit_refusals_total", map[string]string{"limiter": "status_changes"}, true, 1},
			{"agentpresence_rate_limit_refusals_total", map[string]string{"limiter": "streams_user"}, false, 0},
			{"go_sql_open_connections", map[string]string{"db_name": "presence"}, false, 1},
			{"go_sql_max_open_connections", map[string]string{"db_name": "presence"}, false, 1},
			{"agentpresence_agents_online", nil, true, 1},
			{"agentpresence_tenants_online", nil, true, 1},
		} {
			was, _ := series(before, c.name, c.labels)
			now, found := series(after, c.name, c.labels)
			switch {
			case !found:
				t.Errorf("%s%v: no such series", c.name, c.labels)
			case now < c.min:
				t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, now, c.min)
			case c.moves && now <= was:
				t.Errorf("%s%v did not move: %v before, %v after", c.name, c.labels, was, now)
			}
		}
		// Route labels are patterns, never paths: no widget id in them.
		for _, mt := range after["agentpresence_http_requests_total"].GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "route" && strings.Contains(l.GetValue(), sup.WidgetID) {
					t.Errorf("a route label holds a raw path: %q", l.GetValue())
				}
			}
		}
		checkDashboard(t, after)
	})
}

// firstLine reads a stream until its first line starting with prefix,
// and returns the rest of it.
func firstLine(t *testing.T, resp *http.Response, prefix string) string {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return rest
		}
	}
	t.Fatalf("the stream ended without a line %q", prefix)
	return ""
}

// metricName finds the metric names in a PromQL expression.
var metricName = regexp.MustCompile(`\b(agentpresence_[a-z_]+|go_sql_[a-z_]+|go_[a-z_]+|process_[a-z_]+)\b`)

// checkDashboard: every metric docs/grafana-dashboard.json names is in
// the scrape (a histogram by its family's name), and every panel names
// one.
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if len(dash.Panels) < 8 {
		t.Fatalf("the dashboard has %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		names := 0
		for _, tg := range p.Targets {
			for _, name := range metricName.FindAllString(tg.Expr, -1) {
				names++
				family := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if f, ok := strings.CutSuffix(name, suffix); ok && fams[f] != nil && fams[f].GetType() == dto.MetricType_HISTOGRAM {
						family = f
					}
				}
				if fams[family] == nil {
					t.Errorf("panel %q uses %s, which the registry does not have", p.Title, name)
				}
			}
		}
		if names == 0 {
			t.Errorf("panel %q names no metric", p.Title)
		}
	}
}

// TestMetricsNotPublic: without configuration there are no metrics; with
// METRICS_ADDR alone they are only on that listener; with METRICS_TOKEN
// the service's port serves them to that Bearer token only, and so does
// the listener.
func TestMetricsNotPublic(t *testing.T) {
	tests := []struct {
		name         string
		addr, token  string
		expectPublic map[string]int // token sent → status on the service's port
		expectApart  map[string]int // on METRICS_ADDR; nil: no listener
	}{
		{name: "off by default", expectPublic: map[string]int{"": 404, metricsToken: 404}},
		{name: "a listener apart", addr: "127.0.0.1:0",
			expectPublic: map[string]int{"": 404, metricsToken: 404}, expectApart: map[string]int{"": 200}},
		{name: "a token", token: metricsToken,
			expectPublic: map[string]int{"": 401, "wrong-token-0123456789": 401, metricsToken: 200}},
		{name: "both", addr: "127.0.0.1:0", token: metricsToken,
			expectPublic: map[string]int{"": 401, metricsToken: 200}, expectApart: map[string]int{"": 401, metricsToken: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMetricsApp(t, models.DialectSQLite, tt.addr, tt.token)
			for token, want := range tt.expectPublic {
				if got, _ := scrape(t, m.client, m.base+"/metrics", token); got != want {
					t.Errorf("service port, token %q: %d, want %d", token, got, want)
				}
			}
			if tt.expectApart == nil {
				if m.MetricsAddr() != "" {
					t.Errorf("a metrics listener on %s", m.MetricsAddr())
				}
				return
			}
			for token, want := range tt.expectApart {
				if got, _ := scrape(t, m.client, "http://"+m.MetricsAddr()+"/metrics", token); got != want {
					t.Errorf("metrics listener, token %q: %d, want %d", token, got, want)
				}
			}
		})
	}
}
