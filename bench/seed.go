package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"agentpresence/handlers/connect"
	"agentpresence/models"
	"agentpresence/models/secretbox"
)

// Spec sizes a seeded data set.
type Spec struct {
	Tenants           int
	ProjectsPerTenant int
	AgentsPerTenant   int
	// OnlineEvery puts every n-th agent of a tenant online (10: 10%) in its
	// first project.
	OnlineEvery int
	// ForgeTwins seeds a Forge installation beside each tenant, with the
	// same agents (forgeseed.go), for the FIT scenario.
	ForgeTwins bool
}

// Tenant is one seeded Jira site, with what the harness needs to act as it.
type Tenant struct {
	ID        models.TenantID
	ClientKey string
	Secret    []byte
	Projects  []Project
	Agents    []string
}

// Project is one seeded service desk with its public widget.
type Project struct {
	ID       int64
	Key      string
	WidgetID string
}

// Dataset is what was seeded.
type Dataset struct {
	Spec    Spec
	Tenants []Tenant
}

// Token signs a context token of the tenant for an agent, as our pages get
// them from AP.context.getToken().
func (t Tenant) Token(accountID string, now time.Time) string {
	tok, err := connect.NewContextToken(t.ClientKey, accountID, t.Secret, now, 2*time.Hour)
	if err != nil {
		panic(fmt.Sprintf("bench: sign token: %v", err)) // only with an empty key or secret: a bug here
	}
	return tok
}

// AgentProjects are the project indexes the seed makes agent j a member
// of: its first project j%P and the next one.
func AgentProjects(j, projects int) []int {
	if projects == 1 {
		return []int{0}
	}
	return []int{j % projects, (j + 1) % projects}
}

// Online reports whether the seed put agent j online (in its first project).
func (s Spec) Online(j int) bool { return s.OnlineEvery > 0 && j%s.OnlineEvery == 0 }

// Seed creates the schema through the service's own migration (models.Open)
// and fills it with multi-row inserts in one transaction: tenants with
// their shared secrets sealed by secretbox.Box under key (so that the
// app opens them), projects with known widget ids, agents whose memberships
// are stored as just checked with Jira (so that the agent API needs no
// Jira), and the online statuses.
func Seed(ctx context.Context, dbURL string, key []byte, spec Spec, now time.Time) (*Dataset, error) {
	box, err := secretbox.New(key)
	if err != nil {
		return nil, err
	}
	store, err := models.Open(ctx, models.StoreConfig{URL: dbURL, Box: box})
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer store.Close()
	db, err := store.SQL()
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	pg := store.Dialect() == models.DialectPostgres
	now = now.UTC()
	ds := &Dataset{Spec: spec}
	var tenants, projects, agents, members, statuses [][]any
	projectID := int64(0)
	for i := range spec.Tenants {
		// Printable, as Jira's shared secrets are: the ACE peer of the load
		// harness keeps them as strings.
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		secret := []byte(base64.RawURLEncoding.EncodeToString(raw))
		t := Tenant{ID: models.TenantID(i + 1), ClientKey: fmt.Sprintf("bench-tenant-%05d", i+1), Secret: secret}
		sealed, err := box.Seal(secret, t.ClientKey)
		if err != nil {
			return nil, err
		}
		// base_url points at a closed loopback port: nothing here may call
		// out of the machine, and the seeded memberships are fresh.
		tenants = append(tenants, []any{int64(t.ID), t.ClientKey, sealed, fmt.Sprintf("http://127.0.0.1:9/site-%d", i+1),
			"", "jira", "", "bench", "", "", true, true, now, now, 0, now, now})
		for p := range spec.ProjectsPerTenant {
			projectID++
			pr := Project{ID: projectID, Key: fmt.Sprintf("P%d", p), WidgetID: fmt.Sprintf("w_bench_%08d_%02d_seed", i+1, p)}
			t.Projects = append(t.Projects, pr)
			projects = append(projects, []any{pr.ID, int64(t.ID), fmt.Sprint(10000 + p), fmt.Sprint(p + 1), pr.Key,
				"Project " + pr.Key, pr.WidgetID, true, "", "[]", now, now})
		}
		for j := range spec.AgentsPerTenant {
			acct := fmt.Sprintf("acct-%d-%d", i+1, j)
			t.Agents = append(t.Agents, acct)
			agents = append(agents, []any{int64(t.ID), acct, now, false, now, now})
			for _, p := range AgentProjects(j, spec.ProjectsPerTenant) {
				members = append(members, []any{int64(t.ID), acct, t.Projects[p].ID})
			}
			if spec.Online(j) {
				p := AgentProjects(j, spec.ProjectsPerTenant)[0]
				statuses = append(statuses, []any{int64(t.ID), t.Projects[p].ID, acct, true, now, string(models.SourceManual)})
			}
		}
		ds.Tenants = append(ds.Tenants, t)
	}
	var forge forgeRows
	if spec.ForgeTwins {
		if forge, err = forgeTwins(box, spec, ds.Tenants, now, projectID); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, ins := range []struct {
		table string
		cols  string
		rows  [][]any
	}{
		{"tenants", "id, client_key, secret_sealed, base_url, display_url, product_type, oauth_client_id, description, server_version, plugins_version, installed, enabled, installed_at, enabled_at, auto_offline_minutes, created_at, updated_at", tenants},
		{"projects", "id, tenant_id, jira_id, service_desk_id, key, name, widget_id, widget_enabled, unavailable_message, allowed_origins, created_at, updated_at", projects},
		{"agents", "tenant_id, account_id, membership_checked_at, next_switch_online, created_at, updated_at", agents},
		{"memberships", "tenant_id, account_id, project_id", members},
		{"statuses", "tenant_id, project_id, account_id, online, since, source", statuses},
		{"tenants", forgeTenantCols, forge.tenants},
		{"projects", "id, tenant_id, jira_id, service_desk_id, key, name, widget_id, widget_enabled, unavailable_message, allowed_origins, created_at, updated_at", forge.projects},
		{"agents", "tenant_id, account_id, membership_checked_at, next_switch_online, created_at, updated_at", forge.agents},
		{"memberships", "tenant_id, account_id, project_id", forge.members},
		{"statuses", "tenant_id, project_id, account_id, online, since, source", forge.statuses},
	} {
		if err := insertRows(ctx, tx, pg, ins.table, ins.cols, ins.rows); err != nil {
			return nil, err
		}
	}
	if pg {
		for _, table := range []string{"tenants", "projects"} {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))", table, table)); err != nil {
				return nil, fmt.Errorf("seed: %s sequence: %w", table, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("seed: commit: %w", err)
	}
	if pg {
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			return nil, fmt.Errorf("seed: analyze: %w", err)
		}
	}
	return ds, nil
}

// maxParams keeps a statement under SQLite's 32 766 bound parameters.
const maxParams = 30000

// insertRows writes rows with multi-row INSERTs of as many rows as the
// parameter limit allows.
func insertRows(ctx context.Context, tx *sql.Tx, pg bool, table, cols string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	per := maxParams / width
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		var sb strings.Builder
		fmt.Fprintf(&sb, "INSERT INTO %s (%s) VALUES ", table, cols)
		args := make([]any, 0, (end-start)*width)
		for i, r := range rows[start:end] {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('(')
			for k := range r {
				if k > 0 {
					sb.WriteByte(',')
				}
				if pg {
					fmt.Fprintf(&sb, "$%d", len(args)+k+1)
				} else {
					sb.WriteByte('?')
				}
			}
			sb.WriteByte(')')
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
	}
	return nil
}

// RefreshMemberships marks every stored membership as just checked, so
// that the agent API keeps answering from the database during a long run.
func RefreshMemberships(ctx context.Context, db *sql.DB, pg bool, now time.Time) error {
	q := "UPDATE agents SET membership_checked_at = ?"
	if pg {
		q = "UPDATE agents SET membership_checked_at = $1"
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("refresh memberships: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, q, now.UTC()); err != nil {
		return fmt.Errorf("refresh memberships: %w", err)
	}
	if pg {
		// Report this session's writes now rather than when it has been
		// idle a while, so that they are not counted as the heartbeats'
		// (PostgreSQL 15 and later; older servers just wait).
		_, _ = conn.ExecContext(ctx, "SELECT pg_stat_force_next_flush()")
	}
	return nil
}
