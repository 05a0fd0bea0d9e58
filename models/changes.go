package models

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// Change says that something customers or agents can see may have changed
// after a committed write: an agent's status (whatever switched it: the
// agent, a schedule, an admin, expiry, inactivity), a widget's settings, or
// the tenant itself. Listeners read the new state from the store or the
// board; a Change carries no state, so a missed or repeated one is repaired
// by the next.
type Change struct {
	Tenant TenantID
	// ProjectIDs are the projects that changed; nil means every project of
	// the tenant.
	ProjectIDs []int64
	// TenantChanged says the tenant itself changed (installed, uninstalled,
	// enabled, disabled): whoever keeps a copy of it must read it again.
	TenantChanged bool
	// SettingsChanged says the tenant's own settings changed (the
	// auto-offline limit): whoever keeps a copy of the tenant, or an answer
	// computed from one, must read it again. No status, count or widget
	// changed, so listeners of those have nothing to do.
	SettingsChanged bool
	// Resync says that changes may have been missed (the replica lost its
	// notification connection for a while): every tenant may have changed.
	// Tenant is zero then.
	Resync bool
	// Origin is the replica that made the change (Store.Origin).
	Origin string
	// Seq numbers the origin's changes, 1, 2, …, for logs and tracing.
	Seq uint64
}

// ChangeFunc hears changes. It runs synchronously in the writer's
// goroutine (or the notification listener's), so it must be quick and must
// not block on clients.
type ChangeFunc func(ctx context.Context, ch Change)

// watchers is a list of ChangeFuncs, called in the order they were added.
// The slice is replaced, never changed in place, so notify iterates a
// snapshot without holding the lock while listeners run.
type watchers struct {
	mu   sync.Mutex
	next int
	list []watcher
}

type watcher struct {
	id int
	fn ChangeFunc
}

func (w *watchers) add(fn ChangeFunc) (stop func()) {
	w.mu.Lock()
	w.next++
	id := w.next
	list := make([]watcher, len(w.list), len(w.list)+1)
	copy(list, w.list)
	w.list = append(list, watcher{id: id, fn: fn})
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			list := make([]watcher, 0, len(w.list))
			for _, x := range w.list {
				if x.id != id {
					list = append(list, x)
				}
			}
			w.list = list
		})
	}
}

func (w *watchers) notify(ctx context.Context, ch Change) {
	w.mu.Lock()
	list := w.list
	w.mu.Unlock()
	for _, x := range list {
		x.fn(ctx, ch)
	}
}

// newOrigin names this process's store among the replicas.
func newOrigin() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// Origin names this replica in the changes it makes, so that it can tell
// its own notifications from other replicas'.
func (s *Store) Origin() string { return s.origin }

// Watch adds a listener called after every committed change that can alter
// what customers or agents see, made here or (once a notification bus
// delivers it) on another replica. Listeners run in the order they were
// added; stop removes this one.
func (s *Store) Watch(fn ChangeFunc) (stop func()) { return s.watchers.add(fn) }

// Deliver hands a change that another replica made (or a resync) to this
// replica's listeners. A bus calls it; it does not publish the change again.
func (s *Store) Deliver(ctx context.Context, ch Change) {
	s.watchers.notify(context.WithoutCancel(ctx), ch)
}

// changed announces a committed change of some projects (nil: all of the
// tenant's).
func (s *Store) changed(ctx context.Context, tenant TenantID, projectIDs []int64) {
	s.emit(ctx, Change{Tenant: tenant, ProjectIDs: projectIDs})
}

// tenantChanged announces a committed change of the tenant row itself.
func (s *Store) tenantChanged(ctx context.Context, tenant TenantID) {
	s.emit(ctx, Change{Tenant: tenant, TenantChanged: true})
}

// settingsChanged announces a committed change of the tenant's settings.
func (s *Store) settingsChanged(ctx context.Context, tenant TenantID) {
	s.emit(ctx, Change{Tenant: tenant, SettingsChanged: true})
}

func (s *Store) emit(ctx context.Context, ch Change) {
	ch.Origin = s.origin
	ch.Seq = s.seq.Add(1)
	// The writer's request may end right after; listeners finish anyway.
	s.watchers.notify(context.WithoutCancel(ctx), ch)
}

// changedBy tells the listeners about the projects of committed events,
// once per tenant.
func (s *Store) changedBy(ctx context.Context, events []Event) {
	byTenant := map[TenantID][]Event{}
	for _, e := range events {
		byTenant[e.TenantID] = append(byTenant[e.TenantID], e)
	}
	for tenant, evs := range byTenant {
		s.changed(ctx, tenant, eventProjects(evs))
	}
}
