package handlers

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"agentpresence/handlers/bounded"
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

func tooManyRequests(retryAfter time.Duration) *APIError {
	secs := int(retryAfter.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &APIError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests; slow down",
		Header: map[string]string{"Retry-After": strconv.Itoa(secs)}}
}

// maxLimitedClients bounds the clients a rate limiter keeps a bucket for
// (about 200 bytes each: 20 MB at most). Past it, the least used buckets
// go; a client whose bucket went starts with a full one.
const maxLimitedClients = 100_000

// clientLimiter limits requests per client. Its key is derived from the
// client's address, never taken from the request as sent, so that its
// keys have a fixed size; their number is bounded too.
type clientLimiter struct {
	rate    rate.Limit
	burst   int
	now     func() time.Time
	buckets *bounded.Cache[netip.Prefix, *rate.Limiter]
}

func newClientLimiter(r rate.Limit, burst, maxClients int, now func() time.Time) *clientLimiter {
	// A bucket left alone for refill is full again: forgetting it then
	// changes nothing, while a busy client keeps its bucket.
	refill := max(time.Duration(float64(burst)/float64(r)*float64(time.Second)), time.Second)
	return &clientLimiter{rate: r, burst: burst, now: now,
		buckets: bounded.New(bounded.Config[netip.Prefix, *rate.Limiter]{MaxWeight: uint64(maxClients), IdleTTL: refill, Now: now})}
}

// clientKey groups an IPv6 client by its /64 and keeps an IPv4 client's
// address; an address that does not parse shares one bucket.
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

// allow takes a token from the client's bucket.
func (l *clientLimiter) allow(ip string) bool {
	key := clientKey(ip)
	b, ok := l.buckets.Get(key)
	if !ok {
		b = l.buckets.GetOrSet(key, rate.NewLimiter(l.rate, l.burst))
	}
	return b.AllowN(l.now(), 1)
}

// rateLimit limits the requests of each client on the paths it covers;
// a zero rate switches it off.
func rateLimit(r rate.Limit, burst int, now func() time.Time, covers func(path string) bool) echo.MiddlewareFunc {
	if r <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	l := newClientLimiter(r, burst, maxLimitedClients, now)
	retry := time.Duration(float64(time.Second) / float64(r))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if covers(c.Request().URL.Path) && !l.allow(c.RealIP()) {
				return tooManyRequests(retry)
			}
			return next(c)
		}
	}
}

// maxFailureSources bounds the failure limiter's keys. Past it, addresses
// without a key of their own share one overflow key: only failing requests
// are ever throttled, so sharing harms nobody whose token verifies.
const maxFailureSources = 65_536

// failureSweepEvery is how often a full limiter may look for keys to drop;
// a key is dropped once its budget has refilled (a minute without failures).
const failureSweepEvery = 10 * time.Second

// failureLimiter counts refused tokens per client address (an IPv4 address
// or an IPv6 /64, the block one subscriber gets). It never refuses a
// request by itself: Auth consults it only for a request whose token did
// not verify, and answers that one 429 instead of 401 once the address has
// spent its budget. So a hostile page making a NAT's browsers send bad
// tokens, or one tenant's broken client behind Atlassian's webhook
// addresses, cannot lock out anyone whose token is good.
type failureLimiter struct {
	perMinute int
	now       func() time.Time

	mu      sync.Mutex
	sources map[netip.Prefix]*rate.Limiter
	swept   time.Time
}

func newFailureLimiter(perMinute int, now func() time.Time) *failureLimiter {
	return &failureLimiter{perMinute: perMinute, now: now, sources: map[netip.Prefix]*rate.Limiter{}}
}

// overflowSource is the key of unparsable addresses and of addresses that
// found the limiter full.
var overflowSource = netip.Prefix{}

// sourceOf is the limiter's key for a client address: the address itself
// for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6, overflowSource for
// anything that does not parse. No byte of the request is kept as is.
func sourceOf(ip string) netip.Prefix {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return overflowSource
	}
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return overflowSource
	}
	return p
}

// failed records one refused token from the address and tells whether the
// address is over its budget, and then when it may try again.
func (f *failureLimiter) failed(ip string) (retryAfter time.Duration, over bool) {
	if f == nil || f.perMinute <= 0 {
		return 0, false
	}
	now := f.now()
	key := sourceOf(ip)
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.sources[key]
	if !ok {
		// One place stays free for the overflow key.
		if len(f.sources) >= maxFailureSources-1 {
			f.sweep(now)
		}
		if len(f.sources) >= maxFailureSources-1 {
			key = overflowSource
			l = f.sources[key]
		}
		if l == nil {
			l = rate.NewLimiter(f.every(), f.perMinute)
			f.sources[key] = l
		}
	}
	if l.AllowN(now, 1) {
		return 0, false
	}
	// AllowN took nothing: a source that keeps failing stays throttled
	// only until its budget refills, at perMinute a minute.
	missing := 1 - l.TokensAt(now)
	return time.Duration(missing / float64(f.every()) * float64(time.Second)), true
}

func (f *failureLimiter) every() rate.Limit { return rate.Limit(float64(f.perMinute) / 60) }

// sweep forgets the sources whose budget has refilled, at most once every
// failureSweepEvery so that a limiter kept full costs no scan per failure.
func (f *failureLimiter) sweep(now time.Time) {
	if now.Sub(f.swept) < failureSweepEvery {
		return
	}
	f.swept = now
	for k, l := range f.sources {
		if l.TokensAt(now) >= float64(f.perMinute) {
			delete(f.sources, k)
		}
	}
}
