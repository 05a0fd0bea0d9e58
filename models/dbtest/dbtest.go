// Package dbtest gives tests a fresh, real database of each dialect: a
// SQLite file in a temporary folder and, when TEST_DATABASE_URL names a
// PostgreSQL server, a database created for the test and dropped after it.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver for CREATE/DROP DATABASE

	"agentpresence/models"
	"agentpresence/models/secretbox"
)

// EnvPostgres names the variable that holds an administrative PostgreSQL
// URL; the README's test command sets it after starting a throwaway server.
const EnvPostgres = "TEST_DATABASE_URL"

// Dialects lists what a test should run on: SQLite always, PostgreSQL when
// the server is configured. Under CI a missing server fails the test rather
// than silently skipping half the suite.
func Dialects(t testing.TB) []models.Dialect {
	t.Helper()
	d := []models.Dialect{models.DialectSQLite}
	if os.Getenv(EnvPostgres) != "" {
		d = append(d, models.DialectPostgres)
	} else if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set under CI: the PostgreSQL half of the suite would be skipped", EnvPostgres)
	}
	return d
}

// Each runs fn once per dialect as a subtest.
func Each(t *testing.T, fn func(t *testing.T, dialect models.Dialect)) {
	t.Helper()
	for _, d := range Dialects(t) {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

// URL creates an empty database of the dialect for this test and returns
// its URL; the database is removed when the test ends.
func URL(t testing.TB, dialect models.Dialect) string {
	t.Helper()
	switch dialect {
	case models.DialectSQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	case models.DialectPostgres:
		return createPostgres(t)
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

func createPostgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		t.Skipf("%s not set: no PostgreSQL for this test", EnvPostgres)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "t_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = db.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		_ = db.Close()
	})
	u.Path = "/" + name
	return u.String()
}

// testKey is a fixed key for the secret box: test data is not secret.
const testKey = "0123456789abcdef0123456789abcdef"

// Open gives a migrated store on a fresh database of the dialect, closed
// when the test ends. now is the store's clock.
func Open(t testing.TB, dialect models.Dialect, now func() time.Time) *models.Store {
	t.Helper()
	return OpenURL(t, URL(t, dialect), now)
}

// OpenURL opens a store on an existing test database (several replicas of
// one database, say).
func OpenURL(t testing.TB, dbURL string, now func() time.Time) *models.Store {
	t.Helper()
	box, err := secretbox.New([]byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.Open(context.Background(), models.StoreConfig{URL: dbURL, Box: box, Now: now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}
