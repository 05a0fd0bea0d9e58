package handlers

import (
	"context"
	"sync"
	"time"

	"agentpresence/models"
)

// meCache keeps recent GET /me answers in memory: the dialog asks again and
// again, and the answer only changes when something of the tenant changes.
// Every change of a tenant (here or, through the bus, on another replica)
// drops its answers; a resync drops all. A generation per tenant keeps an
// answer computed while a change landed from being stored stale. The TTL
// bounds what no change announces (a Jira permission changed, say) to the
// same staleness as the membership and permission caches.
type meCache struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	// entries are kept per tenant, so that a change drops its tenant's
	// answers at once, however many there are of other tenants.
	entries map[models.TenantID]map[meKey]meEntry
	size    int
	gens    map[models.TenantID]uint64
	// epoch moves on every resync, so that nothing computed before it lands.
	epoch uint64
}

type meKey struct {
	tenant  models.TenantID
	account string
	project string
}

type meEntry struct {
	body    []byte
	expires time.Time
}

// maxMeEntries bounds the cache; past it, it starts afresh.
const maxMeEntries = 200_000

func newMeCache(ttl time.Duration, now func() time.Time) *meCache {
	return &meCache{ttl: ttl, now: now, entries: map[models.TenantID]map[meKey]meEntry{}, gens: map[models.TenantID]uint64{}}
}

// get returns a fresh answer, if any.
func (m *meCache) get(k meKey) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k.tenant][k]
	if !ok || !m.now().Before(e.expires) {
		return nil, false
	}
	return e.body, true
}

// stamp is taken before computing an answer; put stores it only if no
// change of the tenant happened in between.
type meStamp struct{ gen, epoch uint64 }

func (m *meCache) stamp(t models.TenantID) meStamp {
	m.mu.Lock()
	defer m.mu.Unlock()
	return meStamp{gen: m.gens[t], epoch: m.epoch}
}

func (m *meCache) put(k meKey, s meStamp, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gens[k.tenant] != s.gen || m.epoch != s.epoch {
		return
	}
	if m.size >= maxMeEntries {
		m.entries, m.size = map[models.TenantID]map[meKey]meEntry{}, 0
	}
	tm := m.entries[k.tenant]
	if tm == nil {
		tm = map[meKey]meEntry{}
		m.entries[k.tenant] = tm
	}
	if _, had := tm[k]; !had {
		m.size++
	}
	tm[k] = meEntry{body: body, expires: m.now().Add(m.ttl)}
}

// onChange is a models.ChangeFunc: it forgets what a change may alter.
func (m *meCache) onChange(_ context.Context, ch models.Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ch.Resync {
		m.epoch++
		m.entries, m.size = map[models.TenantID]map[meKey]meEntry{}, 0
		return
	}
	m.gens[ch.Tenant]++
	m.size -= len(m.entries[ch.Tenant])
	delete(m.entries, ch.Tenant)
}
