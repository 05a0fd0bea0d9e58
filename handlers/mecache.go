package handlers

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"agentpresence/handlers/bounded"
	"agentpresence/models"
)

// MeCache keeps recent GET /me answers in memory: the dialog asks again and
// again, and the answer only changes when something of the tenant changes.
// Every change of a tenant (here or, through the bus, on another replica)
// moves the tenant's generation, and an answer of an older generation is
// never served again; a resync moves the epoch, which retires them all. A
// stamp taken before computing keeps an answer computed while a change
// landed from being stored stale. The TTL bounds what no change announces
// (a Jira permission changed, say) to the same staleness as the membership
// and permission caches. The answers are bounded by their bytes.
type MeCache struct {
	answers *bounded.Cache[meKey, meEntry]

	// gens holds each changed tenant's generation (*atomic.Uint64): read
	// on every answer without a lock shared by all requests.
	gens sync.Map
	// epoch moves on every resync, so that nothing computed before it lands.
	epoch atomic.Uint64
}

// meKey's strings were checked at the edge: an account id of at most 128
// bytes, a project key of at most 64.
type meKey struct {
	tenant  models.TenantID
	account string
	project string
}

type meEntry struct {
	body []byte
	meStamp
}

// meCacheMaxBytes bounds the answers kept (an answer is 0.3–2 KB: tens of
// thousands of users).
const meCacheMaxBytes = 64 << 20

// meEntryOverhead is what an entry costs besides its strings and body
// (key, slice headers, the cache's node).
const meEntryOverhead = 128

// MeCacheTTL bounds how long a GET /me answer is reused when no change
// announces itself; changes drop it at once.
const MeCacheTTL = 30 * time.Second

// NewMeCache keeps answers for ttl; app feeds it the store's changes
// (OnChange).
func NewMeCache(ttl time.Duration, now func() time.Time) *MeCache {
	weigh := func(k meKey, e meEntry) uint32 {
		return uint32(min(len(k.account)+len(k.project)+len(e.body)+meEntryOverhead, meCacheMaxBytes))
	}
	return &MeCache{answers: bounded.New(bounded.Config[meKey, meEntry]{MaxWeight: meCacheMaxBytes, Weigh: weigh, TTL: ttl, Now: now})}
}

// get returns a fresh answer of the tenant's current generation, if any.
func (m *MeCache) get(k meKey) ([]byte, bool) {
	e, ok := m.answers.Get(k)
	if !ok || e.meStamp != m.stamp(k.tenant) {
		return nil, false
	}
	return e.body, true
}

// stamp is taken before computing an answer; put stores it only if no
// change of the tenant happened in between.
type meStamp struct{ gen, epoch uint64 }

func (m *MeCache) stamp(t models.TenantID) meStamp {
	// The epoch first: a resync between the two reads then shows as an
	// epoch that moved, never as an old epoch with a new generation.
	s := meStamp{epoch: m.epoch.Load()}
	if g, ok := m.gens.Load(t); ok {
		s.gen = g.(*atomic.Uint64).Load()
	}
	return s
}

func (m *MeCache) put(k meKey, s meStamp, body []byte) {
	if s != m.stamp(k.tenant) {
		return
	}
	m.answers.Set(k, meEntry{body: body, meStamp: s})
	// A change may have landed between the check and the write: then the
	// entry carries the old stamp, and get refuses it.
}

// OnChange is a models.ChangeFunc: it retires what a change may alter.
func (m *MeCache) OnChange(_ context.Context, ch models.Change) {
	if ch.Resync {
		m.epoch.Add(1)
	} else {
		g, _ := m.gens.LoadOrStore(ch.Tenant, new(atomic.Uint64))
		g.(*atomic.Uint64).Add(1)
	}
	if ch.Resync {
		m.answers.Clear()
	}
}
