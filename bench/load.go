package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// RequestFunc makes the i-th request of worker w.
type RequestFunc func(w, i int) *http.Request

// LoadResult is what one bounded run measured.
type LoadResult struct {
	Requests int            `json:"requests"`
	Errors   int            `json:"errors"`
	Status   map[int]int    `json:"status"`
	RPS      float64        `json:"rps"`
	P50      Millis         `json:"p50_ms"`
	P99      Millis         `json:"p99_ms"`
	Max      Millis         `json:"max_ms"`
	Duration time.Duration  `json:"-"`
	Errs     map[string]int `json:"error_kinds,omitempty"`
}

// Millis is a duration shown in milliseconds.
type Millis float64

// Ms converts a duration.
func Ms(d time.Duration) Millis { return Millis(float64(d.Microseconds()) / 1000) }

// NewClient is an HTTP client keeping at most conns keep-alive connections
// to one host.
func NewClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		},
	}
}

// Measure runs conns workers on keep-alive connections for warmup+d; only
// what completes after warmup is counted.
func Measure(ctx context.Context, conns int, warmup, d time.Duration, next RequestFunc) Run {
	client := NewClient(conns)
	defer client.CloseIdleConnections()
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+d)
	parts := make([]Run, conns)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := Run{lat: make([]time.Duration, 0, 4096), status: map[int]int{}, errs: map[string]int{}}
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				if t0.After(until) {
					break
				}
				req := next(w, i).WithContext(ctx)
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				t1 := time.Now()
				if t0.Before(from) || t1.After(until) {
					continue
				}
				if err != nil {
					p.errs[errKind(err)]++
					continue
				}
				p.status[resp.StatusCode]++
				p.lat = append(p.lat, t1.Sub(t0))
			}
			parts[w] = p
		}()
	}
	wg.Wait()
	// The workers' parts carry no measured time: the window is counted once.
	r := Run{d: d}
	for _, p := range parts {
		r.Add(p)
	}
	return r
}

// Load runs conns workers on keep-alive connections for warmup+d; only
// what completes after warmup is counted.
func Load(ctx context.Context, conns int, warmup, d time.Duration, next RequestFunc) LoadResult {
	return Measure(ctx, conns, warmup, d, next).Result()
}

// Run is what one or more bounded runs measured, before it is summed up:
// runs of one workload taken in slices add up to one result.
type Run struct {
	lat    []time.Duration
	status map[int]int
	errs   map[string]int
	d      time.Duration
}

// Requests counts the requests measured so far.
func (r *Run) Requests() int { return len(r.lat) }

// RPS is requests per second of measured time.
func (r *Run) RPS() float64 {
	if r.d <= 0 {
		return 0
	}
	return float64(len(r.lat)) / r.d.Seconds()
}

// Add counts o's requests and measured time in r.
func (r *Run) Add(o Run) {
	if r.status == nil {
		r.status, r.errs = map[int]int{}, map[string]int{}
	}
	r.lat = append(r.lat, o.lat...)
	for s, n := range o.status {
		r.status[s] += n
	}
	for e, n := range o.errs {
		r.errs[e] += n
	}
	r.d += o.d
}

// Result sums the run up: requests/s over the measured time, latency
// quantiles, answers by status, errors by kind.
func (r Run) Result() LoadResult {
	res := LoadResult{Status: map[int]int{}, Errs: map[string]int{}, Duration: r.d}
	for s, n := range r.status {
		res.Status[s] = n
	}
	for e, n := range r.errs {
		res.Errs[e] = n
		res.Errors += n
	}
	all := slices.Clone(r.lat)
	res.Requests = len(all)
	if r.d > 0 {
		res.RPS = float64(len(all)) / r.d.Seconds()
	}
	if len(all) > 0 {
		slices.Sort(all)
		res.P50, res.P99, res.Max = Ms(Quantile(all, 0.50)), Ms(Quantile(all, 0.99)), Ms(all[len(all)-1])
	}
	return res
}

// Quantile of sorted durations (nearest rank).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func errKind(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	return s
}

// Each sends the requests next(0) … next(n-1) once each over conns
// keep-alive connections, and fails on a transport error or an answer of
// 400 or more.
func Each(ctx context.Context, conns, n int, next func(i int) *http.Request) error {
	client := NewClient(conns)
	defer client.CloseIdleConnections()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		todo  = make(chan int)
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				resp, err := client.Do(next(i).WithContext(ctx))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode >= 400 {
						err = fmt.Errorf("%s %s: HTTP %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		todo <- i
	}
	close(todo)
	wg.Wait()
	return cmp.Or(first, ctx.Err())
}
