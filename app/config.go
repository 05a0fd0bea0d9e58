package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/live"
	"agentpresence/models"
	"agentpresence/models/secretbox"
)

// Config is everything the service reads from its environment. It is read
// once, at start, and logged with its secrets masked.
type Config struct {
	Port           int
	BaseURL        string
	DatabaseURL    string
	AppKey         string
	AppName        string
	InstallKeysURL string
	JWTLeeway      time.Duration
	// AppSecretKey seals tenants' shared secrets (AES-256-GCM).
	AppSecretKey []byte
	// AppSecretKeyPrevious are earlier keys, which only open: they let a
	// rotation of AppSecretKey run without downtime (README, runbook).
	AppSecretKeyPrevious [][]byte
	// Retention is how long an uninstalled tenant's data is kept.
	Retention       time.Duration
	ShutdownTimeout time.Duration
	LogLevel        string
	// LogLinesPerSecond is how many lines of one kind (level and message;
	// a request's route and status) the log passes a second, after a
	// burst of ten times as many; the rest are counted. 0: every line.
	LogLinesPerSecond int
	Demo              bool
	// RateLimits switches the per-address and per-widget limits (on by
	// default; the load harness turns them off to measure the service).
	RateLimits bool
	// TrustProxy takes client addresses from X-Forwarded-For.
	TrustProxy bool
	// BenchCeiling serves the load harness's ceiling (ceiling.go).
	BenchCeiling bool

	// EventRetention is how long audit events are kept (at least a day).
	EventRetention time.Duration
	// MembershipMaxStale is how old a membership list may be and still let
	// its agent go online while Jira cannot be asked (1m to 24h).
	MembershipMaxStale time.Duration
	// JiraAllowLoopback lets tenants' Jira be http:// on a loopback address
	// (a simulated Jira in development); the demo mode implies it.
	JiraAllowLoopback bool
	// StreamsPerUser, StreamsPerAddress and StreamsPerInstance cap the live
	// streams (0 per instance: derived from the open-files limit);
	// StreamLifetime ends each stream after a while (0: never).
	StreamsPerUser     int
	StreamsPerAddress  int
	StreamsPerInstance int
	StreamLifetime     time.Duration
	// PprofAddr is the loopback address of the profiles' own listener
	// (pprof.go); empty, the default, serves none.
	PprofAddr string
	// MetricsAddr is a listener of its own for /metrics (metrics.go);
	// MetricsToken serves /metrics on the service's port to requests
	// bearing it (and is required on MetricsAddr too when set). Both
	// empty, the default: no metrics are kept or served.
	MetricsAddr  string
	MetricsToken string
	// OTLPTracesURL is where spans go (OTLP/HTTP); empty, the default:
	// no tracing (tracing.go). ServiceName names the service in them.
	OTLPTracesURL string
	ServiceName   string

	// ForgeAppID turns the Forge remote on (forge.go): the app's ARI,
	// from FORGE_APP_ID given bare or as an ARI; empty: Connect only.
	ForgeAppID string
	// ForgeJWKSURL is where the keys that sign Forge Invocation Tokens
	// are published (default Atlassian's production JWKS).
	ForgeJWKSURL string

	// PersonalDataReporting runs the personal data reporting job (on by
	// default; off for a deployment that is no Atlassian app, like a
	// load test's); PersonalDataURL is the Atlassian API host Forge
	// installations report through.
	PersonalDataReporting bool
	PersonalDataURL       string

	// Licensing enforces sites' Marketplace licenses (LICENSING=on): the
	// descriptor's enableLicensing, and unlicensed sites' agents refused,
	// their widgets offline.
	Licensing bool
}

// minMetricsToken is the shortest METRICS_TOKEN accepted: a guessable
// token would publish the metrics.
const minMetricsToken = 16

// MetricsOn tells whether metrics are kept and served.
func (c Config) MetricsOn() bool { return c.MetricsAddr != "" || c.MetricsToken != "" }

// Defaults that the README's configuration table repeats; the install-keys
// server's is connect.DefaultInstallKeysURL.
const (
	defaultPort       = 8080
	defaultAppKey     = "io.agentpresence.jsm-online-status"
	defaultAppName    = "Agent online status"
	defaultSQLitePath = "data/presence.db"
)

// LoadConfig reads the configuration through getenv. A missing
// APP_SECRET_KEY is generated beside an embedded SQLite file; with
// PostgreSQL it must be given, because replicas must share it.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Port:            defaultPort,
		AppKey:          orDefault(getenv("APP_KEY"), defaultAppKey),
		AppName:         orDefault(getenv("APP_NAME"), defaultAppName),
		InstallKeysURL:  strings.TrimRight(orDefault(getenv("CONNECT_INSTALL_KEYS_URL"), connect.DefaultInstallKeysURL), "/"),
		JWTLeeway:       30 * time.Second,
		Retention:       30 * 24 * time.Hour,
		ShutdownTimeout: 20 * time.Second,
		LogLevel:        orDefault(getenv("LOG_LEVEL"), "info"),

		StreamsPerUser:    live.DefaultPerUser,
		StreamsPerAddress: live.DefaultPerAddress,
		StreamLifetime:    live.DefaultLifetime,
	}
	c.EventRetention, c.MembershipMaxStale = 365*24*time.Hour, 15*time.Minute
	var err error
	if v := getenv("PORT"); v != "" {
		if c.Port, err = strconv.Atoi(v); err != nil || c.Port < 0 || c.Port > 65535 {
			return Config{}, fmt.Errorf("config: PORT %q is not a port number", v)
		}
	}
	c.BaseURL = strings.TrimRight(orDefault(getenv("BASE_URL"), fmt.Sprintf("http://localhost:%d", c.Port)), "/")
	if u, perr := url.Parse(c.BaseURL); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("config: BASE_URL %q must be an absolute http(s) URL", c.BaseURL)
	}
	for name, dst := range map[string]*time.Duration{"JWT_LEEWAY": &c.JWTLeeway, "RETENTION": &c.Retention, "SHUTDOWN_TIMEOUT": &c.ShutdownTimeout,
		"EVENT_RETENTION": &c.EventRetention, "MEMBERSHIP_MAX_STALE": &c.MembershipMaxStale, "STREAM_LIFETIME": &c.StreamLifetime} {
		if v := getenv(name); v != "" {
			d, perr := time.ParseDuration(v)
			if perr != nil || d < 0 {
				return Config{}, fmt.Errorf("config: %s %q is not a duration like 30s or 720h", name, v)
			}
			*dst = d
		}
	}
	if c.JWTLeeway > 5*time.Minute {
		return Config{}, fmt.Errorf("config: JWT_LEEWAY %s is too large (at most 5m)", c.JWTLeeway)
	}
	if c.EventRetention < 24*time.Hour {
		return Config{}, fmt.Errorf("config: EVENT_RETENTION %s is too short (at least 24h)", c.EventRetention)
	}
	if c.MembershipMaxStale < time.Minute || c.MembershipMaxStale > 24*time.Hour {
		return Config{}, fmt.Errorf("config: MEMBERSHIP_MAX_STALE %s must be between 1m and 24h", c.MembershipMaxStale)
	}
	if c.StreamLifetime != 0 && c.StreamLifetime < time.Minute {
		return Config{}, fmt.Errorf("config: STREAM_LIFETIME %s is too short (0 for none, else at least 1m)", c.StreamLifetime)
	}
	c.LogLinesPerSecond = defaultLogLinesPerSecond
	if v := getenv("LOG_LINES_PER_SECOND"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || n > 1_000_000 {
			return Config{}, fmt.Errorf("config: LOG_LINES_PER_SECOND %q is not a rate from 0 (every line) to 1000000", v)
		}
		c.LogLinesPerSecond = n
	}
	for name, dst := range map[string]*int{"STREAMS_PER_USER": &c.StreamsPerUser, "STREAMS_PER_ADDRESS": &c.StreamsPerAddress,
		"STREAMS_PER_INSTANCE": &c.StreamsPerInstance} {
		if v := getenv(name); v != "" {
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 0 || n > 10_000_000 {
				return Config{}, fmt.Errorf("config: %s %q is not a count from 0 to 10000000", name, v)
			}
			*dst = n
		}
	}
	c.Demo = isTrue(getenv("DEMO"))
	c.RateLimits = getenv("RATE_LIMITS") != "off"
	c.TrustProxy = isTrue(getenv("TRUST_PROXY"))
	c.BenchCeiling = isTrue(getenv("BENCH_CEILING"))
	c.JiraAllowLoopback = isTrue(getenv("JIRA_ALLOW_LOOPBACK"))
	if c.PprofAddr = getenv("PPROF_ADDR"); c.PprofAddr != "" {
		if err := checkPprofAddr(c.PprofAddr); err != nil {
			return Config{}, err
		}
	}

	if err := c.loadForge(getenv); err != nil {
		return Config{}, err
	}
	if err := c.loadPersonalData(getenv); err != nil {
		return Config{}, err
	}
	if err := c.loadLicensing(getenv); err != nil {
		return Config{}, err
	}

	if c.MetricsAddr = getenv("METRICS_ADDR"); c.MetricsAddr != "" {
		if err := checkMetricsAddr(c.MetricsAddr); err != nil {
			return Config{}, err
		}
	}
	if c.MetricsToken = getenv("METRICS_TOKEN"); c.MetricsToken != "" && len(c.MetricsToken) < minMetricsToken {
		return Config{}, fmt.Errorf("config: METRICS_TOKEN must be at least %d characters (e.g. `openssl rand -hex 32`)", minMetricsToken)
	}
	if c.OTLPTracesURL, err = otlpTracesURL(getenv); err != nil {
		return Config{}, err
	}
	c.ServiceName = orDefault(getenv("OTEL_SERVICE_NAME"), "agentpresence")

	c.DatabaseURL = getenv("DATABASE_URL")
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + defaultSQLitePath
	}
	dialect, ok := models.DialectOf(c.DatabaseURL)
	isPostgres := dialect == models.DialectPostgres
	if !ok {
		return Config{}, errors.New("config: DATABASE_URL must be a postgres:// URL or sqlite:PATH")
	}
	if v := getenv("APP_SECRET_KEY"); v != "" {
		if c.AppSecretKey, err = decodeKey("APP_SECRET_KEY", v); err != nil {
			return Config{}, err
		}
	} else if isPostgres {
		return Config{}, errors.New("config: APP_SECRET_KEY is required with PostgreSQL: every replica must seal and open tenants' secrets with the same key (32 bytes, base64; e.g. `openssl rand -base64 32`)")
	}
	if c.AppSecretKeyPrevious, err = decodeKeys("APP_SECRET_KEY_PREVIOUS", getenv("APP_SECRET_KEY_PREVIOUS")); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ensureLocalKey generates, or reads back, the key kept beside an embedded
// SQLite database so that `go run .` works with no set-up at all.
func (c *Config) ensureLocalKey() error {
	if dialect, _ := models.DialectOf(c.DatabaseURL); c.AppSecretKey != nil || dialect != models.DialectSQLite {
		return nil
	}
	path := filepath.Join(filepath.Dir(strings.TrimPrefix(c.DatabaseURL, "sqlite:")), "app-secret.key")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("generate APP_SECRET_KEY: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("generate APP_SECRET_KEY: %w", err)
		}
		raw = []byte(base64.StdEncoding.EncodeToString(key))
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return fmt.Errorf("generate APP_SECRET_KEY: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	c.AppSecretKey, err = decodeKey("APP_SECRET_KEY", strings.TrimSpace(string(raw)))
	return err
}

func decodeKey(name, v string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("config: %s must be 32 bytes encoded in base64", name)
	}
	return key, nil
}

// decodeKeys reads a comma-separated list of keys; empty is none.
func decodeKeys(name, v string) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		key, err := decodeKey(fmt.Sprintf("%s (key %d)", name, i+1), part)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// secretKeyIDs names the keys in the log by their ids, never their bytes.
func (c Config) secretKeyIDs() (current string, previous []string) {
	if c.AppSecretKey != nil {
		current = secretbox.KeyID(c.AppSecretKey)
	}
	previous = []string{}
	for _, k := range c.AppSecretKeyPrevious {
		previous = append(previous, secretbox.KeyID(k))
	}
	return current, previous
}

// BaseIsLoopback reports whether BASE_URL points at this machine, the only
// place where the demo mode may run.
func (c Config) BaseIsLoopback() bool {
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fields is the configuration as log attributes, with secrets masked.
func (c Config) fields() []any {
	secret := "unset"
	if c.AppSecretKey != nil {
		secret = "set (masked)"
	}
	keyID, previousIDs := c.secretKeyIDs()
	return []any{
		"port", c.Port, "base_url", c.BaseURL, "database", maskDatabaseURL(c.DatabaseURL),
		"app_key", c.AppKey, "app_name", c.AppName, "install_keys_url", c.InstallKeysURL,
		"jwt_leeway", c.JWTLeeway.String(), "retention", c.Retention.String(),
		"shutdown_timeout", c.ShutdownTimeout.String(), "app_secret_key", secret, "demo", c.Demo,
		"log_lines_per_second", c.LogLinesPerSecond,
		"rate_limits", c.RateLimits, "trust_proxy", c.TrustProxy, "bench_ceiling", c.BenchCeiling,
		"event_retention", c.EventRetention.String(), "membership_max_stale", c.MembershipMaxStale.String(),
		"app_secret_key_id", keyID, "app_secret_key_previous_ids", previousIDs,
		"jira_allow_loopback", c.JiraAllowLoopback,
		"streams_per_user", c.StreamsPerUser, "streams_per_address", c.StreamsPerAddress,
		"streams_per_instance", c.StreamsPerInstance, "stream_lifetime", c.StreamLifetime.String(),
		"pprof_addr", c.PprofAddr, "forge_app_id", c.ForgeAppID, "forge_jwks_url", c.ForgeJWKSURL,
		"metrics_addr", c.MetricsAddr, "metrics_token", setOrUnset(c.MetricsToken),
		"otlp_traces_url", maskDatabaseURL(c.OTLPTracesURL), "service_name", c.ServiceName,
		"personal_data_reporting", c.PersonalDataReporting, "personal_data_url", c.PersonalDataURL, "licensing", c.Licensing,
	}
}

// maskDatabaseURL hides the password, whether in the user part or as a
// query parameter (password=, sslpassword=, anything naming a secret); a
// URL that cannot be read is not logged beyond its scheme.
func maskDatabaseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		scheme, _, _ := strings.Cut(raw, ":")
		return scheme + ":(masked: not a valid URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), masked)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			// A pair that does not parse could be a password.
			u.RawQuery = "(masked: not a valid query)"
			return u.String()
		}
		for k := range q {
			if secretParam(k) {
				q.Set(k, masked)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// masked stands for a hidden secret in the logged configuration.
const masked = "xxxxx"

// secretParam names the connection parameters that hold secrets
// (libpq's password and sslpassword, and anything like them); paths to
// key files (sslkey, sslcert) are not secrets.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"pass", "secret", "token", "pwd"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// setOrUnset logs a secret's presence, never its value.
func setOrUnset(v string) string {
	if v == "" {
		return "unset"
	}
	return "set (masked)"
}

func isTrue(v string) bool { return v == "1" || v == "true" }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
