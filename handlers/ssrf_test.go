package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"agentpresence/models"
)

// TestInstallRefusesBaseURLsThatAreNotPublicJira: an install may not point
// the app at the cloud metadata service, a private network or this
// machine, nor at plain http: 400 invalid_base_url, nothing stored. The
// refused addresses are only ever parsed, never dialled. (The harness
// allows http on loopback explicitly, as the tests' Jira runs there.)
func TestInstallRefusesBaseURLsThatAreNotPublicJira(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	for _, base := range []string{
		"http://169.254.169.254/latest/meta-data",
		"https://169.254.169.254",
		"https://[fd00:ec2::254]",
		"https://10.0.0.5",
		"https://192.168.1.10:8443/jira",
		"https://[::ffff:172.16.0.1]",
		"http://acme.atlassian.net",
		"ftp://acme.atlassian.net",
		"https://user:pw@acme.atlassian.net",
		"https://acme.atlassian.net?x=1",
		"https://" + strings.Repeat("a", 600) + ".atlassian.net",
	} {
		t.Run(base, func(t *testing.T) {
			err := sendInstall(t, site, "-", func(b []byte) []byte {
				var body map[string]any
				if err := json.Unmarshal(b, &body); err != nil {
					t.Fatal(err)
				}
				body["baseUrl"] = base
				out, err := json.Marshal(body)
				if err != nil {
					t.Fatal(err)
				}
				return out
			})
			if got := statusOf(t, err); got != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", got)
			}
			if _, err := env.store.TenantByClientKey(context.Background(), site.ClientKey()); !errors.Is(err, models.ErrNotFound) {
				t.Fatalf("the install was stored: %v", err)
			}
		})
	}
	// The simulated site itself (http on loopback, allowed by this
	// harness's configuration) installs.
	if got := statusOf(t, sendInstall(t, site, "-", nil)); got != http.StatusNoContent {
		t.Fatalf("the loopback site: %d", got)
	}
}
