package jira_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
)

// guardFixture is a guarded client calling two simulated sites on one
// fake clock; the jitter is fixed at 15 % (Rand 0.5).
type guardFixture struct {
	clock   *clockwork.FakeClock
	guard   *jira.Guard
	client  *jira.Client
	sites   [2]*jiratest.Site
	targets [2]jira.Site
	seen    *heldLog
}

// heldLog records what the guard told its observer.
type heldLog struct {
	mu       sync.Mutex
	held     map[string]int
	calls    map[int]int
	breakers []string
}

func (l *heldLog) JiraCall(_, _ string, status int, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[status]++
}

func (l *heldLog) JiraHeld(_, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held[reason]++
}

func (l *heldLog) JiraBreaker(_, state string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.breakers = append(l.breakers, state)
}

const guardAppKey = "io.example.presence"

func newGuardFixture(t *testing.T) *guardFixture {
	t.Helper()
	f := &guardFixture{clock: clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)),
		seen: &heldLog{held: map[string]int{}, calls: map[int]int{}}}
	f.guard = jira.NewGuard(jira.GuardConfig{Now: f.clock.Now, Rand: func() float64 { return 0.5 }, Observer: f.seen})
	targets := jira.TargetPolicy{AllowLoopback: true}
	f.client = &jira.Client{AppKey: guardAppKey, Now: f.clock.Now, Targets: targets,
		HTTP: f.guard.WrapClient(targets.HTTPClient(5 * time.Second))}
	for i := range f.sites {
		site, err := jiratest.New(jiratest.Options{AppKey: guardAppKey, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(site)
		t.Cleanup(srv.Close)
		if err := site.SetBaseURL(srv.URL); err != nil {
			t.Fatal(err)
		}
		if err := site.AddProject(jiratest.ProjectSpec{ID: 10000, Key: "HELP"}); err != nil {
			t.Fatal(err)
		}
		if err := site.AddUser(jiratest.UserSpec{AccountID: "alice", Agent: []string{"HELP"}}); err != nil {
			t.Fatal(err)
		}
		f.sites[i], f.targets[i] = site, jira.Site{BaseURL: srv.URL, SharedSecret: site.SharedSecret()}
	}
	return f
}

const (
	desksPath = "/rest/servicedeskapi/servicedesk"
	userPath  = "/rest/api/3/user"
	permPath  = "/rest/api/3/permissions/check"
)

// call asks site i for one of two endpoints.
func (f *guardFixture) call(i int, path string) error {
	ctx := context.Background()
	switch path {
	case desksPath:
		_, err := f.client.ServiceDesks(ctx, f.targets[i])
		return err
	case userPath:
		_, err := f.client.User(ctx, f.targets[i], "alice")
		return err
	}
	panic("no such call " + path)
}

// TestGuardHonoursRetryAfter: after a 429 no call goes out before its
// Retry-After (120 s, lengthened by the jitter to 138 s), to the endpoint,
// the site or every site as RateLimit-Reason says; then calls go again.
// The simulated site's request log proves it: nothing arrives in between.
func TestGuardHonoursRetryAfter(t *testing.T) {
	type expect struct {
		sameEndpoint, otherEndpoint, otherSite bool // held back?
	}
	tests := []struct {
		name   string
		given  jiratest.Fault
		expect expect
	}{
		{name: "the global quota holds every site", given: jiratest.Fault{Reason: "jira-quota-global-based"},
			expect: expect{sameEndpoint: true, otherEndpoint: true, otherSite: true}},
		{name: "the tenant quota holds the site", given: jiratest.Fault{Reason: "jira-quota-tenant-based"},
			expect: expect{sameEndpoint: true, otherEndpoint: true}},
		{name: "a burst limit holds the endpoint", given: jiratest.Fault{Reason: "jira-burst-based"},
			expect: expect{sameEndpoint: true}},
		{name: "no reason holds the site", given: jiratest.Fault{},
			expect: expect{sameEndpoint: true, otherEndpoint: true}},
		{name: "Beta-Retry-After when Retry-After is missing", given: jiratest.Fault{Reason: "jira-quota-tenant-based", BetaRetryAfter: "120"},
			expect: expect{sameEndpoint: true, otherEndpoint: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t)
			fault := tt.given
			fault.Status, fault.Path, fault.Times = http.StatusTooManyRequests, desksPath, 1
			if fault.BetaRetryAfter == "" {
				fault.RetryAfter = "120"
			}
			f.sites[0].SetFault(fault)
			limitedAt := f.clock.Now()
			if err := f.call(0, desksPath); !errors.Is(err, jira.ErrUnavailable) {
				t.Fatalf("the 429 itself: %v, want unavailable", err)
			}
			// 137 s later, within 138 s: held back or not, as expected;
			// held calls fail at once as unavailable.
			f.clock.Advance(137 * time.Second)
			for _, c := range []struct {
				site int
				path string
				held bool
			}{{0, desksPath, tt.expect.sameEndpoint}, {0, userPath, tt.expect.otherEndpoint}, {1, desksPath, tt.expect.otherSite}} {
				before := f.sites[c.site].Calls(c.path)
				err := f.call(c.site, c.path)
				sent := f.sites[c.site].Calls(c.path) - before
				switch {
				case c.held && (sent != 0 || !errors.Is(err, jira.ErrThrottled) || !errors.Is(err, jira.ErrUnavailable)):
					t.Errorf("site %d %s: %d calls sent, err %v; want it held back", c.site, c.path, sent, err)
				case !c.held && (sent != 1 || err != nil):
					t.Errorf("site %d %s: %d calls sent, err %v; want it sent", c.site, c.path, sent, err)
				}
			}
			f.clock.Advance(2 * time.Second)
			if err := f.call(0, desksPath); err != nil {
				t.Fatalf("after Retry-After and its jitter: %v", err)
			}
			// The sites' logs: nothing that had to wait arrived within
			// the Retry-After.
			mustWait := map[int]map[string]bool{0: {desksPath: true, userPath: tt.expect.otherEndpoint},
				1: {desksPath: tt.expect.otherSite, userPath: tt.expect.otherSite}}
			for i, site := range f.sites {
				for _, r := range site.Requests() {
					if mustWait[i][r.Path] && r.At.After(limitedAt) && r.At.Before(limitedAt.Add(120*time.Second)) {
						t.Errorf("site %d: %s %s arrived %s after the 429, before its Retry-After", i, r.Method, r.Path, r.At.Sub(limitedAt))
					}
				}
			}
		})
	}
}

// TestGuardBacksOffAndBreaks: a failing site is not asked again at once;
// each failure in a row doubles the wait (2, 4, 8, 16 s, plus jitter); the
// fifth opens its breaker for the cool-down (30 s); then one probe goes,
// and its success closes the breaker.
func TestGuardBacksOffAndBreaks(t *testing.T) {
	f := newGuardFixture(t)
	f.sites[0].SetFault(jiratest.Fault{Status: http.StatusInternalServerError})
	waits := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	for i := range 5 {
		before := f.sites[0].Calls(userPath)
		if err := f.call(0, userPath); !errors.Is(err, jira.ErrUnavailable) || errors.Is(err, jira.ErrThrottled) {
			t.Fatalf("failure %d: %v, want Jira's 500", i+1, err)
		}
		if f.sites[0].Calls(userPath) != before+1 {
			t.Fatalf("failure %d was not sent", i+1)
		}
		if i == 4 {
			break
		}
		// Right after it, and until its jittered wait ends, nothing is
		// sent.
		if err := f.call(0, userPath); !errors.Is(err, jira.ErrThrottled) {
			t.Fatalf("right after failure %d: %v, want held back", i+1, err)
		}
		f.clock.Advance(waits[i]*115/100 - time.Millisecond)
		if err := f.call(0, userPath); !errors.Is(err, jira.ErrThrottled) {
			t.Fatalf("just before the wait after failure %d ends: %v, want held back", i+1, err)
		}
		f.clock.Advance(2 * time.Millisecond)
	}
	if got := f.seen.breakers; len(got) != 1 || got[0] != "open" {
		t.Fatalf("breaker changes %v, want [open]", got)
	}
	// Open: held for the cool-down (30 s + 15 %), with the breaker named.
	f.clock.Advance(34 * time.Second)
	var held *jira.ThrottledError
	if err := f.call(0, userPath); !errors.As(err, &held) || held.Reason != jira.HeldBreakerOpen {
		t.Fatalf("while open: %v, want held by the breaker", err)
	}
	// The other site is not affected.
	if err := f.call(1, userPath); err != nil {
		t.Fatalf("another site while the first is open: %v", err)
	}
	f.sites[0].ClearFault()
	f.clock.Advance(time.Second)
	if err := f.call(0, userPath); err != nil {
		t.Fatalf("the probe after the cool-down: %v", err)
	}
	if err := f.call(0, userPath); err != nil {
		t.Fatalf("after the probe closed the breaker: %v", err)
	}
	if got := f.seen.breakers; len(got) != 3 || got[1] != "half_open" || got[2] != "closed" {
		t.Fatalf("breaker changes %v, want open, half_open, closed", got)
	}
	if f.seen.held[jira.HeldBackoff] != 8 || f.seen.held[jira.HeldBreakerOpen] != 1 {
		t.Fatalf("held %v", f.seen.held)
	}
}

// TestGuardRetryAfterOn5xx: a 503 whose Retry-After is longer than the
// backoff holds the site for the Retry-After.
func TestGuardRetryAfterOn5xx(t *testing.T) {
	f := newGuardFixture(t)
	f.sites[0].SetFault(jiratest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "60", Times: 1})
	if err := f.call(0, userPath); !errors.Is(err, jira.ErrUnavailable) {
		t.Fatal(err)
	}
	f.clock.Advance(60 * time.Second)
	if err := f.call(0, userPath); !errors.Is(err, jira.ErrThrottled) {
		t.Fatalf("60 s after a 503 asking for 60 s (69 s with jitter): %v, want held back", err)
	}
	f.clock.Advance(10 * time.Second)
	if err := f.call(0, userPath); err != nil {
		t.Fatal(err)
	}
}

// TestGuardOneProbeWhenHalfOpen: after the cool-down only one call probes
// the site; the others are held until its outcome.
func TestGuardOneProbeWhenHalfOpen(t *testing.T) {
	clock := clockwork.NewFakeClock()
	next := &stubTransport{status: http.StatusBadGateway, release: make(chan struct{}), entered: make(chan struct{}, 8)}
	g := jira.NewGuard(jira.GuardConfig{Now: clock.Now, Rand: func() float64 { return 0 }, BreakerFailures: 1})
	rt := g.Wrap(next)
	send := func() error {
		req, _ := http.NewRequest(http.MethodGet, "https://tenant.example.net/rest/api/3/user", nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	close(next.release)
	if err := send(); err != nil { // a 502: the breaker opens at once
		t.Fatal(err)
	}
	<-next.entered
	clock.Advance(31 * time.Second)
	next.mu.Lock()
	next.status, next.release = http.StatusOK, make(chan struct{})
	next.mu.Unlock()
	probe := make(chan error, 1)
	go func() { probe <- send() }()
	<-next.entered // the probe is out
	var held *jira.ThrottledError
	if err := send(); !errors.As(err, &held) || held.Reason != jira.HeldBreakerProbe {
		t.Fatalf("a second call during the probe: %v, want held", err)
	}
	close(next.release)
	if err := <-probe; err != nil {
		t.Fatal(err)
	}
	if err := send(); err != nil {
		t.Fatalf("after a good probe: %v", err)
	}
}

// stubTransport answers status once release is closed, telling entered
// when a request arrived.
type stubTransport struct {
	mu      sync.Mutex
	status  int
	release chan struct{}
	entered chan struct{}
}

func (s *stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	status, release := s.status, s.release
	s.mu.Unlock()
	s.entered <- struct{}{}
	<-release
	return &http.Response{StatusCode: status, Body: http.NoBody, Header: http.Header{}, Request: req}, nil
}

// TestGuardCountsCallsPerSiteAndHour: calls sent (not those held back)
// are counted per site and UTC hour.
func TestGuardCountsCallsPerSiteAndHour(t *testing.T) {
	f := newGuardFixture(t)
	for range 3 {
		if err := f.call(0, userPath); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.call(1, userPath); err != nil {
		t.Fatal(err)
	}
	f.sites[0].SetFault(jiratest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "10"})
	_ = f.call(0, userPath) // the 429: sent, counted
	_ = f.call(0, userPath) // held: not counted
	if cur, prev := f.guard.CallsThisHour(f.targets[0].BaseURL); cur != 4 || prev != 0 {
		t.Fatalf("site 0: %d this hour, %d before; want 4, 0", cur, prev)
	}
	f.clock.Advance(time.Hour)
	f.sites[0].ClearFault()
	if err := f.call(0, userPath); err != nil {
		t.Fatal(err)
	}
	if cur, prev := f.guard.CallsThisHour(f.targets[0].BaseURL); cur != 1 || prev != 4 {
		t.Fatalf("site 0 an hour later: %d this hour, %d before; want 1, 4", cur, prev)
	}
	if cur, _ := f.guard.CallsThisHour(f.targets[1].BaseURL); cur != 0 {
		t.Fatalf("site 1 this hour: %d, want 0", cur)
	}
}

// TestSiteKey: Connect sites by scheme and host, Forge calls by cloud id.
func TestSiteKey(t *testing.T) {
	for given, expect := range map[string]string{
		"https://Acme.atlassian.net/rest/api/3/user?accountId=x":         "https://acme.atlassian.net",
		"https://acme.atlassian.net/jira":                                "https://acme.atlassian.net",
		"https://api.atlassian.com/ex/jira/ABC-123/rest/api/3/user":      "https://api.atlassian.com/ex/jira/abc-123",
		"https://api.atlassian.com/ex/confluence/1/wiki/rest/api/space":  "https://api.atlassian.com/ex/confluence/1",
		"https://api.atlassian.com/app/report-accounts/":                 "https://api.atlassian.com",
		"http://127.0.0.1:8080/rest/servicedeskapi/servicedesk?start=50": "http://127.0.0.1:8080",
	} {
		if got := jira.SiteKey(given); got != expect {
			t.Errorf("SiteKey(%q) = %q, want %q", given, got, expect)
		}
	}
}
