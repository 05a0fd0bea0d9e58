package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// CreateDatabase makes a fresh database on the server of serverURL and
// returns its URL and a function that drops it.
func CreateDatabase(ctx context.Context, serverURL, name string) (string, func(), error) {
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		_, _ = admin.ExecContext(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
		admin.Close()
	}
	return u.String(), drop, nil
}

// Cluster is a PostgreSQL cluster the harness may restart: the CI's
// throwaway one (PG_TEST_BIN, PG_TEST_DATA) or one it made itself.
type Cluster struct {
	Bin, Data string
	URL       string
	own       string // directory to remove when we made the cluster
	asPG      []string
}

// pgBin finds the newest installed PostgreSQL binaries.
func pgBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("no PostgreSQL server binaries under /usr/lib/postgresql")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func runAsPG() []string {
	if os.Geteuid() == 0 {
		return []string{"runuser", "-u", "postgres", "--"}
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	argv := append(append([]string{}, c.asPG...), append([]string{filepath.Join(c.Bin, name)}, args...)...)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}

// OpenCluster uses the cluster named by PG_TEST_BIN/PG_TEST_DATA and
// TEST_DATABASE_URL when they are set (CI), or else initialises a
// throwaway one under /tmp on port, owned by the postgres user when
// running as root, so that restarting it disturbs nobody.
func OpenCluster(ctx context.Context, port int) (*Cluster, error) {
	if bin, data, u := os.Getenv("PG_TEST_BIN"), os.Getenv("PG_TEST_DATA"), os.Getenv("TEST_DATABASE_URL"); bin != "" && data != "" && u != "" {
		return &Cluster{Bin: bin, Data: data, URL: u, asPG: runAsPG()}, nil
	}
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-pg.")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bin: bin, Data: filepath.Join(dir, "data"), own: dir, asPG: runAsPG(),
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("throwaway cluster: %w", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := c.run(ctx, "initdb", "-D", c.Data, "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, dir)
	if err := c.run(ctx, "pg_ctl", "-D", c.Data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start", "-o", opts); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// Restart restarts the server with a fast shutdown (sessions are ended).
func (c *Cluster) Restart(ctx context.Context) error {
	// -l keeps the server's output off our pipe, which would never close.
	return c.run(ctx, "pg_ctl", "-D", c.Data, "-l", filepath.Join(filepath.Dir(c.Data), "log"), "-w", "-t", "60", "restart", "-m", "fast")
}

// Close stops a cluster the harness made; the CI's is left alone.
func (c *Cluster) Close() {
	if c.own == "" {
		return
	}
	_ = c.run(context.Background(), "pg_ctl", "-D", c.Data, "-m", "immediate", "stop")
	os.RemoveAll(c.own)
}

// DatabaseName is a name safe to create from a label.
func DatabaseName(label string) string {
	return strings.ToLower(fmt.Sprintf("bench_%s_%d", label, os.Getpid()))
}
