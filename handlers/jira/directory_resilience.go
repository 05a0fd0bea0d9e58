package jira

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"agentpresence/models"
)

// How the Directory spends Jira's rate limits carefully: identical
// questions asked at once are one call (shared), an admin check is kept
// and, while Jira cannot be asked, served up to MaxStale old, and what
// Jira's refusals and a tenant's events make doubtful is dropped
// (InvalidateTenant).
//
// Jira sends no event when roles, groups or permission schemes change
// (neither Connect webhooks nor Forge product events have one), so those
// changes reach us only through the TTLs. What does arrive: project events
// (a project updated, archived or deleted: its roles may have moved with
// it) and Jira answering 401/403 to a permission check (our access to the
// site changed). Both drop the tenant's cached admin checks and make its
// stored membership lists ask Jira again before they grant anything.

// maxInvalidations bounds the tenants whose invalidation is remembered;
// only installed tenants reach it (from verified tokens and Jira's
// answers).
const maxInvalidations = 100_000

// invalidation is when a tenant's answers became doubtful: at for what the
// store keeps (membership lists, checked at a time), gen for what the
// directory keeps (admin checks).
type invalidation struct {
	at  time.Time
	gen uint64
}

// invalidationTTL is how long an invalidation must be remembered: until
// nothing it doubts could still be used.
func invalidationTTL(cfg DirectoryConfig) time.Duration {
	return max(cfg.MembershipTTL, cfg.GrantTTL, cfg.MaxStale, cfg.PermissionTTL, time.Minute)
}

// InvalidateTenant drops what the directory knows of the tenant's
// permissions: its admin checks are asked again, and its stored
// membership lists are refreshed before they are read or grant going
// online (while Jira cannot answer, a doubted list no longer grants; it
// is still read). The webhooks of project changes call it.
func (d *Directory) InvalidateTenant(tenant models.TenantID) {
	// Stored times are kept to the microsecond by the database; a list
	// checked within the invalidation's microsecond counts as after it.
	at := d.cfg.Now().Truncate(time.Microsecond)
	d.inval.Set(tenant, invalidation{at: at, gen: d.gen.Add(1)})
}

// doubtful tells whether a membership list checked at checked predates an
// invalidation of its tenant.
func (d *Directory) doubtful(tenant models.TenantID, checked time.Time) bool {
	inv, ok := d.inval.Get(tenant)
	return ok && checked.Before(inv.at)
}

// stale tells whether an admin check predates an invalidation.
func (d *Directory) stale(tenant models.TenantID, e permEntry) bool {
	inv, ok := d.inval.Get(tenant)
	return ok && e.gen < inv.gen
}

// refused invalidates the tenant when Jira refused a permission check
// (401/403): our access to the site changed, so what it told us before is
// in doubt.
func (d *Directory) refused(tenant models.TenantID, err error) {
	if errors.Is(err, ErrUnauthorized) {
		d.InvalidateTenant(tenant)
	}
}

// permissions answers an admin check from the cache while fresh, else asks
// Jira through ask (once for all who ask at once) and keeps the answer.
// While Jira cannot answer, a check up to MaxStale old still serves; a
// refusal by Jira (401/403) serves nothing and invalidates the tenant.
func (d *Directory) permissions(ctx context.Context, key permKey, ask func(context.Context) (permEntry, error)) (permEntry, error) {
	now := d.cfg.Now()
	last, known, fresh := d.cachedPermission(key, now)
	if fresh {
		return last, nil
	}
	e, err := shared(ctx, d, flightKey("perm", key.tenant, key.account, key.project), func(ctx context.Context) (permEntry, error) {
		// A caller that missed the cache while an earlier flight was on
		// its way can start this one just after that flight ended: the
		// answer it kept serves, and Jira is not asked twice.
		if e, _, fresh := d.cachedPermission(key, d.cfg.Now()); fresh {
			return e, nil
		}
		// gen and the time as before asking: an invalidation during the
		// call makes this answer doubtful too.
		gen, at := d.gen.Load(), d.cfg.Now()
		e, err := ask(ctx)
		if err != nil || d.perms == nil {
			return e, err
		}
		e.at, e.gen = at, gen
		// Kept before the flight ends, so that no later caller misses it.
		d.perms.Set(key, e)
		return e, nil
	})
	if err != nil {
		d.refused(key.tenant, err)
		if known && errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrUnauthorized) &&
			now.Sub(last.at) < d.cfg.MaxStale && !d.stale(key.tenant, last) {
			return last, nil // Jira is away: the recent answer still holds
		}
		return permEntry{}, err
	}
	return e, nil
}

// cachedPermission is the kept answer to an admin check that no
// invalidation made doubtful (known), and whether it is younger than
// PermissionTTL at now (fresh).
func (d *Directory) cachedPermission(key permKey, now time.Time) (e permEntry, known, fresh bool) {
	if d.perms == nil {
		return permEntry{}, false, false
	}
	e, ok := d.perms.Get(key)
	if !ok || d.stale(key.tenant, e) {
		return permEntry{}, false, false
	}
	return e, true, now.Sub(e.at) < d.cfg.PermissionTTL
}

// shared runs call once for every caller asking key at the same time
// (golang.org/x/sync/singleflight), each waiting for the answer or its
// own context, whichever comes first. The call runs on a context that one
// caller leaving does not cancel (the client's timeout bounds it), so the
// others still get its answer.
func shared[T any](ctx context.Context, d *Directory, key string, call func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	ch := d.flight.DoChan(key, func() (any, error) {
		return call(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		return r.Val.(T), nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// flightKey names a question to Jira: its kind, the tenant and its
// arguments (checked strings: account ids and project ids).
func flightKey(kind string, tenant models.TenantID, args ...string) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(int64(tenant), 10))
	for _, a := range args {
		b.WriteByte(0)
		b.WriteString(a)
	}
	return b.String()
}
