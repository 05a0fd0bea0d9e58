package jira

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"agentpresence/handlers/bounded"
)

// ErrThrottled matches a *ThrottledError: a call the Guard did not send.
var ErrThrottled = errors.New("jira: call held back")

// Reasons a Guard holds a call back, as ThrottledError.Reason and in the
// metrics.
const (
	// HeldGlobalQuota: Jira answered 429 with RateLimit-Reason
	// jira-quota-global-based. The app's hourly quota is shared by every
	// tenant, so every site waits.
	HeldGlobalQuota = "global_quota"
	// HeldRetryAfter: the site (or, for burst limits, the endpoint) asked
	// us to wait with Retry-After.
	HeldRetryAfter = "retry_after"
	// HeldBackoff: the site failed (5xx, no answer) and is given time.
	HeldBackoff = "backoff"
	// HeldBreakerOpen: the site failed BreakerFailures times in a row; its
	// breaker is open until the cool-down ends.
	HeldBreakerOpen = "breaker_open"
	// HeldBreakerProbe: the cool-down ended and one call probes the site;
	// the others wait for its outcome.
	HeldBreakerProbe = "breaker_probe"
)

// ThrottledError is a call the Guard held back instead of sending: Jira
// asked us to wait, or the site is failing. It matches ErrUnavailable (the
// caller may serve what it knew, or try later) and ErrThrottled.
type ThrottledError struct {
	// Site is the site's key (SiteKey).
	Site string
	// Reason is one of the Held… constants.
	Reason string
	// Until is the earliest instant a call may go out again (for
	// HeldBreakerProbe, a guess: the probe's outcome decides).
	Until time.Time
}

// Error implements error.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("jira: call to %s held back (%s) until %s", e.Site, e.Reason, e.Until.UTC().Format(time.RFC3339))
}

// Is makes a ThrottledError match ErrUnavailable and ErrThrottled.
func (e *ThrottledError) Is(target error) bool {
	return target == ErrUnavailable || target == ErrThrottled
}

// Atlassian's RateLimit-Reason values
// (developer.atlassian.com/cloud/jira/platform/rate-limiting).
const (
	reasonGlobalQuota = "jira-quota-global-based"
	reasonTenantQuota = "jira-quota-tenant-based"
	reasonBurst       = "jira-burst-based"
	reasonPerIssue    = "jira-per-issue-on-write"
)

// Guard defaults, from Atlassian's advice: back off from 2 s, doubling, to
// 30 s; never call before Retry-After.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
	DefaultBackoffBase     = 2 * time.Second
	DefaultBackoffMax      = 30 * time.Second
	// DefaultMaxWait caps what one Retry-After can impose: the quotas
	// reset every hour, so a longer wait is a broken header.
	DefaultMaxWait = time.Hour
)

// Bounds of the Guard's memory: one state per site (the sites are the
// installed tenants' and the Forge API's), with its endpoints' burst gates,
// and the hourly counts of two hours.
const (
	maxGuardSites      = 100_000
	maxEndpointGates   = 32
	maxHourlyCounts    = 200_000
	siteStateIdleAfter = 2 * time.Hour
)

// GuardObserver hears what the Guard does, for the metrics; every method
// must be cheap and safe for concurrent use.
type GuardObserver interface {
	// JiraCall: a call went out to site and was answered status (0: no
	// answer: a transport error or timeout) after took.
	JiraCall(site, method string, status int, took time.Duration)
	// JiraHeld: a call to site was held back for reason.
	JiraHeld(site, reason string)
	// JiraBreaker: site's breaker changed to state ("open", "half_open",
	// "closed").
	JiraBreaker(site, state string)
}

// GuardConfig configures a Guard; zero values take the defaults.
type GuardConfig struct {
	// Now is the clock every wait is measured on; nil means time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) for the jitter; nil means
	// math/rand/v2.
	Rand func() float64
	// BreakerFailures is how many failures in a row open a site's breaker.
	BreakerFailures uint32
	// BreakerCooldown is how long an open breaker holds every call back,
	// before one probe may go.
	BreakerCooldown time.Duration
	// BackoffBase and BackoffMax bound the wait after a failure: base,
	// doubled per failure in a row, at most max.
	BackoffBase, BackoffMax time.Duration
	// MaxWait caps one Retry-After.
	MaxWait time.Duration
	// Observer hears calls, holds and breaker changes; nil: nobody.
	Observer GuardObserver
	// Tracer starts a span per call (a child of the request's); nil: none.
	Tracer trace.Tracer
}

// Guard keeps the app's calls to Jira within what Atlassian asks of apps,
// per site (tenant), whatever path (Connect or Forge) the client sends
// them on: it wraps the client's transport, so every request passes it.
//
//   - A 429 holds calls back until its Retry-After, lengthened by up to 30 %
//     of jitter, never shortened: per endpoint for burst and per-issue
//     limits, per site for the tenant quota, and for every site when
//     RateLimit-Reason says the app's global quota is spent (Tier 1 apps
//     share one hourly quota across all tenants). No call goes out before.
//   - A 5xx or no answer holds the site back for a growing, jittered while
//     (2 s doubling to 30 s, or its Retry-After when longer), so the next
//     user request does not retry it at once; BreakerFailures in a row open
//     the site's breaker (sony/gobreaker) for BreakerCooldown, after which
//     one call probes the site while the others stay held.
//   - Calls are counted per site and UTC hour (CallsThisHour).
//
// A held call fails at once with a *ThrottledError, which matches
// ErrUnavailable: the Directory then serves the last answer it knew,
// within its bounds. The waits are kept per replica, in memory; each
// replica learns a global-quota 429 from its own first refused call.
type Guard struct {
	cfg GuardConfig

	// global is the UnixNano before which no call goes to any site.
	global atomic.Int64
	sites  *bounded.Cache[string, *siteState]
	counts *bounded.Cache[hourKey, *atomic.Uint64]
}

// siteState is what the Guard knows of one site.
type siteState struct {
	key     string
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu        sync.Mutex
	notBefore time.Time            // site-wide: Retry-After, backoff or an open breaker
	reason    string               // why notBefore
	endpoints map[string]time.Time // burst gates, by "METHOD /path"
	failures  int                  // in a row, for the backoff
}

type hourKey struct {
	site string
	hour int64
}

// NewGuard builds a guard.
func NewGuard(cfg GuardConfig) *Guard {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	cfg.BreakerCooldown = orDefault(cfg.BreakerCooldown, DefaultBreakerCooldown)
	cfg.BackoffBase = orDefault(cfg.BackoffBase, DefaultBackoffBase)
	cfg.BackoffMax = orDefault(cfg.BackoffMax, DefaultBackoffMax)
	cfg.MaxWait = orDefault(cfg.MaxWait, DefaultMaxWait)
	return &Guard{cfg: cfg,
		sites:  bounded.New(bounded.Config[string, *siteState]{MaxWeight: maxGuardSites, IdleTTL: siteStateIdleAfter, Now: cfg.Now}),
		counts: bounded.New(bounded.Config[hourKey, *atomic.Uint64]{MaxWeight: maxHourlyCounts, TTL: 2 * time.Hour, Now: cfg.Now}),
	}
}

// WrapClient returns a copy of c whose transport passes the guard.
func (g *Guard) WrapClient(c *http.Client) *http.Client {
	out := *c
	out.Transport = g.Wrap(c.Transport)
	return &out
}

// Wrap returns a transport that sends through next (nil:
// http.DefaultTransport) what the guard lets go.
func (g *Guard) Wrap(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &guardedTransport{g: g, next: next}
}

// SiteKey is the key the Guard keeps a site's state and counts under:
// scheme and host (a Connect site, one per tenant), and for Atlassian's API
// gateway the product and cloud id as well (a Forge site:
// /ex/jira/<cloudId>), lower case.
func SiteKey(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return strings.ToLower(u)
	}
	host, path, _ := strings.Cut(rest, "/")
	key := strings.ToLower(scheme + "://" + host)
	if p, ok := strings.CutPrefix(path, "ex/"); ok {
		parts := strings.SplitN(p, "/", 3)
		if len(parts) >= 2 {
			key += "/ex/" + strings.ToLower(parts[0]) + "/" + strings.ToLower(parts[1])
		}
	}
	return key
}

// CallsThisHour is how many calls went to site (a SiteKey, or a base URL)
// in the current UTC hour and in the one before.
func (g *Guard) CallsThisHour(site string) (current, previous uint64) {
	site = SiteKey(site)
	hour := g.cfg.Now().UTC().Unix() / 3600
	if c, ok := g.counts.Get(hourKey{site: site, hour: hour}); ok {
		current = c.Load()
	}
	if c, ok := g.counts.Get(hourKey{site: site, hour: hour - 1}); ok {
		previous = c.Load()
	}
	return current, previous
}

// guardedTransport is the Guard around a transport.
type guardedTransport struct {
	g    *Guard
	next http.RoundTripper
}

// errExcluded marks an outcome that says nothing about the site's health
// (our caller left, or Jira asked us to slow down), which the breaker
// counts neither way.
var errExcluded = errors.New("jira: outcome excluded from the breaker")

// errFailed marks a failed call for the breaker.
var errFailed = errors.New("jira: call failed")

// RoundTrip sends req unless the site (or the endpoint, or every site)
// must wait, and learns from the answer.
func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	g := t.g
	st := g.site(SiteKey(req.URL.String()))
	endpoint := req.Method + " " + req.URL.EscapedPath()
	if held := g.held(st, endpoint); held != nil {
		return nil, g.hold(req, held)
	}
	done, err := st.breaker.Allow()
	if err != nil {
		// The cool-down is over and a probe is out: wait for its outcome.
		return nil, g.hold(req, &ThrottledError{Site: st.key, Reason: HeldBreakerProbe, Until: g.cfg.Now().Add(g.cfg.BackoffBase)})
	}

	ctx := req.Context()
	var span trace.Span
	if g.cfg.Tracer != nil {
		// The path, never the query (account ids); no propagation headers
		// go to Atlassian.
		ctx, span = g.cfg.Tracer.Start(ctx, "jira "+endpoint, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("http.request.method", req.Method),
				attribute.String("server.address", req.URL.Host), attribute.String("url.path", req.URL.EscapedPath())))
		req = req.WithContext(ctx)
	}
	g.count(st.key)
	start := g.cfg.Now()
	resp, err := t.next.RoundTrip(req)
	took := g.cfg.Now().Sub(start)

	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if span != nil {
		if status != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		if err != nil || status >= 500 || status == http.StatusTooManyRequests {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
	if g.cfg.Observer != nil {
		g.cfg.Observer.JiraCall(st.key, req.Method, status, took)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		done(errExcluded) // the caller left: nothing learnt
	case err != nil:
		g.failed(st, 0)
		done(errFailed)
	case status == http.StatusTooManyRequests:
		g.limited(st, endpoint, resp.Header)
		done(errExcluded)
	case status >= 500:
		g.failed(st, retryAfter(resp.Header, g.cfg.Now()))
		done(errFailed)
	default:
		g.succeeded(st)
		done(nil)
	}
	return resp, err
}

// hold refuses req unsent: its body is closed, as a transport must, and
// the observer told.
func (g *Guard) hold(req *http.Request, held *ThrottledError) error {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if g.cfg.Observer != nil {
		g.cfg.Observer.JiraHeld(held.Site, held.Reason)
	}
	return held
}

// site is the state of key, made on first use.
func (g *Guard) site(key string) *siteState {
	if st, ok := g.sites.Get(key); ok {
		return st
	}
	st := &siteState{key: key}
	st.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        key,
		MaxRequests: 1, // one probe when half-open
		// gobreaker measures its open period on the wall clock; the
		// cool-down is kept here, on the injected clock (notBefore), so
		// the breaker's own is as short as it can be.
		Timeout: time.Nanosecond,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= g.cfg.BreakerFailures
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			g.breakerChanged(st, to)
		},
	})
	return g.sites.GetOrSet(key, st)
}

// held returns why a call to st's endpoint must wait, or nil.
func (g *Guard) held(st *siteState, endpoint string) *ThrottledError {
	now := g.cfg.Now()
	if until := time.Unix(0, g.global.Load()); now.Before(until) {
		return &ThrottledError{Site: st.key, Reason: HeldGlobalQuota, Until: until}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if now.Before(st.notBefore) {
		return &ThrottledError{Site: st.key, Reason: st.reason, Until: st.notBefore}
	}
	if until, ok := st.endpoints[endpoint]; ok {
		if now.Before(until) {
			return &ThrottledError{Site: st.key, Reason: HeldRetryAfter, Until: until}
		}
		delete(st.endpoints, endpoint)
	}
	return nil
}

// limited learns a 429: wait for Retry-After (with jitter), where the
// reason says.
func (g *Guard) limited(st *siteState, endpoint string, h http.Header) {
	now := g.cfg.Now()
	wait := retryAfter(h, now)
	if wait <= 0 {
		// Atlassian always sends Retry-After with a 429; without one, the
		// beta header is the best hint, then our own backoff.
		if wait = retryAfterValue(h.Get("Beta-Retry-After"), now); wait <= 0 {
			wait = g.backoff(1)
		}
	}
	reason := strings.ToLower(strings.TrimSpace(h.Get("RateLimit-Reason")))
	if reason == "" {
		reason = strings.ToLower(strings.TrimSpace(h.Get("X-RateLimit-Reason")))
	}
	until := now.Add(g.jitter(min(wait, g.cfg.MaxWait)))
	switch reason {
	case reasonGlobalQuota:
		// Every tenant is refused until the quota resets.
		for {
			old := g.global.Load()
			if old >= until.UnixNano() || g.global.CompareAndSwap(old, until.UnixNano()) {
				return
			}
		}
	case reasonBurst, reasonPerIssue:
		// "Requests to other endpoints are unaffected."
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.endpoints == nil {
			st.endpoints = map[string]time.Time{}
		}
		if len(st.endpoints) >= maxEndpointGates {
			// Beyond the bound the whole site waits: never earlier.
			st.holdLocked(until, HeldRetryAfter)
			return
		}
		if until.After(st.endpoints[endpoint]) {
			st.endpoints[endpoint] = until
		}
	default: // reasonTenantQuota, or one we do not know
		st.mu.Lock()
		defer st.mu.Unlock()
		st.holdLocked(until, HeldRetryAfter)
	}
}

// failed learns a failure: the site waits the backoff of its failures in a
// row, or the answer's Retry-After when longer.
func (g *Guard) failed(st *siteState, retry time.Duration) {
	now := g.cfg.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.failures++
	wait := g.jitter(g.backoff(st.failures))
	if retry > 0 {
		wait = max(wait, g.jitter(min(retry, g.cfg.MaxWait)))
	}
	st.holdLocked(now.Add(wait), HeldBackoff)
}

// succeeded forgets the failures in a row.
func (g *Guard) succeeded(st *siteState) {
	st.mu.Lock()
	st.failures = 0
	st.mu.Unlock()
}

// breakerChanged keeps an opened breaker's cool-down on our clock. It runs
// under gobreaker's lock, never under st.mu's.
func (g *Guard) breakerChanged(st *siteState, to gobreaker.State) {
	if to == gobreaker.StateOpen {
		until := g.cfg.Now().Add(g.jitter(g.cfg.BreakerCooldown))
		st.mu.Lock()
		if !until.Before(st.notBefore) {
			// The breaker names the wait, even one the backoff set as long.
			st.notBefore, st.reason = until, HeldBreakerOpen
		}
		st.mu.Unlock()
	}
	if g.cfg.Observer != nil {
		g.cfg.Observer.JiraBreaker(st.key, strings.ReplaceAll(to.String(), "-", "_"))
	}
}

// holdLocked moves the site's gate to until unless it is later already.
func (st *siteState) holdLocked(until time.Time, reason string) {
	if until.After(st.notBefore) {
		st.notBefore, st.reason = until, reason
	}
}

// backoff is the wait after n failures in a row: base doubled n-1 times,
// at most BackoffMax.
func (g *Guard) backoff(n int) time.Duration {
	d := g.cfg.BackoffBase
	for i := 1; i < n && d < g.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, g.cfg.BackoffMax)
}

// jitter lengthens d by up to 30 %, at random, so that replicas and sites
// held back together do not all call again at the same instant; it never
// shortens d, which may be Jira's Retry-After.
func (g *Guard) jitter(d time.Duration) time.Duration {
	return d + time.Duration(float64(d)*0.3*g.cfg.Rand())
}

// count adds a call to the site's count of this hour.
func (g *Guard) count(site string) {
	k := hourKey{site: site, hour: g.cfg.Now().UTC().Unix() / 3600}
	c, ok := g.counts.Get(k)
	if !ok {
		c = g.counts.GetOrSet(k, new(atomic.Uint64))
	}
	c.Add(1)
}

// retryAfter reads Retry-After; 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	return retryAfterValue(h.Get("Retry-After"), now)
}

// retryAfterValue reads a Retry-After value: seconds, or an HTTP date.
func retryAfterValue(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Capped here only so that the product cannot overflow; MaxWait
		// caps what is honoured.
		return time.Duration(min(secs, 86_400)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// TenantBucket maps a site to one of n buckets (fnv-1a of its key), a
// bounded label for metrics that still tells one noisy tenant's bucket
// from the rest.
func TenantBucket(site string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(site))
	return int(h.Sum32() % uint32(n))
}
