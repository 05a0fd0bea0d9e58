package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"agentpresence/app/jirasim"
	"agentpresence/handlers"
	"agentpresence/models"
)

// Accounts of the admin fixture.
const (
	adminAda   = "557058:ada"   // Jira admin, admin of HELP
	agentAlice = "557058:alice" // agent of HELP and IT
	agentBob   = "557058:bob"   // agent of HELP
)

// adminFixture is the real router and store with a simulated Jira that
// answers the permission checks.
type adminFixture struct {
	env      *testEnv
	site     *jirasim.Site
	tenant   models.Tenant
	projects map[string]models.Project
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	return newAdminFixtureWith(t, nil)
}

// newAdminFixtureWith lets a test adjust the router's dependencies.
func newAdminFixtureWith(t *testing.T, adjust func(*handlers.Deps)) *adminFixture {
	t.Helper()
	return newAdminFixtureOn(t, models.DialectSQLite, adjust)
}

// newAdminFixtureOn builds the fixture on a given database.
func newAdminFixtureOn(t *testing.T, dialect models.Dialect, adjust func(*handlers.Deps)) *adminFixture {
	t.Helper()
	env := newTestEnvWith(t, dialect, adjust)
	// The install key signs nothing here; the binary's shared one costs nothing.
	site, err := jirasim.New(jirasim.Options{AppKey: "io.example.presence", InstallKey: installKey(), Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	if err := site.SetBaseURL(srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := site.SetAppBaseURL(testBaseURL); err != nil {
		t.Fatal(err)
	}
	for _, p := range []jirasim.ProjectSpec{{ID: 10001, Key: "HELP"}, {ID: 10002, Key: "IT"}} {
		if err := site.AddProject(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []jirasim.UserSpec{
		{AccountID: adminAda, JiraAdmin: true, ProjectAdmin: []string{"HELP"}},
		{AccountID: agentAlice, Agent: []string{"HELP", "IT"}},
		{AccountID: agentBob, Agent: []string{"HELP"}},
	} {
		if err := site.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	tenant, err := env.store.SaveInstall(ctx, models.Install{ClientKey: site.ClientKey(), SharedSecret: site.SharedSecret(), BaseURL: srv.URL}, env.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	refs := []models.ProjectRef{{JiraID: "10001", ServiceDeskID: "1", Key: "HELP", Name: "Help desk"}, {JiraID: "10002", ServiceDeskID: "2", Key: "IT", Name: "IT"}}
	ps, err := env.store.SyncProjects(ctx, tenant.ID, refs, env.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &adminFixture{env: env, site: site, tenant: tenant, projects: map[string]models.Project{}}
	for _, p := range ps {
		f.projects[p.Key] = p
	}
	return f
}

// set changes a status at the fixture clock's time.
func (f *adminFixture) set(t *testing.T, account string, online bool, source models.Source, reason string, keys ...string) {
	t.Helper()
	var ids []int64
	for _, k := range keys {
		ids = append(ids, f.projects[k].ID)
	}
	ch := models.StatusChange{AccountID: account, ProjectIDs: ids, To: models.StateFor(online), Source: source, Reason: reason}
	if source == models.SourceAdmin {
		ch.Actor = adminAda
	}
	if _, err := f.env.store.SetStatus(context.Background(), f.tenant.ID, ch, f.env.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

func (f *adminFixture) get(t *testing.T, target, account string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, f.env, http.MethodGet, target, f.site.ContextToken(account), "")
}

func TestAdminReadsAreForJiraAdminsOnly(t *testing.T) {
	f := newAdminFixture(t)
	for _, target := range []string{"/api/v1/admin/online", "/api/v1/admin/events", "/api/v1/admin/events?format=csv", "/api/v1/admin/report"} {
		rec := f.get(t, target, agentAlice)
		var body errorJSON
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusForbidden || body.Error.Code != "forbidden" {
			t.Errorf("%s as an agent: %d %s", target, rec.Code, rec.Body)
		}
		if rec := do(t, f.env, http.MethodGet, target, "", ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", target, rec.Code)
		}
	}
}

func TestAdminOnline(t *testing.T) {
	f := newAdminFixture(t)
	f.set(t, agentAlice, true, models.SourceManual, "", "HELP", "IT")
	f.set(t, agentBob, true, models.SourceManual, "", "HELP")
	f.set(t, agentBob, false, models.SourceManual, "", "HELP")

	rec := f.get(t, "/api/v1/admin/online", adminAda)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got struct {
		Projects []struct {
			Key         string `json:"key"`
			OnlineCount int    `json:"onlineCount"`
		} `json:"projects"`
		Online []struct {
			Project   string `json:"project"`
			AccountID string `json:"accountId"`
			Source    string `json:"source"`
		} `json:"online"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Projects) != 2 || got.Projects[0].Key != "HELP" || got.Projects[0].OnlineCount != 1 || got.Projects[1].OnlineCount != 1 {
		t.Fatalf("projects: %+v", got.Projects)
	}
	if len(got.Online) != 2 || got.Online[0].AccountID != agentAlice || got.Online[0].Source != "manual" {
		t.Fatalf("online: %+v", got.Online)
	}
}

func TestAdminEvents(t *testing.T) {
	f := newAdminFixture(t)
	f.set(t, agentAlice, true, models.SourceManual, "", "HELP")
	f.env.clock.Advance(time.Hour)
	f.set(t, agentBob, true, models.SourceManual, "", "HELP")
	f.env.clock.Advance(time.Hour)
	f.set(t, agentAlice, false, models.SourceAdmin, `=HYPERLINK("http://evil","x"), then "quoted"`, "HELP")
	f.env.clock.Advance(time.Hour)
	f.set(t, agentAlice, true, models.SourceManual, "", "IT")

	type events struct {
		Events []struct {
			ID             int64     `json:"id"`
			At             time.Time `json:"at"`
			Project        string    `json:"project"`
			AccountID      string    `json:"accountId"`
			ToOnline       bool      `json:"toOnline"`
			Source         string    `json:"source"`
			ActorAccountID string    `json:"actorAccountId"`
		} `json:"events"`
		NextBefore int64 `json:"nextBefore"`
	}
	tests := []struct {
		name   string
		query  string
		status int
		want   []string // account@project:source of the answer, newest first
		next   bool
	}{
		{name: "all", query: "", status: 200, want: []string{"alice@IT:manual", "alice@HELP:admin", "bob@HELP:manual", "alice@HELP:manual"}},
		{name: "by project", query: "project=IT", status: 200, want: []string{"alice@IT:manual"}},
		{name: "by agent", query: "accountId=" + agentBob, status: 200, want: []string{"bob@HELP:manual"}},
		{name: "by source", query: "source=admin", status: 200, want: []string{"alice@HELP:admin"}},
		{name: "by period", query: "from=2026-11-25T10:00:00Z&to=2026-11-25T11:30:00Z", status: 200, want: []string{"alice@HELP:admin", "bob@HELP:manual"}},
		{name: "by day", query: "from=2026-11-25&to=2026-11-26", status: 200, want: []string{"alice@IT:manual", "alice@HELP:admin", "bob@HELP:manual", "alice@HELP:manual"}},
		{name: "paged", query: "limit=2", status: 200, want: []string{"alice@IT:manual", "alice@HELP:admin"}, next: true},
		{name: "unknown project", query: "project=NOPE", status: 400},
		{name: "unknown source", query: "source=magic", status: 400},
		{name: "bad time", query: "from=yesterday", status: 400},
		{name: "bad limit", query: "limit=0", status: 400},
		{name: "bad format", query: "format=xml", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.get(t, "/api/v1/admin/events?"+tt.query, adminAda)
			if rec.Code != tt.status {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if tt.status != http.StatusOK {
				return
			}
			var got events
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			var short []string
			for _, e := range got.Events {
				short = append(short, strings.TrimPrefix(e.AccountID, "557058:")+"@"+e.Project+":"+e.Source)
			}
			if strings.Join(short, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("got %v, want %v", short, tt.want)
			}
			if (got.NextBefore != 0) != tt.next {
				t.Fatalf("nextBefore %d", got.NextBefore)
			}
		})
	}

	t.Run("next page", func(t *testing.T) {
		var first events
		_ = json.Unmarshal(f.get(t, "/api/v1/admin/events?limit=2", adminAda).Body.Bytes(), &first)
		var second events
		rec := f.get(t, "/api/v1/admin/events?limit=2&before="+jsonNumber(first.NextBefore), adminAda)
		_ = json.Unmarshal(rec.Body.Bytes(), &second)
		if len(second.Events) != 2 || second.Events[0].AccountID != agentBob {
			t.Fatalf("second page: %s", rec.Body)
		}
	})

	t.Run("csv", func(t *testing.T) {
		rec := f.get(t, "/api/v1/admin/events?format=csv&source=admin", adminAda)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") ||
			!strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
			t.Fatalf("%d %v", rec.Code, rec.Header())
		}
		body := rec.Body.String()
		if !strings.Contains(body, "\r\n") {
			t.Fatalf("RFC 4180 wants CRLF line ends: %q", body)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"id", "at", "project", "accountId", "from", "to", "source", "actorAccountId", "reason"}
		if len(rows) != 2 || strings.Join(rows[0], ",") != strings.Join(want, ",") {
			t.Fatalf("rows: %q", rows)
		}
		r := rows[1]
		if r[1] != "2026-11-25T11:00:00Z" || r[2] != "HELP" || r[3] != agentAlice || r[4] != "online" || r[5] != "offline" || r[6] != "admin" || r[7] != adminAda {
			t.Fatalf("row: %q", r)
		}
		if r[8] != `'=HYPERLINK("http://evil","x"), then "quoted"` {
			t.Fatalf("the reason must be defused and round-trip through RFC 4180 quoting: %q", r[8])
		}
		if !strings.Contains(body, `"'=HYPERLINK(""http://evil"",""x""), then ""quoted"""`) {
			t.Fatalf("quotes must be doubled inside a quoted cell: %q", body)
		}
	})
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestAdminReport(t *testing.T) {
	f := newAdminFixture(t)
	// The clock starts at 2026-11-25 09:00 UTC.
	f.set(t, agentAlice, true, models.SourceManual, "", "HELP", "IT")
	f.env.clock.Advance(90 * time.Minute)
	f.set(t, agentAlice, false, models.SourceManual, "", "HELP")
	f.env.clock.Advance(30 * time.Minute) // 11:00: IT kept her online for 2 h in all
	f.set(t, agentAlice, false, models.SourceManual, "", "IT")
	f.set(t, agentBob, true, models.SourceManual, "", "HELP")
	f.env.clock.Advance(15 * time.Hour) // 02:00 on the 26th, Bob still online

	type report struct {
		From   time.Time `json:"from"`
		To     time.Time `json:"to"`
		Days   []string  `json:"days"`
		Agents []struct {
			AccountID    string  `json:"accountId"`
			TotalSeconds int64   `json:"totalSeconds"`
			Seconds      []int64 `json:"seconds"`
		} `json:"agents"`
	}
	rec := f.get(t, "/api/v1/admin/report?from=2026-11-25&to=2026-11-27", adminAda)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got report
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Days, ",") != "2026-11-25,2026-11-26" || len(got.Agents) != 2 {
		t.Fatalf("%s", rec.Body)
	}
	alice, bob := got.Agents[0], got.Agents[1]
	if alice.AccountID != agentAlice || alice.Seconds[0] != 2*3600 || alice.Seconds[1] != 0 || alice.TotalSeconds != 2*3600 {
		t.Fatalf("alice: %+v", alice)
	}
	if bob.AccountID != agentBob || bob.Seconds[0] != 13*3600 || bob.Seconds[1] != 2*3600 {
		t.Fatalf("bob: %+v", bob)
	}

	rec = f.get(t, "/api/v1/admin/report?from=2026-11-25&to=2026-11-27&project=IT", adminAda)
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	if len(got.Agents) != 1 || got.Agents[0].TotalSeconds != 2*3600 {
		t.Fatalf("IT only: %s", rec.Body)
	}

	rec = f.get(t, "/api/v1/admin/report", adminAda)
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	if rec.Code != http.StatusOK || len(got.Days) != 7 || got.Days[6] != "2026-11-26" {
		t.Fatalf("default period: %s", rec.Body)
	}

	for _, q := range []string{"from=2026-01-01&to=2026-11-01", "from=2026-11-26&to=2026-11-25", "project=NOPE", "to=soon"} {
		if rec := f.get(t, "/api/v1/admin/report?"+q, adminAda); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, rec.Code, rec.Body)
		}
	}
}

// TestPutOfflineUnescapesTheAccount: pages escape the colon of account ids
// (encodeURIComponent); the escaped and the plain path reach the same agent.
func TestPutOfflineUnescapesTheAccount(t *testing.T) {
	f := newAdminFixture(t)
	for _, path := range []string{"557058%3Aalice", "557058:alice"} {
		f.set(t, agentAlice, true, models.SourceManual, "", "HELP")
		rec := do(t, f.env, http.MethodPost, "/api/v1/projects/HELP/agents/"+path+"/offline", f.site.ContextToken(adminAda), "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"changed":1`) {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		st, err := f.env.store.Statuses(context.Background(), f.tenant.ID, agentAlice)
		if err != nil || len(st) != 1 || st[0].Online || st[0].Source != models.SourceAdmin {
			t.Fatalf("%s: %+v %v", path, st, err)
		}
	}
}

// TestEventsCSVIsFormulaSafeWithEitherSeparator: whether a spreadsheet
// splits the export on "," or on ";" (the default where "," is the decimal
// mark), and whatever a reason holds (separators, quotes, line breaks), no
// cell starts with a character that makes it a formula, and every reason
// reads back whole.
func TestEventsCSVIsFormulaSafeWithEitherSeparator(t *testing.T) {
	f := newAdminFixture(t)
	reasons := []string{
		`x;=cmd|' /C calc'!A0`,
		"x\n=cmd|' /C calc'!A0",
		"x\r\n@SUM(1+1)*cmd|' /C calc'!A0",
		"x,+1+1",
		"-2+3",
		"\t=1+1",
		`y";=1+1;"`,
	}
	for _, r := range reasons {
		f.set(t, agentAlice, true, models.SourceManual, "", "HELP")
		f.set(t, agentAlice, false, models.SourceAdmin, r, "HELP")
	}
	rec := f.get(t, "/api/v1/admin/events?format=csv&source=admin", adminAda)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	for _, sep := range []rune{',', ';'} {
		rd := csv.NewReader(strings.NewReader(rec.Body.String()))
		rd.Comma = sep
		// A spreadsheet reads a quote in mid-field as text.
		rd.LazyQuotes = sep != ','
		rd.FieldsPerRecord = -1
		rows, err := rd.ReadAll()
		if err != nil {
			t.Fatalf("separator %q: %v", sep, err)
		}
		if sep == ',' && len(rows) != len(reasons)+1 {
			t.Fatalf("%d rows, want %d: %q", len(rows), len(reasons)+1, rows)
		}
		for _, row := range rows {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("separator %q: cell %q starts a formula", sep, cell)
				}
			}
		}
	}
	rows, _ := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
	// Read back with the file's own separator, the reasons are whole; only
	// the apostrophes that defuse a formula were added.
	got := map[string]bool{}
	atStart := regexp.MustCompile(`^'([=+\-@\t\r\n])`)
	afterSeparator := regexp.MustCompile(`([,;\t\r\n])'([=+\-@])`)
	for _, row := range rows[1:] {
		got[afterSeparator.ReplaceAllString(atStart.ReplaceAllString(row[8], "$1"), "$1$2")] = true
	}
	for _, r := range reasons {
		// A CSV reader reads a CRLF inside a cell as LF.
		r = strings.ReplaceAll(r, "\r\n", "\n")
		if !got[r] {
			t.Errorf("reason %q did not read back: %v", r, got)
		}
	}
}
