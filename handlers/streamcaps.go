package handlers

import (
	"crypto/sha256"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"agentpresence/models"
)

// StreamLimits bound the live streams. Each open stream holds a file
// descriptor (its connection) for as long as it lasts, so without caps one
// token, or a few addresses, could open streams until the process runs out
// of descriptors and nothing (health checks, the API, widgets) is answered.
// A zero field switches its cap off.
type StreamLimits struct {
	// PerUser bounds the agent streams of one user (tenant and account).
	PerUser int
	// PerAddress bounds the streams of one client address, IPv6 grouped by
	// /64. It is generous: a whole office behind one NAT may watch its
	// portal at once.
	PerAddress int
	// Instance bounds every stream of the process; app derives it from the
	// open-files limit (StreamInstanceCap).
	Instance int
	// Lifetime is how long a stream lasts at most; each stream takes a
	// random part of up to a quarter off, so that streams opened together
	// do not end together. The client then reconnects with Last-Event-ID.
	Lifetime time.Duration
}

// Stream caps' defaults; the README's configuration table repeats them.
const (
	DefaultStreamsPerUser    = 10
	DefaultStreamsPerAddress = 300
	DefaultStreamLifetime    = 20 * time.Minute
	// MaxStreamsPerInstance is the instance cap when the open-files limit
	// allows more: about 10 KB of memory per stream, and the fan-out
	// measured to 10,000 streams (README, Performance).
	MaxStreamsPerInstance = 40_000
)

// StreamInstanceCap is how many streams the process may hold with
// openFiles descriptors: what is left after a reserve of a quarter of the
// descriptors (at least 256, or half of a smaller limit) for everything
// else: listening, plain requests and their keep-alive connections, the
// database pool and its files, calls to Jira, logs. requested, when
// positive, asks for a cap of its own, which the reserve still bounds.
// An unknown limit (0) gives MaxStreamsPerInstance or requested.
func StreamInstanceCap(openFiles uint64, requested int) int {
	limit := uint64(MaxStreamsPerInstance)
	if requested > 0 {
		limit = uint64(requested)
	}
	if openFiles == 0 {
		return int(limit)
	}
	reserve := max(openFiles/4, min(256, openFiles/2))
	return int(min(limit, openFiles-reserve))
}

// streamCaps counts the open streams by user, by client address and in
// all, and refuses one beyond a cap. Its maps hold only the keys of open
// streams, so the instance cap bounds them; the keys are fixed-size: a
// parsed address prefix, a tenant id and a hash of the verified account.
type streamCaps struct {
	lim StreamLimits

	mu     sync.Mutex
	total  int
	byUser map[streamUser]int
	byAddr map[netip.Prefix]int
}

type streamUser struct {
	tenant  models.TenantID
	account [sha256.Size]byte
}

func newStreamCaps(lim StreamLimits) *streamCaps {
	return &streamCaps{lim: lim, byUser: map[streamUser]int{}, byAddr: map[netip.Prefix]int{}}
}

// streamSlot is one admitted stream's place in the counts; release gives
// it back once, whoever calls it.
type streamSlot struct {
	caps     *streamCaps
	user     streamUser
	hasUser  bool
	addr     netip.Prefix
	released atomic.Bool
}

// admit counts a new stream from ip, of account in tenant when account is
// not empty (an agent stream), or refuses it with 429 and Retry-After.
// Without caps (nil) every stream is admitted.
func (sc *streamCaps) admit(ip string, tenant models.TenantID, account string) (*streamSlot, error) {
	if sc == nil {
		return &streamSlot{}, nil
	}
	slot := &streamSlot{caps: sc, addr: clientKey(ip)} // IPv6 by /64, as the rate limits
	if account != "" {
		slot.user, slot.hasUser = streamUser{tenant: tenant, account: sha256.Sum256([]byte(account))}, true
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case sc.lim.Instance > 0 && sc.total >= sc.lim.Instance:
		return nil, tooManyStreams("on this server")
	case sc.lim.PerAddress > 0 && sc.byAddr[slot.addr] >= sc.lim.PerAddress:
		return nil, tooManyStreams("from this address")
	case slot.hasUser && sc.lim.PerUser > 0 && sc.byUser[slot.user] >= sc.lim.PerUser:
		return nil, tooManyStreams("for this user")
	}
	sc.total++
	sc.byAddr[slot.addr]++
	if slot.hasUser {
		sc.byUser[slot.user]++
	}
	return slot, nil
}

// release gives the slot back; without caps there is nothing to give.
func (s *streamSlot) release() {
	if s == nil || s.caps == nil || !s.released.CompareAndSwap(false, true) {
		return
	}
	sc := s.caps
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.total--
	if sc.byAddr[s.addr]--; sc.byAddr[s.addr] <= 0 {
		delete(sc.byAddr, s.addr)
	}
	if s.hasUser {
		if sc.byUser[s.user]--; sc.byUser[s.user] <= 0 {
			delete(sc.byUser, s.user)
		}
	}
}

// lifetime is one stream's lifetime: the configured one less a random
// part of up to a quarter; 0 when streams live for ever.
func (sc *streamCaps) lifetime() time.Duration {
	if sc == nil || sc.lim.Lifetime <= 0 {
		return 0
	}
	return sc.lim.Lifetime - rand.N(sc.lim.Lifetime/4+1)
}

// tooManyStreams refuses a stream; the page polls meanwhile. The retry
// delay is spread so that refused clients do not come back together.
func tooManyStreams(where string) *APIError {
	return &APIError{Status: http.StatusTooManyRequests, Code: "too_many_streams",
		Message: "too many live streams are open " + where + "; poll the status instead or try again later",
		Header:  map[string]string{"Retry-After": strconv.Itoa(30 + rand.IntN(31))}}
}
