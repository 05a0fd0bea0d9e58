package jira_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/forge/forgetest"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
)

func accountsAt(at time.Time, ids ...string) []models.ReportedAccount {
	out := make([]models.ReportedAccount, 0, len(ids))
	for _, id := range ids {
		out = append(out, models.ReportedAccount{AccountID: id, UpdatedAt: at})
	}
	return out
}

// TestReportAccountsConnect: a Connect tenant reports to its site's
// /app/report-accounts/ signed as the app (qsh of the request, no sub,
// checked by the stand-in): the published closed test account comes back
// closed, the active one needs nothing (204), an updated account is
// listed until reported with a later time; Cycle-Period and a 429's
// Retry-After are read; other refusals are errors.
func TestReportAccountsConnect(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	site, base := jiratest.Served(t, jiratest.Options{AppKey: "io.example.presence", Now: clock.Now})
	api := site.Privacy()
	tenant := models.Tenant{ID: 1, ClientKey: site.ClientKey(), BaseURL: base, SharedSecret: site.SharedSecret()}
	pd := &jira.PersonalData{Client: &jira.Client{AppKey: "io.example.presence", Now: clock.Now, Targets: jira.TargetPolicy{AllowLoopback: true}}}
	ctx := context.Background()
	before := clock.Now().Add(-time.Hour)

	got, err := pd.ReportAccounts(ctx, tenant, accountsAt(before, jiratest.TestActiveAccount))
	if err != nil || len(got.Closed)+len(got.Updated) != 0 || got.RetryAfter != 0 {
		t.Fatalf("the active test account: %+v %v", got, err)
	}
	api.SetUpdated("557058:bob")
	api.SetCyclePeriod("P3D")
	got, err = pd.ReportAccounts(ctx, tenant, accountsAt(before, jiratest.TestActiveAccount, jiratest.TestClosedAccount, "557058:bob"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Closed, []string{jiratest.TestClosedAccount}) || !slices.Equal(got.Updated, []string{"557058:bob"}) || got.CyclePeriod != 72*time.Hour {
		t.Fatalf("closed, updated and the cycle: %+v", got)
	}
	// bob, refreshed after the update, needs nothing any more.
	got, err = pd.ReportAccounts(ctx, tenant, accountsAt(clock.Now().Add(time.Second), "557058:bob"))
	if err != nil || len(got.Updated) != 0 {
		t.Fatalf("bob refreshed: %+v %v", got, err)
	}

	api.Throttle("120")
	got, err = pd.ReportAccounts(ctx, tenant, accountsAt(before, jiratest.TestClosedAccount))
	if err != nil || got.RetryAfter != 120*time.Second || len(got.Closed) != 0 {
		t.Fatalf("a 429: %+v %v", got, err)
	}
	api.Throttle("")
	if got, err = pd.ReportAccounts(ctx, tenant, accountsAt(before, jiratest.TestClosedAccount)); err != nil || got.RetryAfter != time.Minute {
		t.Fatalf("a 429 without Retry-After waits a minute: %+v %v", got, err)
	}
	api.FailNext(http.StatusServiceUnavailable)
	var jerr *jira.Error
	if _, err = pd.ReportAccounts(ctx, tenant, accountsAt(before, jiratest.TestClosedAccount)); !errors.As(err, &jerr) || jerr.Status != 503 || !errors.Is(err, jira.ErrUnavailable) {
		t.Fatalf("a 503: %v", err)
	}

	// Refused before sending: more than 90, "unknown", the tombstone.
	var many []string
	for i := range 91 {
		many = append(many, fmt.Sprintf("557058:x%02d", i))
	}
	calls := len(api.Calls())
	for name, batch := range map[string][]models.ReportedAccount{
		"91 accounts": accountsAt(before, many...), "unknown": accountsAt(before, "unknown"),
		"the tombstone": accountsAt(before, models.ErasedAccount), "none": nil,
	} {
		if _, err := pd.ReportAccounts(ctx, tenant, batch); !errors.Is(err, jira.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	if len(api.Calls()) != calls {
		t.Fatal("a refused batch reached the API")
	}

	// The stand-in refuses what the API refuses: a wrong secret, a token
	// acting as a user.
	wrong := tenant
	wrong.SharedSecret = []byte("another secret")
	if _, err := pd.ReportAccounts(ctx, wrong, accountsAt(before, jiratest.TestActiveAccount)); !errors.Is(err, jira.ErrUnauthorized) {
		t.Fatalf("a wrong secret: %v", err)
	}
	for _, c := range api.Calls()[:calls] {
		if c.Auth != jiratest.AuthJWT || c.Status == http.StatusUnauthorized {
			t.Fatalf("a call the stand-in refused or did not take as the app's JWT: %+v", c)
		}
		for _, a := range c.Accounts {
			if _, err := time.Parse(time.RFC3339, a.UpdatedAt); err != nil {
				t.Fatalf("updatedAt %q", a.UpdatedAt)
			}
		}
	}
}

// TestReportAccountsForge: a Forge installation reports to the Atlassian
// API host (here the stand-in's) with its app system token.
func TestReportAccountsForge(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	site, base := jiratest.Served(t, jiratest.Options{AppKey: "io.example.presence", Now: clock.Now})
	platform, err := forgetest.New("0d3e7a52-6f1b-4c8e-9e2a-5b7c1d9f4a60", forgetest.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(platform.Close)
	inst := forgetest.NewInstallation("https://api.atlassian.com/ex/jira/c1", "https://acme.atlassian.net")
	site.EnableForge(jiratest.ForgeOptions{Tokens: platform, InstallationID: inst.ID, CloudID: inst.CloudID})
	token, exp, err := platform.SystemToken(inst)
	if err != nil {
		t.Fatal(err)
	}
	tenant := models.Tenant{ID: 2, ClientKey: inst.ID, BaseURL: inst.APIBaseURL, SharedSecret: []byte(token),
		Forge: models.ForgeInstallation{CloudID: inst.CloudID, TokenExpiresAt: &exp}}
	pd := &jira.PersonalData{ForgeURL: base,
		Client: &jira.Client{AppKey: "io.example.presence", Now: clock.Now, Targets: jira.TargetPolicy{AllowLoopback: true}}}
	got, err := pd.ReportAccounts(context.Background(), tenant, accountsAt(clock.Now(), jiratest.TestClosedAccount, jiratest.TestActiveAccount))
	if err != nil || !slices.Equal(got.Closed, []string{jiratest.TestClosedAccount}) {
		t.Fatalf("forge report: %+v %v", got, err)
	}
	calls := site.Privacy().Calls()
	if len(calls) != 1 || calls[0].Auth != jiratest.AuthForgeSystem {
		t.Fatalf("calls %+v", calls)
	}
	// An expired system token sends nothing.
	clock.Advance(4 * time.Hour)
	if _, err := pd.ReportAccounts(context.Background(), tenant, accountsAt(clock.Now(), jiratest.TestActiveAccount)); !errors.Is(err, jira.ErrNoSystemToken) {
		t.Fatalf("expired token: %v", err)
	}
	if len(site.Privacy().Calls()) != 1 {
		t.Fatal("a call went out with an expired token")
	}
}

// TestParseCyclePeriod: the undocumented header's forms.
func TestParseCyclePeriod(t *testing.T) {
	day := 24 * time.Hour
	for given, expect := range map[string]time.Duration{
		"P7D": 7 * day, "PT168H": 7 * day, "P1DT12H": 36 * time.Hour, "P2W": 14 * day, "p3d": 3 * day,
		"604800": 7 * day, "7": 7 * day, "1": day, "PT1H": day, "P90D": 30 * day, "999999999": 30 * day,
		"": 0, "soon": 0, "P": 0, "PT": 0, "P7": 0, "P1Y": 0, "-5": 0, "0": 0, "5000": 0, "P1DT2D": 0,
	} {
		if got := jira.ParseCyclePeriod(given); got != expect {
			t.Errorf("ParseCyclePeriod(%q) = %s, want %s", given, got, expect)
		}
	}
}

// TestReportingStandInRefusesAUserToken: the stand-in takes only the app
// acting as itself: a token with the request's qsh but a sub is refused.
func TestReportingStandInRefusesAUserToken(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	site, base := jiratest.Served(t, jiratest.Options{AppKey: "io.example.presence", Now: clock.Now})
	for _, sub := range []string{"557058:alice", ""} {
		req, err := http.NewRequest(http.MethodPost, base+jira.ReportAccountsPath,
			strings.NewReader(`{"accounts":[{"accountId":"5be24ad8b1653240376955d2","updatedAt":"2026-11-25T08:00:00Z"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := connect.NewRequestToken("io.example.presence", sub, http.MethodPost, req.URL, "/jira", site.SharedSecret(), clock.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "JWT "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: http.StatusUnauthorized, false: http.StatusNoContent}[sub != ""]; resp.StatusCode != want {
			t.Fatalf("sub %q: status %d, want %d", sub, resp.StatusCode, want)
		}
	}
}
