package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
	"agentpresence/models/secretbox"
)

// TestKeyRotationWithoutDowntime rotates APP_SECRET_KEY the way the
// README's runbook says, against the real app and a simulated Jira site
// that signs real tokens: a tenant installed under the old key still
// authenticates once the new key is current (the old one in
// APP_SECRET_KEY_PREVIOUS), `-reseal` moves it to the new key, after which
// the old key alone no longer opens it and the new key alone serves it.
func TestKeyRotationWithoutDowntime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		const appKey = "io.example.presence"
		oldKey := []byte("old-key-old-key-old-key-old-key!")
		newKey := []byte("new-key-new-key-new-key-new-key!")
		site, err := jiratest.New(jiratest.Options{AppKey: appKey})
		if err != nil {
			t.Fatal(err)
		}
		jira := httptest.NewServer(site)
		defer jira.Close()
		if err := site.SetBaseURL(jira.URL); err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{
			site.AddProject(jiratest.ProjectSpec{ID: 10001, Key: "SUP"}),
			site.AddUser(jiratest.UserSpec{AccountID: "agent-1", Agent: []string{"SUP"}}),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		port := freePort(t)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := site.SetAppBaseURL(base); err != nil {
			t.Fatal(err)
		}
		dbURL := dbtest.URL(t, dialect)
		replica := func(key []byte, previous ...[]byte) *App {
			t.Helper()
			cfg := Config{Port: port, BaseURL: base, DatabaseURL: dbURL, AppKey: appKey, AppName: "Presence",
				InstallKeysURL: site.KeysURL(), AppSecretKey: key, AppSecretKeyPrevious: previous, JWTLeeway: 30 * time.Second, JiraAllowLoopback: true}
			a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), os.DirFS(".."), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Start(); err != nil {
				t.Fatal(err)
			}
			return a
		}
		me := func(step string) {
			t.Helper()
			req, err := http.NewRequest(http.MethodGet, base+"/api/v1/me?project=SUP", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "JWT "+site.ContextToken("agent-1"))
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: GET /api/v1/me answered %d", step, resp.StatusCode)
			}
		}
		reseal := func(key []byte, previous ...[]byte) (string, error) {
			t.Helper()
			var prev []string
			for _, k := range previous {
				prev = append(prev, base64.StdEncoding.EncodeToString(k))
			}
			env := map[string]string{"DATABASE_URL": dbURL, "APP_SECRET_KEY": base64.StdEncoding.EncodeToString(key),
				"APP_SECRET_KEY_PREVIOUS": strings.Join(prev, ",")}
			logs := &syncBuffer{}
			err := Main(context.Background(), []string{"-reseal"}, envOf(env), logs, os.DirFS(".."))
			return logs.String(), err
		}

		a := replica(oldKey)
		if err := site.Install(context.Background()); err != nil {
			t.Fatal(err)
		}
		me("before the rotation")
		shutdown(t, a)

		a = replica(newKey, oldKey)
		me("the new key current, the old one previous")
		shutdown(t, a)

		logs, err := reseal(newKey, oldKey)
		if err != nil || !strings.Contains(logs, `"resealed":1`) || !strings.Contains(logs, `"key_id":"`+secretbox.KeyID(newKey)+`"`) {
			t.Fatalf("-reseal: %v\n%s", err, logs)
		}
		if logs, err := reseal(oldKey); !errors.Is(err, secretbox.ErrUnopenable) {
			t.Fatalf("-reseal with the old key alone: %v, want ErrSecretUnopenable: the tenant was not re-sealed\n%s", err, logs)
		}

		a = replica(newKey)
		me("the old key removed")
		shutdown(t, a)
	})
}
