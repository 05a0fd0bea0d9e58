package bench

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/models"
	"agentpresence/models/secretbox"
)

func TestStreamReadsEvents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "retry: 2000\n\n: keepalive\n\nevent: keepalive\ndata: {}\n\nid: 1\nevent: status\ndata: {\"online\":true}\n\n")
		w.(http.Flusher).Flush()
		fmt.Fprintf(w, "id: 2\r\nevent: presence\r\ndata: a\r\ndata: b\r\n\r\n")
	}))
	defer srv.Close()
	s, err := OpenStream(context.Background(), NewStreamClient(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []Event
	_ = s.Read(func(e Event) { got = append(got, e) })
	want := []Event{{Name: "status", ID: "1", Data: []byte(`{"online":true}`)}, {Name: "presence", ID: "2", Data: []byte("ab")}}
	if len(got) != len(want) {
		t.Fatalf("got %d events %q, want %q", len(got), got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].ID != want[i].ID || string(got[i].Data) != string(want[i].Data) {
			t.Errorf("event %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestOpenStreamRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := OpenStream(context.Background(), NewStreamClient(), srv.URL, "")
	if se, ok := err.(*StatusError); !ok || se.Code != http.StatusNotFound {
		t.Fatalf("got %v, want a 404 StatusError", err)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	slices.Sort(d)
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Quantile(d, tt.q); got != tt.want {
			t.Errorf("Quantile(%g) = %s, want %s", tt.q, got, tt.want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("empty input")
	}
}

func TestLoadCountsOnlyTheMeasuredWindow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	res := Load(context.Background(), 4, 100*time.Millisecond, 300*time.Millisecond, func(w, i int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		return req
	})
	if res.Requests == 0 || res.Errors != 0 || res.Status[http.StatusOK] != res.Requests {
		t.Fatalf("got %+v", res)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Fatalf("latencies out of order: %+v", res)
	}
}

func TestReadUsageOfSelf(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSSKiB <= 0 {
		t.Fatalf("no resident memory read: %+v", u)
	}
}

func TestRunRPSCountsMeasuredTimeOnce(t *testing.T) {
	var r Run
	r.Add(Run{lat: make([]time.Duration, 300), d: time.Second})
	r.Add(Run{lat: make([]time.Duration, 100), d: time.Second})
	if got := r.RPS(); got != 200 {
		t.Fatalf("RPS = %v, want 200", got)
	}
	var empty Run
	if empty.RPS() != 0 {
		t.Fatal("an empty run has a rate")
	}
}

func TestReadMachine(t *testing.T) {
	a, err := ReadMachine()
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so that the machine's busy time must move.
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n
	}
	time.Sleep(20 * time.Millisecond)
	b, err := ReadMachine()
	if err != nil {
		t.Fatal(err)
	}
	if a.Busy <= 0 || a.Total < a.Busy || b.Busy <= a.Busy || b.Total <= a.Total {
		t.Fatalf("implausible /proc/stat readings: %+v then %+v", a, b)
	}
}

// TestForgeTokenVerifiesWithItsJWKS: a FIT verifies with the key the JWKS
// serves, as the app will verify it, and carries the claims Forge sends.
func TestForgeTokenVerifiesWithItsJWKS(t *testing.T) {
	f, err := NewForge()
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var jwks struct {
		Keys []struct{ Kty, Kid, Alg, N, E string } `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &jwks); err != nil || len(jwks.Keys) != 1 {
		t.Fatalf("jwks: %v %s", err, rec.Body)
	}
	k := jwks.Keys[0]
	n, errN := base64.RawURLEncoding.DecodeString(k.N)
	e, errE := base64.RawURLEncoding.DecodeString(k.E)
	if errN != nil || errE != nil || k.Kty != "RSA" || k.Alg != "RS256" {
		t.Fatalf("jwks key: %+v", k)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	now := time.Now()
	in := InstallationOf(41)
	tok, err := f.Token(in, "acct-42-0", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != k.Kid {
			return nil, fmt.Errorf("kid %v, want %s", tk.Header["kid"], k.Kid)
		}
		return pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("forge/invocation-token"),
		jwt.WithAudience("ari:cloud:ecosystem::app/"+f.AppID), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("the FIT does not verify with the JWKS: %v", err)
	}
	app, _ := claims["app"].(map[string]any)
	ctx, _ := claims["context"].(map[string]any)
	if claims["principal"] != "acct-42-0" || app["installationId"] != in.ID || app["apiBaseUrl"] != in.APIBaseURL ||
		ctx["cloudId"] != in.CloudID || ctx["siteUrl"] != "https://127.0.0.1:9/site-42" {
		t.Fatalf("claims: %v", claims)
	}
	other, _ := NewForge()
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &other.key.PublicKey, nil }); err == nil {
		t.Fatal("the FIT verifies with another key")
	}
}

// TestProfilerTakesCPUAndAllocs profiles this test process through
// net/http/pprof, as the harness does the app through PPROF_ADDR, and
// reads the top entries back with go tool pprof.
func TestProfilerTakesCPUAndAllocs(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dir := t.TempDir()
	p := &Profiler{Base: srv.URL, Dir: dir}
	wait := p.Take(context.Background(), "unit", 0, 10*time.Millisecond, 1)
	var sink [][]byte
	for deadline := time.Now().Add(1200 * time.Millisecond); time.Now().Before(deadline); {
		sink = append(sink, make([]byte, 1024))
		if len(sink) > 1000 {
			sink = sink[:0]
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"cpu", "allocs"} {
		if fi, err := os.Stat(filepath.Join(dir, "unit."+kind+".0.pb.gz")); err != nil || fi.Size() == 0 {
			t.Fatalf("%s profile: %v", kind, err)
		}
	}
	path, err := Tops(context.Background(), dir, "unit", 10)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{"## CPU, flat", "## CPU, cumulative", "## allocated bytes, flat", "flat%"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("%s lacks %q:\n%s", path, want, raw)
		}
	}
	srv.Close()
	if err := p.Take(context.Background(), "gone", 0, 0, 1)(); err == nil {
		t.Error("a profile from a closed listener did not fail")
	}
}

// TestEnsureACEChecksTheVersion: installed dependencies are used as they
// are, but only with the pinned atlassian-connect-express.
func TestEnsureACEChecksTheVersion(t *testing.T) {
	for _, tt := range []struct {
		given   string
		wantErr bool
	}{{ACEVersion, false}, {"11.0.0", true}} {
		dir := t.TempDir()
		pkg := filepath.Join(dir, "node_modules", "atlassian-connect-express")
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "package.json"), []byte(`{"version":"`+tt.given+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		err := EnsureACE(context.Background(), dir)
		if (err != nil) != tt.wantErr {
			t.Errorf("installed %s: %v, want error %v", tt.given, err, tt.wantErr)
		}
	}
}

func TestEachSendsEveryRequestOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Query().Get("i")]++
		mu.Unlock()
		if r.URL.Query().Get("i") == "bad" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	if err := Each(context.Background(), 8, 100, func(i int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/?i=%d", srv.URL, i), nil)
		return req
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 100 {
		t.Fatalf("%d distinct requests, want 100", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("request %s sent %d times", k, n)
		}
	}
	err := Each(context.Background(), 2, 1, func(int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/?i=bad", nil)
		return req
	})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a 401 was not reported: %v", err)
	}
}

// TestSeedForgeTwins: with ForgeTwins, each seeded tenant has a Forge
// installation beside it (InstallationOf) with the same agents and fresh
// memberships, so that the FIT scenario asks nothing of Jira.
func TestSeedForgeTwins(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "seed.db")
	key := make([]byte, 32)
	spec := Spec{Tenants: 2, ProjectsPerTenant: 2, AgentsPerTenant: 4, OnlineEvery: 2, ForgeTwins: true}
	ds, err := Seed(ctx, url, key, spec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	store, err := models.Open(ctx, models.StoreConfig{URL: url, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i, ct := range ds.Tenants {
		inst := InstallationOf(i)
		tn, err := store.TenantByClientKey(ctx, inst.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !tn.IsForge() || !tn.Active() || tn.Forge.CloudID != inst.CloudID || tn.ID == ct.ID {
			t.Fatalf("installation %d: %+v", i, tn)
		}
		projects, checked, err := store.Memberships(ctx, tn.ID, ct.Agents[0])
		if err != nil || len(projects) != 2 || checked == nil {
			t.Fatalf("installation %d's first agent: %d projects, checked %v, %v", i, len(projects), checked, err)
		}
	}
}
