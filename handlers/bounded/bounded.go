// Package bounded is the one kind of in-memory cache of the HTTP layer:
// answers, encoded bodies, tenants, permissions and the buckets of rate
// limiters. A Cache is otter's W-TinyLFU cache bounded by a total weight
// (entries, or bytes where values vary in size), so that keys taken from
// requests can never grow it: a flood of new keys evicts rarely used ones.
//
// A cache reads time from an injected clock, so that tests drive expiry
// with theirs, and starts no goroutine: expired entries are dropped by later
// reads and writes, and maintenance runs on the caller.
package bounded

import (
	"fmt"
	"iter"
	"time"

	"github.com/maypok86/otter/v2"
)

// Config says how a cache is bounded and how long its entries last.
type Config[K comparable, V any] struct {
	// MaxWeight bounds the sum of the entries' weights.
	MaxWeight uint64
	// Weigh is an entry's weight: its bytes where values vary in size.
	// Nil counts entries (each weighs 1).
	Weigh func(K, V) uint32
	// TTL drops an entry that long after it was written; 0: never.
	TTL time.Duration
	// IdleTTL drops an entry that long after it was last read or written;
	// 0: never. A rate limiter's bucket that went unused for its refill
	// time is full again, so forgetting it then changes nothing, while a
	// busy client keeps its bucket.
	IdleTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Cache is a concurrency-safe cache bounded by weight. Its zero value is
// not usable; New builds one.
type Cache[K comparable, V any] struct {
	c *otter.Cache[K, V]
}

// New builds a cache. It panics on a Config that sets both TTL and IdleTTL
// or no MaxWeight, which are mistakes in the code, not in input.
func New[K comparable, V any](cfg Config[K, V]) *Cache[K, V] {
	if cfg.MaxWeight == 0 || (cfg.TTL > 0 && cfg.IdleTTL > 0) {
		panic(fmt.Sprintf("bounded: contradictory config: weight %d, ttl %v, idle ttl %v", cfg.MaxWeight, cfg.TTL, cfg.IdleTTL))
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	weigh := cfg.Weigh
	if weigh == nil {
		weigh = func(K, V) uint32 { return 1 }
	}
	o := &otter.Options[K, V]{
		MaximumWeight: cfg.MaxWeight,
		Weigher: func(k K, v V) uint32 {
			// A zero weight would escape the bound.
			return max(weigh(k, v), 1)
		},
		Clock:    clock{now: now},
		Executor: func(fn func()) { fn() },
	}
	switch {
	case cfg.TTL > 0:
		o.ExpiryCalculator = otter.ExpiryWriting[K, V](cfg.TTL)
	case cfg.IdleTTL > 0:
		o.ExpiryCalculator = otter.ExpiryAccessing[K, V](cfg.IdleTTL)
	}
	c, err := otter.New(o)
	if err != nil {
		// Only contradictory options fail, and those are refused above.
		panic(fmt.Sprintf("bounded: %v", err))
	}
	return &Cache[K, V]{c: c}
}

// Get returns the value of key, if present and not expired.
func (c *Cache[K, V]) Get(key K) (V, bool) { return c.c.GetIfPresent(key) }

// Set stores value under key, replacing any value.
func (c *Cache[K, V]) Set(key K, value V) { c.c.Set(key, value) }

// GetOrSet returns the value of key, storing value first if there is none;
// two callers racing on a new key get the same value.
func (c *Cache[K, V]) GetOrSet(key K, value V) V {
	if v, ok := c.c.GetIfPresent(key); ok {
		return v
	}
	v, _ := c.c.SetIfAbsent(key, value)
	return v
}

// Op is what Compute does with an entry.
type Op int

// The outcomes of Compute's update.
const (
	// Leave leaves the entry as it was (absent stays absent).
	Leave Op = iota
	// Write stores the value update returned.
	Write
	// Drop removes the entry.
	Drop
)

// Compute changes the entry of key atomically for that key: update gets
// the present value (found false: none) and says what to do. It returns
// the value present afterwards, if any. update must not call the cache.
func (c *Cache[K, V]) Compute(key K, update func(old V, found bool) (V, Op)) (V, bool) {
	return c.c.Compute(key, func(old V, found bool) (V, otter.ComputeOp) {
		v, op := update(old, found)
		switch op {
		case Write:
			return v, otter.WriteOp
		case Drop:
			return v, otter.InvalidateOp
		}
		return old, otter.CancelOp
	})
}

// Delete drops key.
func (c *Cache[K, V]) Delete(key K) { c.c.Invalidate(key) }

// Clear drops every entry.
func (c *Cache[K, V]) Clear() { c.c.InvalidateAll() }

// All iterates over the present entries, in no order.
func (c *Cache[K, V]) All() iter.Seq2[K, V] { return c.c.All() }

// Len is the number of entries, after pending maintenance.
func (c *Cache[K, V]) Len() int {
	c.c.CleanUp()
	return c.c.EstimatedSize()
}

// Weight is the sum of the entries' weights, after pending maintenance.
func (c *Cache[K, V]) Weight() uint64 {
	c.c.CleanUp()
	return c.c.WeightedSize()
}

// clock gives otter the injected clock. Its ticks are nil, which tells
// otter to run no periodic clean-up goroutine.
type clock struct{ now func() time.Time }

// NowNano is otter's reading of the clock.
func (c clock) NowNano() int64 { return c.now().UnixNano() }

// Tick returns nil: no periodic clean-up.
func (clock) Tick(time.Duration) <-chan time.Time { return nil }
