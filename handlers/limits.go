package handlers

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// Limits bound what one source may ask; zero rates switch a limit off
// (the load harness measures the service without them).
type Limits struct {
	// PublicPerIP limits the public widget API per client address.
	PublicPerIP      rate.Limit
	PublicPerIPBurst int
	// PerWidget limits the public widget API per widget, whoever asks.
	PerWidget      rate.Limit
	PerWidgetBurst int
	// AuthFailuresPerMinute is how many refused tokens one address may send
	// before its requests are turned away for a while.
	AuthFailuresPerMinute int
}

// DefaultLimits are generous for real portals and tight for scrapers.
func DefaultLimits() Limits {
	return Limits{PublicPerIP: 20, PublicPerIPBurst: 60, PerWidget: 1000, PerWidgetBurst: 2000, AuthFailuresPerMinute: 30}
}

func tooManyRequests(retryAfter time.Duration) *APIError {
	secs := int(retryAfter.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &APIError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests; slow down",
		Header: map[string]string{"Retry-After": strconv.Itoa(secs)}}
}

// rateLimit limits requests per key with echo's memory store.
func rateLimit(r rate.Limit, burst int, key func(c echo.Context) string) echo.MiddlewareFunc {
	if r <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: r, Burst: burst, ExpiresIn: 3 * time.Minute})
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store:               store,
		IdentifierExtractor: func(c echo.Context) (string, error) { return key(c), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return tooManyRequests(time.Duration(float64(time.Second) / float64(r)))
		},
		ErrorHandler: func(c echo.Context, err error) error { return err },
	})
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
