package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jonboulle/clockwork"
)

// ErrClosed refuses a stream on a hub that is closing (the replica shuts
// down); the client should reconnect, to another replica.
var ErrClosed = errors.New("live: hub closed")

// Hub defaults: how many events a subscriber may fall behind before it is
// dropped, how many recent events are kept for resuming streams, how many
// streams may be open at once.
const (
	DefaultBuffer     = 16
	DefaultHistory    = 256
	DefaultMaxStreams = 20_000
)

// Option configures a Hub.
type Option func(*hubConfig)

type hubConfig struct {
	buffer, history, maxStreams int
	clock                       clockwork.Clock
}

// WithClock sets the clock of the streams' keepalives and lifetimes.
func WithClock(c clockwork.Clock) Option { return func(cfg *hubConfig) { cfg.clock = c } }

// WithMaxStreams sets how many streams may be open at once
// (DefaultMaxStreams); app sets the instance's stream cap.
func WithMaxStreams(n int) Option { return func(cfg *hubConfig) { cfg.maxStreams = max(n, 1) } }

// WithBuffer sets how many events a stream may fall behind before it is
// dropped (DefaultBuffer).
func WithBuffer(n int) Option { return func(cfg *hubConfig) { cfg.buffer = max(n, 1) } }

// WithHistory sets how many recent events are kept for resuming streams
// (DefaultHistory).
func WithHistory(n int) Option { return func(cfg *hubConfig) { cfg.history = max(n, 1) } }

// Event is one published event: data for a key (a tenant, a widget), or,
// when Stale, a mark saying that the key changed in a way the publisher
// did not compute, so that a resuming client needs a fresh snapshot.
type Event[K comparable, D any] struct {
	ID    uint64
	Key   K
	Data  D
	Stale bool
}

// Subscriber is one open stream's place in a hub: the events queued for it
// and whether the hub let it go (too slow, hub closed, key ended). The hub
// never waits for a subscriber: it queues and wakes the stream, which takes
// the queue when it can.
type Subscriber[K comparable, D any] struct {
	key   K
	limit int

	mu     sync.Mutex
	queue  []*Event[K, D] // nil while idle: an idle stream holds no buffer
	closed bool
	wake   func() // never blocks; nil until a stream attaches
}

// offer queues ev and wakes the stream; false when the subscriber has
// fallen limit events behind.
func (s *Subscriber[K, D]) offer(ev *Event[K, D]) bool {
	s.mu.Lock()
	if len(s.queue) >= s.limit {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, ev)
	wake := s.wake
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
	return true
}

// close marks the subscriber let go and wakes its stream, which then ends
// without writing what is still queued.
func (s *Subscriber[K, D]) close() {
	s.mu.Lock()
	s.closed = true
	wake := s.wake
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// attach sets how the stream is woken; it is woken at once if something
// happened since it subscribed.
func (s *Subscriber[K, D]) attach(wake func()) {
	s.mu.Lock()
	s.wake = wake
	pending := len(s.queue) > 0 || s.closed
	s.mu.Unlock()
	if pending {
		wake()
	}
}

// take hands the queued events over; closed reports that the hub let the
// subscriber go, and then the stream stops even if events were queued.
func (s *Subscriber[K, D]) take() (evs []*Event[K, D], closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, s.queue = s.queue, nil
	return evs, s.closed
}

// gone reports that the hub let the subscriber go.
func (s *Subscriber[K, D]) gone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Hub fans events out to subscribers by key and remembers the last events
// so that a client reconnecting with Last-Event-ID gets what it missed.
// It owns no goroutine: publishers call it and streams take their queues
// (Serve).
//
// Event ids are "<epoch>.<seq>": the epoch is random per hub, so an id from
// another replica or an earlier process is never mistaken for one of ours.
type Hub[K comparable, D any] struct {
	epoch string
	cfg   hubConfig

	mu   sync.Mutex
	seq  uint64
	base uint64 // every event with an id above base is in the ring
	ring []*Event[K, D]
	head int // index of the oldest event in ring
	size int
	subs map[K]map[*Subscriber[K, D]]struct{}
	n    int
	done bool

	// ctx ends with the hub: detached streams' work (a snapshot query)
	// runs under it; running counts their goroutines, which Close awaits.
	ctx     context.Context
	cancel  context.CancelFunc
	runMu   sync.Mutex // guards closing; may be taken under mu, never the reverse
	closing bool
	running sync.WaitGroup

	// drops and resumptions count slow streams let go and streams resumed
	// from history, for the metrics (stats.go).
	drops, resumptions atomic.Uint64
}

// NewHub builds a hub; Close ends it.
func NewHub[K comparable, D any](opts ...Option) *Hub[K, D] {
	cfg := hubConfig{buffer: DefaultBuffer, history: DefaultHistory, maxStreams: DefaultMaxStreams, clock: clockwork.NewRealClock()}
	for _, o := range opts {
		o(&cfg)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub[K, D]{epoch: hex.EncodeToString(b), cfg: cfg, ctx: ctx, cancel: cancel,
		ring: make([]*Event[K, D], cfg.history), subs: map[K]map[*Subscriber[K, D]]struct{}{}}
}

// EventID is the SSE id of a position in the hub's sequence.
func (h *Hub[K, D]) EventID(seq uint64) string {
	return h.epoch + "." + strconv.FormatUint(seq, 10)
}

// ParseEventID reads an id of this hub; rest is what follows
// "<epoch>.<seq>." (a caller's own suffix).
func (h *Hub[K, D]) ParseEventID(id string) (seq uint64, rest string, ok bool) {
	epoch, tail, found := strings.Cut(id, ".")
	if !found || epoch != h.epoch {
		return 0, "", false
	}
	num, rest, _ := strings.Cut(tail, ".")
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return seq, rest, true
}

// Subscription is what Subscribe hands a new stream.
type Subscription[K comparable, D any] struct {
	Sub *Subscriber[K, D]
	// Cursor is the id of the last event before the subscription: the
	// snapshot's id. Events after it are queued on Sub.
	Cursor uint64
	// Resumed is true when lastEventID named a point still in history;
	// Replay then holds the key's events after that point, oldest first.
	Resumed bool
	Replay  []*Event[K, D]
}

// Subscribe registers a stream for key. Registration and the replay are one
// step under the lock, so no event is missed or sent twice in between.
// It refuses with ErrClosed once the hub closes, and with a *CapError
// (CapInstance) beyond its streams.
func (h *Hub[K, D]) Subscribe(key K, lastEventID string) (Subscription[K, D], error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return Subscription[K, D]{}, ErrClosed
	}
	if h.n >= h.cfg.maxStreams {
		return Subscription[K, D]{}, &CapError{Cap: CapInstance}
	}
	s := Subscription[K, D]{Cursor: h.seq,
		Sub: &Subscriber[K, D]{key: key, limit: h.cfg.buffer}}
	if last, _, ok := h.ParseEventID(lastEventID); ok && last >= h.base && last <= h.seq {
		s.Resumed = true
		h.resumptions.Add(1)
		for i := range h.size {
			ev := h.ring[(h.head+i)%len(h.ring)]
			if ev.ID > last && ev.Key == key {
				s.Replay = append(s.Replay, ev)
			}
		}
	}
	set := h.subs[key]
	if set == nil {
		set = map[*Subscriber[K, D]]struct{}{}
		h.subs[key] = set
	}
	set[s.Sub] = struct{}{}
	h.n++
	return s, nil
}

// Unsubscribe forgets a stream that ended; harmless if the hub dropped it.
func (h *Hub[K, D]) Unsubscribe(sub *Subscriber[K, D]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[sub.key][sub]; ok {
		h.removeLocked(sub)
	}
}

func (h *Hub[K, D]) removeLocked(sub *Subscriber[K, D]) {
	set := h.subs[sub.key]
	delete(set, sub)
	if len(set) == 0 {
		delete(h.subs, sub.key)
	}
	h.n--
}

// dropLocked lets a subscriber go: its stream ends.
func (h *Hub[K, D]) dropLocked(sub *Subscriber[K, D]) {
	h.removeLocked(sub)
	sub.close()
}

// Publish records data for key and hands it to the key's subscribers
// without ever waiting: a subscriber whose buffer is full is dropped, and
// its client resumes from its last id when it reconnects.
func (h *Hub[K, D]) Publish(key K, data D) { h.publish(&Event[K, D]{Key: key, Data: data}) }

// Invalidate publishes a Stale event for key: it changed in a way the
// publisher did not compute, and its streams need a fresh snapshot.
func (h *Hub[K, D]) Invalidate(key K) { h.publish(&Event[K, D]{Key: key, Stale: true}) }

func (h *Hub[K, D]) publish(ev *Event[K, D]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return
	}
	h.seq++
	ev.ID = h.seq
	if h.size == len(h.ring) {
		h.base = h.ring[h.head].ID
		h.ring[h.head] = nil
		h.head = (h.head + 1) % len(h.ring)
		h.size--
	}
	h.ring[(h.head+h.size)%len(h.ring)] = ev
	h.size++
	for sub := range h.subs[ev.Key] {
		if !sub.offer(ev) {
			h.drops.Add(1)
			h.dropLocked(sub)
		}
	}
}

// Watching reports whether anyone streams key.
func (h *Hub[K, D]) Watching(key K) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[key]) > 0
}

// Keys lists the keys someone streams.
func (h *Hub[K, D]) Keys() []K {
	h.mu.Lock()
	defer h.mu.Unlock()
	ks := make([]K, 0, len(h.subs))
	for k := range h.subs {
		ks = append(ks, k)
	}
	return ks
}

// End closes the streams of key; their clients reconnect.
func (h *Hub[K, D]) End(key K) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[key] {
		h.dropLocked(sub)
	}
}

// ForgetHistory makes every earlier id unresumable: after a gap in what
// the hub heard, only a snapshot is sure to be right.
func (h *Hub[K, D]) ForgetHistory() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.base = h.seq
	clear(h.ring)
	h.head, h.size = 0, 0
}

// Close ends every stream and refuses new ones; it returns once the
// detached streams have closed their connections.
func (h *Hub[K, D]) Close() {
	h.mu.Lock()
	h.done = true
	for _, set := range h.subs {
		for sub := range set {
			h.dropLocked(sub)
		}
	}
	h.mu.Unlock()
	h.runMu.Lock()
	h.closing = true
	h.runMu.Unlock()
	h.cancel()
	h.running.Wait()
}

// track counts a goroutine of a detached stream; false once the hub is
// closing, when the stream must end instead. Calling done when it ends is
// the caller's.
func (h *Hub[K, D]) track() bool {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.closing {
		return false
	}
	h.running.Add(1)
	return true
}

// Streams counts the open streams.
func (h *Hub[K, D]) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
