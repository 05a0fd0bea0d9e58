package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// subscriber is one open stream. The hub closes ch when it lets the stream
// go (too slow, hub closed, key ended); the stream then stops at once.
type subscriber[K comparable, D any] struct {
	key     K
	ch      chan *hubEvent[K, D]
	dropped atomic.Bool
}

// gone reports that the hub let the subscriber go; its stream stops even
// if events are still buffered.
func (s *subscriber[K, D]) gone() bool { return s.dropped.Load() }

// hub fans events out to subscribers by key and remembers the last events
// so that a client reconnecting with Last-Event-ID gets what it missed.
// It owns no goroutine: publishers call it, each stream's request
// goroutine reads its own channel.
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
}

func newHub[K comparable, D any](set hubSettings) *hub[K, D] {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return &hub[K, D]{epoch: hex.EncodeToString(b), set: set,
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
	// snapshot's id. Events after it arrive on sub.ch.
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
		sub: &subscriber[K, D]{key: key, ch: make(chan *hubEvent[K, D], h.set.buffer)}}
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
	sub.dropped.Store(true)
	close(sub.ch)
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
		select {
		case sub.ch <- ev:
		default:
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

// close ends every stream and refuses new ones.
func (h *hub[K, D]) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for _, set := range h.subs {
		for sub := range set {
			h.dropLocked(sub)
		}
	}
}

// streams counts the open streams.
func (h *hub[K, D]) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
