package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
)

// Errors of a hub's subscription.
var (
	errHubClosed      = errors.New("event hub closed")
	errTooManyStreams = errors.New("too many event streams")
)

type hubSettings struct {
	// buffer is how many events a subscriber may fall behind before it is
	// dropped; history is how many recent events a hub keeps for resuming
	// streams; maxStreams bounds the open streams of a hub.
	buffer, history, maxStreams int
}

// hubEvent is one published event: data for a key (a tenant, a widget),
// or a tombstone saying that the key changed in a way the hub did not
// compute, so a resuming client needs a fresh snapshot instead.
type hubEvent[K comparable, D any] struct {
	id   uint64
	key  K
	data D
	tomb bool
}

// subscriber is one open stream's place in the hub: the events queued for
// it and whether the hub let it go (too slow, hub closed, key ended). The
// hub never waits for a subscriber: it queues and wakes the stream, which
// takes the queue when it can.
type subscriber[K comparable, D any] struct {
	key   K
	limit int

	mu     sync.Mutex
	queue  []*hubEvent[K, D] // nil while idle: an idle stream holds no buffer
	closed bool
	wake   func() // never blocks; nil until a stream attaches
}

// offer queues ev and wakes the stream; false when the subscriber has
// fallen limit events behind.
func (s *subscriber[K, D]) offer(ev *hubEvent[K, D]) bool {
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
func (s *subscriber[K, D]) close() {
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
func (s *subscriber[K, D]) attach(wake func()) {
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
func (s *subscriber[K, D]) take() (evs []*hubEvent[K, D], closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, s.queue = s.queue, nil
	return evs, s.closed
}

// gone reports that the hub let the subscriber go.
func (s *subscriber[K, D]) gone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// hub fans events out to subscribers by key and remembers the last events
// so that a client reconnecting with Last-Event-ID gets what it missed.
// It owns no goroutine: publishers call it and streams take their queues
// (sse.go).
//
// Event ids are "<epoch>.<seq>": the epoch is random per hub, so an id from
// another replica or an earlier process is never mistaken for one of ours.
type hub[K comparable, D any] struct {
	epoch string
	set   hubSettings

	mu   sync.Mutex
	seq  uint64
	base uint64 // every event with an id above base is in the ring
	ring []*hubEvent[K, D]
	head int // index of the oldest event in ring
	size int
	subs map[K]map[*subscriber[K, D]]struct{}
	n    int
	done bool

	// ctx ends with the hub: detached streams' work (a snapshot query)
	// runs under it; running counts their goroutines, which close awaits.
	ctx     context.Context
	cancel  context.CancelFunc
	runMu   sync.Mutex // guards closing; may be taken under mu, never the reverse
	closing bool
	running sync.WaitGroup
}

func newHub[K comparable, D any](set hubSettings) *hub[K, D] {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	ctx, cancel := context.WithCancel(context.Background())
	return &hub[K, D]{epoch: hex.EncodeToString(b), set: set, ctx: ctx, cancel: cancel,
		ring: make([]*hubEvent[K, D], set.history), subs: map[K]map[*subscriber[K, D]]struct{}{}}
}

// eventID is the SSE id of a position in the hub's sequence.
func (h *hub[K, D]) eventID(seq uint64) string {
	return h.epoch + "." + strconv.FormatUint(seq, 10)
}

// parseEventID reads an id of this hub; rest is what follows "<epoch>.<seq>".
func (h *hub[K, D]) parseEventID(id string) (seq uint64, rest string, ok bool) {
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

// subscription is what subscribe hands a new stream.
type subscription[K comparable, D any] struct {
	sub *subscriber[K, D]
	// cursor is the id of the last event before the subscription: the
	// snapshot's id. Events after it are queued on sub.
	cursor uint64
	// resumed is true when lastEventID named a point still in history;
	// replay then holds the key's events after that point, oldest first.
	resumed bool
	replay  []*hubEvent[K, D]
}

// subscribe registers a stream for key. Registration and the replay are one
// step under the lock, so no event is missed or sent twice in between.
func (h *hub[K, D]) subscribe(key K, lastEventID string) (subscription[K, D], error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return subscription[K, D]{}, errHubClosed
	}
	if h.n >= h.set.maxStreams {
		return subscription[K, D]{}, errTooManyStreams
	}
	s := subscription[K, D]{cursor: h.seq,
		sub: &subscriber[K, D]{key: key, limit: h.set.buffer}}
	if last, _, ok := h.parseEventID(lastEventID); ok && last >= h.base && last <= h.seq {
		s.resumed = true
		for i := range h.size {
			ev := h.ring[(h.head+i)%len(h.ring)]
			if ev.id > last && ev.key == key {
				s.replay = append(s.replay, ev)
			}
		}
	}
	set := h.subs[key]
	if set == nil {
		set = map[*subscriber[K, D]]struct{}{}
		h.subs[key] = set
	}
	set[s.sub] = struct{}{}
	h.n++
	return s, nil
}

// unsubscribe forgets a stream that ended; harmless if the hub dropped it.
func (h *hub[K, D]) unsubscribe(sub *subscriber[K, D]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[sub.key][sub]; ok {
		h.removeLocked(sub)
	}
}

func (h *hub[K, D]) removeLocked(sub *subscriber[K, D]) {
	set := h.subs[sub.key]
	delete(set, sub)
	if len(set) == 0 {
		delete(h.subs, sub.key)
	}
	h.n--
}

// dropLocked lets a subscriber go: its stream ends.
func (h *hub[K, D]) dropLocked(sub *subscriber[K, D]) {
	h.removeLocked(sub)
	sub.close()
}

// publish records an event and hands it to the key's subscribers without
// ever waiting: a subscriber whose buffer is full is dropped, and its
// client resumes from its last id when it reconnects.
func (h *hub[K, D]) publish(key K, data D, tomb bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return
	}
	h.seq++
	ev := &hubEvent[K, D]{id: h.seq, key: key, data: data, tomb: tomb}
	if h.size == len(h.ring) {
		h.base = h.ring[h.head].id
		h.ring[h.head] = nil
		h.head = (h.head + 1) % len(h.ring)
		h.size--
	}
	h.ring[(h.head+h.size)%len(h.ring)] = ev
	h.size++
	for sub := range h.subs[key] {
		if !sub.offer(ev) {
			h.dropLocked(sub)
		}
	}
}

// watching reports whether anyone streams key.
func (h *hub[K, D]) watching(key K) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[key]) > 0
}

// keys lists the keys someone streams.
func (h *hub[K, D]) keys() []K {
	h.mu.Lock()
	defer h.mu.Unlock()
	ks := make([]K, 0, len(h.subs))
	for k := range h.subs {
		ks = append(ks, k)
	}
	return ks
}

// end closes the streams of key; their clients reconnect.
func (h *hub[K, D]) end(key K) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[key] {
		h.dropLocked(sub)
	}
}

// forgetHistory makes every earlier id unresumable: after a gap in what
// the hub heard, only a snapshot is sure to be right.
func (h *hub[K, D]) forgetHistory() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.base = h.seq
	clear(h.ring)
	h.head, h.size = 0, 0
}

// close ends every stream and refuses new ones; it returns once the
// detached streams have closed their connections.
func (h *hub[K, D]) close() {
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
func (h *hub[K, D]) track() bool {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.closing {
		return false
	}
	h.running.Add(1)
	return true
}

// streams counts the open streams.
func (h *hub[K, D]) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
