package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agentpresence/models/secretbox"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		given   map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", given: map[string]string{}, check: func(t *testing.T, c Config) {
			if c.Port != 8080 || c.BaseURL != "http://localhost:8080" || c.DatabaseURL != "sqlite:data/presence.db" ||
				c.JWTLeeway != 30*time.Second || c.Retention != 30*24*time.Hour || c.InstallKeysURL != "https://connect-install-keys.atlassian.com" {
				t.Fatalf("defaults: %+v", c)
			}
		}},
		{name: "base URL follows the port", given: map[string]string{"PORT": "9000"}, check: func(t *testing.T, c Config) {
			if c.BaseURL != "http://localhost:9000" {
				t.Fatalf("base URL %q", c.BaseURL)
			}
		}},
		{name: "trailing slash trimmed", given: map[string]string{"BASE_URL": "https://x.example.com/"}, check: func(t *testing.T, c Config) {
			if c.BaseURL != "https://x.example.com" {
				t.Fatalf("base URL %q", c.BaseURL)
			}
		}},
		{name: "postgres needs a secret key", given: map[string]string{"DATABASE_URL": "postgres://u@h/db"}, wantErr: "APP_SECRET_KEY is required with PostgreSQL"},
		{name: "secret key must be 32 bytes", given: map[string]string{"APP_SECRET_KEY": "c2hvcnQ="}, wantErr: "32 bytes"},
		{name: "bad port", given: map[string]string{"PORT": "eighty"}, wantErr: "PORT"},
		{name: "bad leeway", given: map[string]string{"JWT_LEEWAY": "soon"}, wantErr: "JWT_LEEWAY"},
		{name: "leeway too large", given: map[string]string{"JWT_LEEWAY": "10m"}, wantErr: "too large"},
		{name: "unknown database", given: map[string]string{"DATABASE_URL": "mysql://x"}, wantErr: "DATABASE_URL"},
		{name: "relative base URL", given: map[string]string{"BASE_URL": "presence.example.com"}, wantErr: "BASE_URL"},
		{name: "previous keys", given: map[string]string{"APP_SECRET_KEY_PREVIOUS": " MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=, ,YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY="},
			check: func(t *testing.T, c Config) {
				if len(c.AppSecretKeyPrevious) != 2 || string(c.AppSecretKeyPrevious[0]) != "0123456789abcdef0123456789abcdef" ||
					string(c.AppSecretKeyPrevious[1]) != "abcdefghijklmnopqrstuvwxyz123456" {
					t.Fatalf("previous keys %q", c.AppSecretKeyPrevious)
				}
			}},
		{name: "a previous key must be 32 bytes", given: map[string]string{"APP_SECRET_KEY_PREVIOUS": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,c2hvcnQ="},
			wantErr: "APP_SECRET_KEY_PREVIOUS (key 2) must be 32 bytes"},
		{name: "stream caps default", given: map[string]string{}, check: func(t *testing.T, c Config) {
			if c.StreamsPerUser != 10 || c.StreamsPerAddress != 300 || c.StreamsPerInstance != 0 || c.StreamLifetime != 20*time.Minute {
				t.Fatalf("stream caps: %d per user, %d per address, %d per instance, lifetime %s",
					c.StreamsPerUser, c.StreamsPerAddress, c.StreamsPerInstance, c.StreamLifetime)
			}
		}},
		{name: "stream caps set", given: map[string]string{"STREAMS_PER_USER": "4", "STREAMS_PER_ADDRESS": "1000",
			"STREAMS_PER_INSTANCE": "5000", "STREAM_LIFETIME": "0"}, check: func(t *testing.T, c Config) {
			if c.StreamsPerUser != 4 || c.StreamsPerAddress != 1000 || c.StreamsPerInstance != 5000 || c.StreamLifetime != 0 {
				t.Fatalf("stream caps: %+v", c)
			}
		}},
		{name: "negative stream cap", given: map[string]string{"STREAMS_PER_ADDRESS": "-1"}, wantErr: "STREAMS_PER_ADDRESS"},
		{name: "stream cap not a number", given: map[string]string{"STREAMS_PER_USER": "many"}, wantErr: "STREAMS_PER_USER"},
		{name: "stream lifetime too short", given: map[string]string{"STREAM_LIFETIME": "5s"}, wantErr: "STREAM_LIFETIME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(envOf(tt.given))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLocalKeyGeneratedOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(envOf(map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "p.db")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ensureLocalKey(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "app-secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", info.Mode().Perm())
	}
	first := c.AppSecretKey
	c2, err := LoadConfig(envOf(map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "p.db")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.ensureLocalKey(); err != nil {
		t.Fatal(err)
	}
	if string(first) != string(c2.AppSecretKey) || len(first) != 32 {
		t.Fatal("the key changed between starts: tenants' secrets would no longer open")
	}
}

func TestDemoOnlyOnLoopback(t *testing.T) {
	for base, want := range map[string]bool{"http://localhost:8080": true, "http://127.0.0.1:1": true, "http://[::1]:8080": true,
		"https://presence.example.com": false, "http://10.0.0.1": false} {
		c, err := LoadConfig(envOf(map[string]string{"BASE_URL": base}))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.BaseIsLoopback(); got != want {
			t.Errorf("%s: loopback %v, want %v", base, got, want)
		}
	}
}

func TestConfigLogMasksSecrets(t *testing.T) {
	for _, db := range []string{
		"postgres://user:hunter2@db/x",
		"postgres://user@db/x?password=hunter2",
		"postgresql://user@db/x?sslmode=require&PassWord=hunter2&application_name=p",
		"postgres://user@db/x?sslpassword=hunter2&sslkey=/etc/key.pem",
		"postgres://user:hunter2@db/x?password=hunter2",
		"postgres://user@db/x?password=hunter2%",
	} {
		c, err := LoadConfig(envOf(map[string]string{"DATABASE_URL": db, "APP_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			"APP_SECRET_KEY_PREVIOUS": "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY="}))
		if err != nil {
			t.Fatal(err)
		}
		out := fmt.Sprint(c.fields()...)
		if strings.Contains(out, "hunter2") || strings.Contains(out, "MDEyMzQ1") || strings.Contains(out, "YWJjZGVm") ||
			strings.Contains(out, "0123456789abcdef") || strings.Contains(out, "abcdefghijklmnop") {
			t.Errorf("secrets in the logged config: %s", out)
		}
		if !strings.Contains(out, "db/x") {
			t.Errorf("the database is no longer named in the logged config: %s", out)
		}
		// The keys' ids, which tell replicas' keys apart, are logged.
		for _, key := range [][]byte{c.AppSecretKey, c.AppSecretKeyPrevious[0]} {
			if id := secretbox.KeyID(key); !strings.Contains(out, id) {
				t.Fatalf("key id %s not in the logged config: %s", id, out)
			}
		}
	}
}

// TestLoadConfigRetentionAndMembershipBound: EVENT_RETENTION (a year by
// default, at least a day) and MEMBERSHIP_MAX_STALE (15 minutes by
// default, 1m to 24h).
func TestLoadConfigRetentionAndMembershipBound(t *testing.T) {
	tests := []struct {
		name       string
		given      map[string]string
		wantErr    string
		events     time.Duration
		membership time.Duration
	}{
		{name: "defaults", given: map[string]string{}, events: 8760 * time.Hour, membership: 15 * time.Minute},
		{name: "set", given: map[string]string{"EVENT_RETENTION": "720h", "MEMBERSHIP_MAX_STALE": "5m"}, events: 720 * time.Hour, membership: 5 * time.Minute},
		{name: "retention too short", given: map[string]string{"EVENT_RETENTION": "1h"}, wantErr: "EVENT_RETENTION"},
		{name: "retention not a duration", given: map[string]string{"EVENT_RETENTION": "a year"}, wantErr: "EVENT_RETENTION"},
		{name: "bound too short", given: map[string]string{"MEMBERSHIP_MAX_STALE": "10s"}, wantErr: "MEMBERSHIP_MAX_STALE"},
		{name: "bound too long", given: map[string]string{"MEMBERSHIP_MAX_STALE": "48h"}, wantErr: "MEMBERSHIP_MAX_STALE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(envOf(tt.given))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.EventRetention != tt.events || c.MembershipMaxStale != tt.membership {
				t.Fatalf("event retention %s, membership bound %s", c.EventRetention, c.MembershipMaxStale)
			}
		})
	}
}
