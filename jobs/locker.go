package jobs

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// ErrLocked means another replica holds a job's lock: this replica skips
// the run.
var ErrLocked = errors.New("job lock held by another replica")

// Locker is a gocron.Locker on PostgreSQL session advisory locks, so that
// replicas sharing a database do not run the same job at the same moment.
// It saves work only: every job is idempotent, so correctness never rests
// on the lock.
type Locker struct {
	DB *sql.DB
}

// unlockTimeout bounds releasing a lock, done on a context of its own
// because the job's may be cancelled by shutdown.
const unlockTimeout = 5 * time.Second

// Lock takes the lock of key on a connection of its own, or fails at once
// with ErrLocked when another session holds it.
func (l *Locker) Lock(ctx context.Context, key string) (gocron.Lock, error) {
	id := LockID(key)
	conn, err := l.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", id).Scan(&ok); err != nil {
		discard(conn)
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if !ok {
		_ = conn.Close() // back to the pool: it holds nothing
		return nil, fmt.Errorf("lock %s: %w", key, ErrLocked)
	}
	return &advisoryLock{conn: conn, id: id, key: key}, nil
}

// LockID is the advisory lock number of a job key: a 64-bit FNV-1a hash of
// "presence:"+key, so that other users of the database's advisory locks
// are unlikely to meet ours.
func LockID(key string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("presence:" + key)) // a hash never fails to write
	return int64(h.Sum64())
}

type advisoryLock struct {
	conn *sql.Conn
	id   int64
	key  string
}

// Unlock releases the lock and gives the connection back. A connection
// whose lock could not be released is closed instead, which ends its
// session and so releases the lock on the server.
func (l *advisoryLock) Unlock(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	var released bool
	err := l.conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", l.id).Scan(&released)
	if err != nil || !released {
		discard(l.conn)
		if err == nil {
			err = errors.New("not held")
		}
		return fmt.Errorf("unlock %s: %w", l.key, err)
	}
	return l.conn.Close()
}

// discard closes a connection's session rather than pooling it.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
