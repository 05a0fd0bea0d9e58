package handlers

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"
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
	// before its requests are turned away for a while.
	AuthFailuresPerMinute int
}

// DefaultLimits are generous for real portals and tight for scrapers.
func DefaultLimits() Limits {
	return Limits{PublicPerIP: 20, PublicPerIPBurst: 60, AuthFailuresPerMinute: 30}
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
	buckets *otter.Cache[netip.Prefix, *rate.Limiter]
}

func newClientLimiter(r rate.Limit, burst, maxClients int, now func() time.Time) *clientLimiter {
	// A bucket left alone for refill is full again: forgetting it then
	// changes nothing.
	refill := max(time.Duration(float64(burst)/float64(r)*float64(time.Second)), time.Second)
	return &clientLimiter{rate: r, burst: burst, now: now,
		buckets: newBoundedCache(uint64(maxClients), weighOne[netip.Prefix, *rate.Limiter], refill, now)}
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
	b, ok := l.buckets.GetIfPresent(key)
	if !ok {
		b, _ = l.buckets.SetIfAbsent(key, rate.NewLimiter(l.rate, l.burst))
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

// failureLimiter counts refused tokens per address.
type failureLimiter struct {
	perMinute int
	now       func() time.Time

	mu      sync.Mutex
	sources map[string]*rate.Limiter
	swept   time.Time
}

func newFailureLimiter(perMinute int, now func() time.Time) *failureLimiter {
	return &failureLimiter{perMinute: perMinute, now: now, sources: map[string]*rate.Limiter{}}
}

// blocked tells whether the address has used up its failures.
func (f *failureLimiter) blocked(ip string) bool {
	if f == nil || f.perMinute <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.sources[ip]
	return ok && l.TokensAt(f.now()) < 1
}

// failed records one refused token from the address.
func (f *failureLimiter) failed(ip string) {
	if f == nil || f.perMinute <= 0 {
		return
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.swept) > 5*time.Minute {
		// Forget addresses that have recovered, so the map stays small.
		for k, l := range f.sources {
			if l.TokensAt(now) >= float64(f.perMinute) {
				delete(f.sources, k)
			}
		}
		f.swept = now
	}
	l, ok := f.sources[ip]
	if !ok {
		l = rate.NewLimiter(rate.Limit(float64(f.perMinute)/60), f.perMinute)
		f.sources[ip] = l
	}
	l.AllowN(now, 1)
}
