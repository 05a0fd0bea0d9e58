package handlers

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"agentpresence/handlers/bounded"
	"agentpresence/models"
)

// Limits bound what one source may ask; zero rates switch a limit off
// (the load harness measures the service without them).
type Limits struct {
	// PublicPerIP limits the public widget API per client: an IPv4
	// address, or an IPv6 /64 (what one subscriber usually holds). There is
	// no limit per widget: the status is served from memory, and a shared
	// bucket let one client starve every customer of a widget.
	PublicPerIP      rate.Limit
	PublicPerIPBurst int
	// AuthFailuresPerMinute is how many refused tokens one address may send
	// before its further refused tokens answer 429 instead of 401.
	AuthFailuresPerMinute int
	// StatusChangesPerMinute is how many status changes (PUT /me/status)
	// one agent may make at once, and then per minute.
	StatusChangesPerMinute int
}

// DefaultLimits are generous for real portals and tight for scrapers.
func DefaultLimits() Limits {
	return Limits{PublicPerIP: 20, PublicPerIPBurst: 60, AuthFailuresPerMinute: 30, StatusChangesPerMinute: 12}
}

// Bounds of the limiters' keys. A bucket is about 200 bytes: 20 MB for the
// public API's clients at most. Past a bound the least used buckets go; a
// client whose bucket went starts with a full one, which costs an honest
// client nothing.
const (
	maxLimitedClients = 100_000
	maxFailureSources = 65_536
	maxStatusAgents   = 50_000
)

// Limiters are the budgets Limits describe: per client address on the
// public API, per client address for refused tokens, and per agent for
// status changes. app builds them once; a nil *Limiters, or a zero rate,
// limits nothing.
type Limiters struct {
	public *keyedLimiter[netip.Prefix]
	// authFailures counts refused tokens per address. It never refuses a
	// request by itself: Auth consults it only for a request whose token
	// did not verify, and answers that one 429 instead of 401 once the
	// address has spent its budget. So a hostile page making a NAT's
	// browsers send bad tokens, or one tenant's broken client behind
	// Atlassian's webhook addresses, cannot lock out anyone whose token is
	// good.
	authFailures *keyedLimiter[netip.Prefix]
	// statusChanges bounds how often one agent may change their own
	// status, so that a script flipping online and offline cannot grow the
	// audit log by hundreds of events a second. Every change it lets
	// through is still one event per project switched: the trail stays
	// truthful, only its growth is bounded (per agent and replica).
	statusChanges *statusLimiter
	// refused counts each limiter's refusals, for the metrics.
	refused refusals
}

// NewLimiters builds the limiters of l, reading time from now.
func NewLimiters(l Limits, now func() time.Time) *Limiters {
	perMinute := func(n int) rate.Limit { return rate.Limit(float64(n) / 60) }
	ls := &Limiters{
		public:       newKeyedLimiter[netip.Prefix](l.PublicPerIP, l.PublicPerIPBurst, maxLimitedClients, now),
		authFailures: newKeyedLimiter[netip.Prefix](perMinute(l.AuthFailuresPerMinute), l.AuthFailuresPerMinute, maxFailureSources, now),
	}
	ls.statusChanges = &statusLimiter{newKeyedLimiter[agentKey](perMinute(l.StatusChangesPerMinute), l.StatusChangesPerMinute, maxStatusAgents, now),
		&ls.refused.statusChanges}
	return ls
}

// publicRequest takes one request of the client's budget on the public API.
func (l *Limiters) publicRequest(ip string) (retryAfter time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	wait, ok := l.public.take(clientKey(ip))
	if !ok {
		l.refused.public.Add(1)
	}
	return wait, ok
}

// authFailed records one refused token from the address and tells whether
// the address is over its budget, and then when it may try again.
func (l *Limiters) authFailed(ip string) (retryAfter time.Duration, over bool) {
	if l == nil {
		return 0, false
	}
	wait, ok := l.authFailures.take(clientKey(ip))
	if !ok {
		l.refused.authFailures.Add(1)
	}
	return wait, !ok
}

// perAgent is the per-agent budget of status changes; nil: none.
func (l *Limiters) perAgent() *statusLimiter {
	if l == nil {
		return nil
	}
	return l.statusChanges
}

// statusLimiter is the per-agent budget of status changes.
type statusLimiter struct {
	*keyedLimiter[agentKey]
	refused *atomic.Uint64
}

type agentKey struct {
	tenant  models.TenantID
	account string // checked at the edge: at most 128 bytes
}

// allow takes one change from the agent's budget, or tells when the next
// one will be there.
func (s *statusLimiter) allow(tenant models.TenantID, account string) (retryAfter time.Duration, ok bool) {
	if s == nil {
		return 0, true
	}
	wait, ok := s.take(agentKey{tenant: tenant, account: account})
	if !ok {
		s.refused.Add(1)
	}
	return wait, ok
}

// keyedLimiter is a token bucket per key (rate, then bursts of burst),
// the buckets kept in a bounded cache. A bucket unused until it is full
// again is forgotten, which changes nothing; a busy key keeps its own.
type keyedLimiter[K comparable] struct {
	rate    rate.Limit
	burst   int
	now     func() time.Time
	buckets *bounded.Cache[K, *rate.Limiter]
}

// newKeyedLimiter returns nil (no limit) for a rate or burst <= 0.
func newKeyedLimiter[K comparable](r rate.Limit, burst, maxKeys int, now func() time.Time) *keyedLimiter[K] {
	if r <= 0 || burst <= 0 {
		return nil
	}
	refill := max(time.Duration(float64(burst)/float64(r)*float64(time.Second)), time.Second)
	return &keyedLimiter[K]{rate: r, burst: burst, now: now,
		buckets: bounded.New(bounded.Config[K, *rate.Limiter]{MaxWeight: uint64(maxKeys), IdleTTL: refill, Now: now})}
}

// take takes a token from the key's bucket, or tells when one will be
// there; a nil limiter always allows.
func (l *keyedLimiter[K]) take(key K) (retryAfter time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	b, found := l.buckets.Get(key)
	if !found {
		// Two first requests of one key at once share one bucket.
		b = l.buckets.GetOrSet(key, rate.NewLimiter(l.rate, l.burst))
	}
	now := l.now()
	if b.AllowN(now, 1) {
		return 0, true
	}
	// AllowN took nothing: a key that keeps asking stays refused only
	// until its next token.
	missing := 1 - b.TokensAt(now)
	return time.Duration(missing / float64(l.rate) * float64(time.Second)), false
}

// clientKey is the key of a client address in every limit and cap: the
// address itself for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6 (the
// block one subscriber gets), the zero prefix, shared, for anything that
// does not parse. No byte of the request is kept as is.
func clientKey(ip string) netip.Prefix {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits) // cannot fail: the bits fit the address
	return p
}

// rateLimit limits the requests of each client on the paths it covers.
func rateLimit(l *Limiters, covers func(path string) bool) echo.MiddlewareFunc {
	if l == nil || l.public == nil {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if covers(c.Request().URL.Path) {
				if wait, ok := l.publicRequest(c.RealIP()); !ok {
					return tooManyRequests(wait)
				}
			}
			return next(c)
		}
	}
}

func tooManyRequests(retryAfter time.Duration) *APIError {
	secs := int(retryAfter.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &APIError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests; slow down",
		Header: map[string]string{"Retry-After": strconv.Itoa(secs)}}
}

// tooManyStatusChanges answers a status change over the agent's budget.
func tooManyStatusChanges(retryAfter time.Duration) *APIError {
	e := tooManyRequests(retryAfter)
	e.Code, e.Message = "too_many_status_changes", "you changed your status too often; try again in a moment"
	return e
}
