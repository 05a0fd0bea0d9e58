package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"agentpresence/models/secretbox"
)

// Dialect names the database behind a Store.
type Dialect string

// The dialects the store speaks.
const (
	DialectPostgres Dialect = "postgres"
	DialectSQLite   Dialect = "sqlite"
)

// StoreConfig says which database to open and how.
type StoreConfig struct {
	// URL is "postgres://…" (or "postgresql://…") for PostgreSQL,
	// "sqlite:PATH" for a SQLite file.
	URL string
	// Box seals tenants' shared secrets at rest.
	Box *secretbox.Box
	// Now is gorm's clock for the created_at and updated_at columns it
	// fills itself (default time.Now): when a row was written, which no
	// domain rule reads. Every method that needs the time of what it
	// records takes it as an argument (at, now) instead.
	Now func() time.Time
	// Log receives slow-query and migration messages; nil discards them.
	Log *slog.Logger
	// MaxOpenConns bounds the PostgreSQL pool (default 20).
	MaxOpenConns int
}

// Store keeps the domain in a SQL database through gorm. Each public method
// is one transaction and takes the tenant explicitly.
type Store struct {
	db      *gorm.DB
	dialect Dialect
	box     *secretbox.Box
	log     *slog.Logger

	// origin names this replica in its changes; seq numbers them.
	origin   string
	seq      atomic.Uint64
	watchers watchers
}

// migrationLockID is the PostgreSQL advisory lock that serialises schema
// changes, so that replicas starting together do not race on DDL.
const migrationLockID int64 = 0x70726573656e6365 // "presence"

// Open connects, migrates the schema and returns a ready store.
func Open(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if cfg.Box == nil {
		return nil, errors.New("open store: a secret box is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return cfg.Now().UTC() },
		SkipDefaultTransaction: true,
		TranslateError:         true,
	}
	var (
		db  *gorm.DB
		err error
	)
	dialect, ok := DialectOf(cfg.URL)
	switch {
	case ok && dialect == DialectPostgres:
		db, err = gorm.Open(postgres.Open(cfg.URL), gcfg)
	case ok && dialect == DialectSQLite:
		path := strings.TrimPrefix(cfg.URL, "sqlite:")
		if dir := filepath.Dir(path); dir != "" {
			if mkErr := os.MkdirAll(dir, 0o700); mkErr != nil {
				return nil, fmt.Errorf("open store: create %s: %w", dir, mkErr)
			}
		}
		// immediate transactions take the write lock up front, so two
		// writers queue on busy_timeout instead of failing on upgrade.
		dsn := "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
		// Another process switching the file to WAL holds it briefly, and
		// the busy timeout does not cover that; try again for a while.
		for attempt := 0; ; attempt++ {
			db, err = gorm.Open(sqlite.Dialector{Conn: openSQLite(dsn)}, gcfg)
			if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || attempt == 50 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	default:
		return nil, fmt.Errorf("open store: unsupported database URL scheme (want postgres:// or sqlite:PATH)")
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if dialect == DialectPostgres {
		n := cfg.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		// One writer at a time is SQLite's nature; a small pool lets WAL
		// readers proceed while a writer waits.
		sqlDB.SetMaxOpenConns(4)
	}
	s := &Store{db: db, dialect: dialect, box: cfg.Box, log: cfg.Log, origin: newOrigin()}
	if err := s.migrate(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// DialectOf tells which database a URL names: "postgres://…" or
// "postgresql://…" PostgreSQL, "sqlite:PATH" the embedded SQLite; false for
// anything else.
func DialectOf(url string) (Dialect, bool) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return DialectPostgres, true
	case strings.HasPrefix(url, "sqlite:"):
		return DialectSQLite, true
	}
	return "", false
}

// Dialect tells which database the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close releases the connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return sqlDB.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// SQL gives the underlying pool to the pieces that need it directly (the
// job locker's advisory locks, LISTEN/NOTIFY, tests that count rows).
func (s *Store) SQL() (*sql.DB, error) { return s.db.DB() }

func allModels() []any {
	return []any{&Tenant{}, &Project{}, &Agent{}, &Membership{}, &Status{}, &Event{}, &UsedToken{}, &PersonalDataReport{}}
}

func (s *Store) migrate(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	if s.dialect != DialectPostgres {
		// An immediate transaction holds SQLite's write lock, so two
		// processes opening one file migrate one after the other.
		if err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.AutoMigrate(allModels()...); err != nil {
				return err
			}
			return rewriteSQLiteTimes(tx, allModels())
		}); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	}
	// A session-level advisory lock on one pinned connection: replicas that
	// start together run the migration one after another, and the later ones
	// find nothing left to do.
	err := db.Connection(func(conn *gorm.DB) error {
		if err := conn.Exec("SELECT pg_advisory_lock(?)", migrationLockID).Error; err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		defer func() {
			// Unlock on a fresh context: the caller's may be cancelled already.
			if err := conn.WithContext(context.Background()).Exec("SELECT pg_advisory_unlock(?)", migrationLockID).Error; err != nil {
				s.log.Error("release migration lock", "err", err)
			}
		}()
		return conn.AutoMigrate(allModels()...)
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
