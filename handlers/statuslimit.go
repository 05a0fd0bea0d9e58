package handlers

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"agentpresence/models"
)

// maxStatusAgents bounds the agents whose status changes are counted; past
// it the agent unseen longest is forgotten (and would start with a full
// budget), so the bound costs no honest agent anything.
const maxStatusAgents = 50_000

// statusLimiter bounds how often one agent may change their own status, so
// that a script flipping online and offline cannot grow the audit log by
// hundreds of events a second. Every change it lets through is still one
// event per project switched: the trail stays truthful, only its growth is
// bounded (burst perMinute, then perMinute a minute, per agent and
// replica). The agents are kept in an LRU (hashicorp/golang-lru): bounded,
// and safe for concurrent use.
type statusLimiter struct {
	perMinute int
	now       func() time.Time
	agents    *lru.Cache[agentKey, *rate.Limiter]
}

type agentKey struct {
	tenant  models.TenantID
	account string
}

// newStatusLimiter returns nil (no limit) for perMinute <= 0.
func newStatusLimiter(perMinute int, now func() time.Time) *statusLimiter {
	if perMinute <= 0 {
		return nil
	}
	agents, err := lru.New[agentKey, *rate.Limiter](maxStatusAgents)
	if err != nil {
		panic(err) // only for a size <= 0, which the constant is not
	}
	return &statusLimiter{perMinute: perMinute, now: now, agents: agents}
}

// allow takes one change from the agent's budget, or tells when the next
// one will be there.
func (s *statusLimiter) allow(tenant models.TenantID, account string) (retryAfter time.Duration, ok bool) {
	if s == nil {
		return 0, true
	}
	key := agentKey{tenant: tenant, account: account}
	l, found := s.agents.Get(key)
	if !found {
		// Two first requests of one agent at once share one limiter.
		l = rate.NewLimiter(rate.Limit(float64(s.perMinute)/60), s.perMinute)
		if prev, had, _ := s.agents.PeekOrAdd(key, l); had {
			l = prev
		}
	}
	now := s.now()
	if l.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - l.TokensAt(now)
	return time.Duration(missing / float64(l.Limit()) * float64(time.Second)), false
}

// tooManyStatusChanges answers a status change over the agent's budget.
func tooManyStatusChanges(retryAfter time.Duration) *APIError {
	e := tooManyRequests(retryAfter)
	e.Code, e.Message = "too_many_status_changes", "you changed your status too often; try again in a moment"
	return e
}
