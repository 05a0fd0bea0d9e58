package handlers

import (
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"
)

// newBoundedCache builds the one kind of in-memory cache of the HTTP layer
// (answers, encoded bodies, rate-limit buckets): otter's W-TinyLFU cache,
// bounded by maxWeight, with each entry weighed by weigh (its bytes, where
// values vary in size; 1 for fixed-size entries) and kept for at most ttl
// (0: until evicted). A flood of new keys evicts rarely used ones, never
// grows the cache. It reads time from now, so that tests drive it with
// their clock, and it starts no goroutine: expired entries are dropped by
// later reads and writes, and maintenance runs on the caller.
func newBoundedCache[K comparable, V any](maxWeight uint64, weigh func(K, V) uint32, ttl time.Duration, now func() time.Time) *otter.Cache[K, V] {
	o := &otter.Options[K, V]{
		MaximumWeight: maxWeight,
		Weigher: func(k K, v V) uint32 {
			// A zero weight would escape the bound.
			return max(weigh(k, v), 1)
		},
		Clock:    otterClock{now: now},
		Executor: func(fn func()) { fn() },
	}
	if ttl > 0 {
		o.ExpiryCalculator = otter.ExpiryWriting[K, V](ttl)
	}
	c, err := otter.New(o)
	if err != nil {
		// Only contradictory options fail, and these are fixed here.
		panic(fmt.Sprintf("bounded cache: %v", err))
	}
	return c
}

// weighOne counts entries, for caches whose entries are all alike.
func weighOne[K comparable, V any](K, V) uint32 { return 1 }

// otterClock gives otter the injected clock. Its ticks are nil, which
// tells otter to run no periodic clean-up goroutine.
type otterClock struct{ now func() time.Time }

func (c otterClock) NowNano() int64 { return c.now().UnixNano() }

func (otterClock) Tick(time.Duration) <-chan time.Time { return nil }
