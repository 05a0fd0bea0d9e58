package live

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound the live streams. Each open stream holds a file descriptor
// (its connection) for as long as it lasts, so without caps one token, or a
// few addresses, could open streams until the process runs out of
// descriptors and nothing (health checks, the API, widgets) is answered.
// A zero field switches its cap off.
type Limits struct {
	// PerUser bounds the streams of one user (an agent's streams).
	PerUser int
	// PerAddress bounds the streams of one client address (the caller
	// groups addresses, IPv6 by /64). It is generous: a whole office
	// behind one NAT may watch its portal at once.
	PerAddress int
	// Instance bounds every stream of the process; app derives it from the
	// open-files limit (InstanceCap).
	Instance int
	// Lifetime is how long a stream lasts at most; each stream takes a
	// random part of up to a quarter off, so that streams opened together
	// do not end together. The client then reconnects with Last-Event-ID.
	Lifetime time.Duration
}

// Caps' defaults; the README's configuration table repeats them.
const (
	DefaultPerUser    = 10
	DefaultPerAddress = 300
	DefaultLifetime   = 20 * time.Minute
	// MaxPerInstance is the instance cap when the open-files limit allows
	// more: about 10 KB of memory per stream, and the fan-out measured to
	// 10,000 streams (README, Performance).
	MaxPerInstance = 40_000
)

// InstanceCap is how many streams the process may hold with openFiles
// descriptors: what is left after a reserve of a quarter of the
// descriptors (at least 256, or half of a smaller limit) for everything
// else: listening, plain requests and their keep-alive connections, the
// database pool and its files, calls to Jira, logs. requested, when
// positive, asks for a cap of its own, which the reserve still bounds.
// An unknown limit (0) gives MaxPerInstance or requested.
func InstanceCap(openFiles uint64, requested int) int {
	limit := uint64(MaxPerInstance)
	if requested > 0 {
		limit = uint64(requested)
	}
	if openFiles == 0 {
		return int(limit)
	}
	reserve := max(openFiles/4, min(256, openFiles/2))
	return int(min(limit, openFiles-reserve))
}

// ErrTooManyStreams matches every *CapError.
var ErrTooManyStreams = errors.New("live: too many streams")

// Cap names the cap that refused a stream.
type Cap int

// The caps, from the widest.
const (
	CapInstance Cap = iota
	CapAddress
	CapUser
)

// CapError refuses a stream beyond a cap; the client should poll meanwhile.
type CapError struct{ Cap Cap }

// Error says which cap refused the stream.
func (e *CapError) Error() string {
	return "live: too many streams " + [...]string{"on this server", "from this address", "for this user"}[e.Cap]
}

// Is makes every CapError match ErrTooManyStreams.
func (e *CapError) Is(target error) bool { return target == ErrTooManyStreams }

// Caps counts the open streams by user, by client address and in all, and
// refuses one beyond a cap. Its maps hold only the keys of open streams,
// so the instance cap bounds them; the keys are fixed-size: an address
// prefix and a hash of the user.
type Caps struct {
	lim Limits

	mu     sync.Mutex
	total  int
	byUser map[[sha256.Size]byte]int
	byAddr map[netip.Prefix]int

	// refused counts each cap's refusals (stats.go), by Cap.
	refused [3]atomic.Uint64
}

// NewCaps counts streams against lim.
func NewCaps(lim Limits) *Caps {
	return &Caps{lim: lim, byUser: map[[sha256.Size]byte]int{}, byAddr: map[netip.Prefix]int{}}
}

// Slot is one admitted stream's place in the counts; Release gives it
// back once, whoever calls it.
type Slot struct {
	caps     *Caps
	user     [sha256.Size]byte
	hasUser  bool
	addr     netip.Prefix
	released atomic.Bool
}

// Admit counts a new stream from the client address addr, of user when
// user is not empty (a verified identity, such as tenant and account), or
// refuses it with a *CapError. Without caps (nil) every stream is
// admitted.
func (c *Caps) Admit(addr netip.Prefix, user string) (*Slot, error) {
	if c == nil {
		return &Slot{}, nil
	}
	slot := &Slot{caps: c, addr: addr}
	if user != "" {
		slot.user, slot.hasUser = sha256.Sum256([]byte(user)), true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.lim.Instance > 0 && c.total >= c.lim.Instance:
		return nil, c.refuse(CapInstance)
	case c.lim.PerAddress > 0 && c.byAddr[slot.addr] >= c.lim.PerAddress:
		return nil, c.refuse(CapAddress)
	case slot.hasUser && c.lim.PerUser > 0 && c.byUser[slot.user] >= c.lim.PerUser:
		return nil, c.refuse(CapUser)
	}
	c.total++
	c.byAddr[slot.addr]++
	if slot.hasUser {
		c.byUser[slot.user]++
	}
	return slot, nil
}

// Release gives the slot back; without caps there is nothing to give.
func (s *Slot) Release() {
	if s == nil || s.caps == nil || !s.released.CompareAndSwap(false, true) {
		return
	}
	c := s.caps
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byAddr[s.addr]--; c.byAddr[s.addr] <= 0 {
		delete(c.byAddr, s.addr)
	}
	if s.hasUser {
		if c.byUser[s.user]--; c.byUser[s.user] <= 0 {
			delete(c.byUser, s.user)
		}
	}
}

// Lifetime is one stream's lifetime: the configured one less a random
// part of up to a quarter; 0 when streams live for ever.
func (c *Caps) Lifetime() time.Duration {
	if c == nil || c.lim.Lifetime <= 0 {
		return 0
	}
	return c.lim.Lifetime - rand.N(c.lim.Lifetime/4+1)
}
