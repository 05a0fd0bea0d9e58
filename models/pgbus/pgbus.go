// Package pgbus carries the store's changes between replicas through
// PostgreSQL's LISTEN/NOTIFY, so that a widget, a dialog or a portal icon
// served by one replica hears of a status switched on another.
//
// Each replica publishes its own changes with pg_notify after they commit
// and listens on one dedicated connection. A change heard from another
// replica is delivered to the local store's listeners (board, event hubs,
// tenant cache); a replica's own notifications are ignored, since it fanned
// them out already. PostgreSQL keeps no notifications for a listener that
// is away, so after every (re)connection the bus delivers a resync: the
// listeners reload what they keep.
//
// LISTEN needs a session of its own: behind a pooler in transaction mode
// (PgBouncer) the URL must point at PostgreSQL itself.
package pgbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"agentpresence/models"
)

// Channel is the notification channel every replica listens on.
const Channel = "presence_changes"

// maxPayload keeps a notification under PostgreSQL's 8000-byte limit; a
// larger change is sent as "the whole tenant", which is never wrong.
const maxPayload = 7000

// applicationName shows the listener in pg_stat_activity.
const applicationName = "agentpresence-changes"

// wire is a change as it travels in a notification.
type wire struct {
	Tenant          models.TenantID `json:"tenant"`
	Projects        []int64         `json:"projects,omitempty"`
	TenantChanged   bool            `json:"tenantChanged,omitempty"`
	SettingsChanged bool            `json:"settingsChanged,omitempty"`
	Origin          string          `json:"origin"`
	Seq             uint64          `json:"seq"`
}

// encode turns a change into a notification payload.
func encode(ch models.Change) ([]byte, error) {
	w := wire{Tenant: ch.Tenant, Projects: ch.ProjectIDs, TenantChanged: ch.TenantChanged, SettingsChanged: ch.SettingsChanged,
		Origin: ch.Origin, Seq: ch.Seq}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode change: %w", err)
	}
	if len(b) > maxPayload {
		w.Projects = nil
		if b, err = json.Marshal(w); err != nil {
			return nil, fmt.Errorf("encode change: %w", err)
		}
	}
	return b, nil
}

// decode reads a notification payload; an empty project list means the
// whole tenant, like nil.
func decode(payload string) (models.Change, error) {
	var w wire
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return models.Change{}, fmt.Errorf("decode change: %w", err)
	}
	if w.Tenant == 0 || w.Origin == "" {
		return models.Change{}, errors.New("decode change: tenant and origin are required")
	}
	if len(w.Projects) == 0 {
		w.Projects = nil
	}
	return models.Change{Tenant: w.Tenant, ProjectIDs: w.Projects, TenantChanged: w.TenantChanged, SettingsChanged: w.SettingsChanged,
		Origin: w.Origin, Seq: w.Seq}, nil
}

// Bus publishes this replica's changes and delivers the other replicas'.
type Bus struct {
	store *models.Store
	url   string

	log     *slog.Logger
	backoff func(attempt int) time.Duration
	idle    time.Duration
	timeout time.Duration

	mu        sync.Mutex
	cancel    context.CancelFunc
	done      chan struct{}
	stopWatch func()
}

// Option configures a Bus.
type Option func(*Bus)

// WithLogger sets where the bus reports outages (default: discarded).
func WithLogger(log *slog.Logger) Option { return func(b *Bus) { b.log = log } }

// WithBackoff sets the wait before each reconnection attempt (1, 2, …);
// the default grows from 250 ms to 30 s, with jitter so that replicas do
// not reconnect in step after a restart.
func WithBackoff(fn func(attempt int) time.Duration) Option { return func(b *Bus) { b.backoff = fn } }

// WithIdleCheck sets how long the listener waits in silence before it
// checks its connection (default 1 min). A connection that died without a
// word (a dropped network path) is found within that time instead of the
// kernel's keepalive minutes.
func WithIdleCheck(d time.Duration) Option { return func(b *Bus) { b.idle = d } }

// New builds a bus for a store on PostgreSQL at url (the store's URL).
func New(store *models.Store, url string, opts ...Option) *Bus {
	b := &Bus{store: store, url: url, log: slog.New(slog.DiscardHandler), backoff: DefaultBackoff,
		idle: time.Minute, timeout: 10 * time.Second}
	for _, o := range opts {
		o(b)
	}
	return b
}

// DefaultBackoff waits 250 ms, 500 ms, 1 s, … up to 30 s, each with up to
// a quarter of jitter.
func DefaultBackoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(max(attempt-1, 0), 7)
	d = min(d, 30*time.Second)
	return d - rand.N(d/4+1)
}

// Start connects the listener and starts publishing this replica's
// changes. It fails when PostgreSQL cannot be reached now; later outages
// are repaired in the background until Close.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done != nil {
		return errors.New("start change bus: already started")
	}
	conn, err := b.connect(ctx)
	if err != nil {
		return fmt.Errorf("start change bus: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	b.stopWatch = b.store.Watch(b.publish)
	go b.run(runCtx, conn)
	return nil
}

// Close stops publishing and listening and waits for the listener to end.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		return nil
	}
	b.stopWatch()
	b.cancel()
	<-b.done
	b.done = nil
	return nil
}

// connect opens the dedicated connection and listens on the channel.
func (b *Bus) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(b.url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	cfg.RuntimeParams["application_name"] = applicationName
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		b.closeConn(conn)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// closeConn closes a connection, dead or alive, and waits until pgx's
// clean-up is over so that no goroutine outlives the bus.
func (b *Bus) closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Close(ctx); err != nil {
		b.log.Debug("close change listener", "err", err)
	}
	<-conn.PgConn().CleanupDone()
}

// run listens until ctx ends, reconnecting after every loss.
func (b *Bus) run(ctx context.Context, conn *pgx.Conn) {
	defer close(b.done)
	// Changes made elsewhere before LISTEN took effect were not heard.
	b.store.Deliver(ctx, models.Change{Resync: true})
	for {
		err := b.listen(ctx, conn)
		b.closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		// One warning per outage; the attempts in between are debug.
		lost := time.Now()
		b.log.Warn("change notifications lost; reconnecting", "err", err)
		attempt := 0
		for {
			attempt++
			t := time.NewTimer(b.backoff(attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if conn, err = b.connect(ctx); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			b.log.Debug("reconnect change notifications", "attempt", attempt, "err", err)
		}
		b.log.Info("change notifications restored", "attempts", attempt, "outage_ms", time.Since(lost).Milliseconds())
		b.store.Deliver(ctx, models.Change{Resync: true})
	}
}

// listen delivers notifications until the connection fails or ctx ends.
func (b *Bus) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, b.idle)
		n, err := conn.WaitForNotification(wctx)
		quiet := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			b.receive(ctx, n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case quiet && !conn.IsClosed():
			// Silence: ask the server something harmless. LISTEN again is
			// a no-op that also keeps pg_stat_activity's query telling.
			pctx, cancel := context.WithTimeout(ctx, b.timeout)
			_, err := conn.Exec(pctx, "LISTEN "+Channel)
			cancel()
			if err != nil {
				return fmt.Errorf("check listener: %w", err)
			}
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// receive delivers another replica's change to this replica's listeners.
func (b *Bus) receive(ctx context.Context, payload string) {
	ch, err := decode(payload)
	if err != nil {
		b.log.Warn("ignore change notification", "err", err)
		return
	}
	if ch.Origin == b.store.Origin() {
		return // fanned out here when it was made
	}
	b.store.Deliver(ctx, ch)
}

// publish notifies the other replicas of a change made here. It runs after
// the change committed; a failure costs the others this change until their
// next resync or a later change of the same projects, so it is logged.
func (b *Bus) publish(ctx context.Context, ch models.Change) {
	if ch.Origin != b.store.Origin() || ch.Resync {
		return
	}
	payload, err := encode(ch)
	if err != nil {
		b.log.Error("publish change", "tenant", ch.Tenant, "err", err)
		return
	}
	db, err := b.store.SQL()
	if err != nil {
		b.log.Error("publish change", "tenant", ch.Tenant, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, string(payload)); err != nil {
		b.log.Warn("publish change", "tenant", ch.Tenant, "seq", ch.Seq, "err", err)
	}
}
