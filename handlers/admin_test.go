package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"agentpresence/models"
)

// newAdmin is a harness with a tenant whose simulated Jira answers the
// permission checks (adminAda, agentAlice, agentBob).
func newAdmin(t testing.TB, opts ...option) *seeded {
	t.Helper()
	return newHarness(t, opts...).seedTenant(t, withJira())
}

func TestAdminReadsAreForJiraAdminsOnly(t *testing.T) {
	f := newAdmin(t)
	// given a caller ("" sends no token), when they GET a target, expect
	// status and code.
	type apiCase struct {
		given, when  string
		expectStatus int
		expectCode   string
	}
	var tests []apiCase
	for _, target := range []string{"/api/v1/admin/online", "/api/v1/admin/events", "/api/v1/admin/events?format=csv", "/api/v1/admin/report"} {
		tests = append(tests,
			apiCase{agentAlice, target, http.StatusForbidden, "forbidden"},
			apiCase{"", target, http.StatusUnauthorized, "no_token"},
			apiCase{adminAda, target, http.StatusOK, ""})
	}
	for _, tt := range tests {
		t.Run(tt.given+" "+tt.when, func(t *testing.T) {
			token := ""
			if tt.given != "" {
				token = f.token(t, tt.given)
			}
			r := f.request(t, http.MethodGet, tt.when, token, "")
			if r.status != tt.expectStatus || tt.expectCode != "" && r.errorCode(t) != tt.expectCode {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.expectStatus, tt.expectCode)
			}
		})
	}
}

func TestAdminOnline(t *testing.T) {
	f := newAdmin(t)
	f.setBy(t, agentAlice, true, models.SourceManual, "", "HELP", "IT")
	f.setBy(t, agentBob, true, models.SourceManual, "", "HELP")
	f.setBy(t, agentBob, false, models.SourceManual, "", "HELP")

	rec := f.get(t, "/api/v1/admin/online", adminAda)
	if rec.status != http.StatusOK {
		t.Fatalf("%d %s", rec.status, rec.body)
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
	if err := json.Unmarshal(rec.body, &got); err != nil {
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
	f := newAdmin(t)
	f.setBy(t, agentAlice, true, models.SourceManual, "", "HELP")
	f.clock.Advance(time.Hour)
	f.setBy(t, agentBob, true, models.SourceManual, "", "HELP")
	f.clock.Advance(time.Hour)
	f.setBy(t, agentAlice, false, models.SourceAdmin, `=HYPERLINK("http://evil","x"), then "quoted"`, "HELP")
	f.clock.Advance(time.Hour)
	f.setBy(t, agentAlice, true, models.SourceManual, "", "IT")

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
			if rec.status != tt.status {
				t.Fatalf("%d %s", rec.status, rec.body)
			}
			if tt.status != http.StatusOK {
				return
			}
			var got events
			if err := json.Unmarshal(rec.body, &got); err != nil {
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
		f.get(t, "/api/v1/admin/events?limit=2", adminAda).decode(t, &first)
		var second events
		rec := f.get(t, "/api/v1/admin/events?limit=2&before="+strconv.FormatInt(first.NextBefore, 10), adminAda)
		rec.decode(t, &second)
		if len(second.Events) != 2 || second.Events[0].AccountID != agentBob {
			t.Fatalf("second page: %s", rec.body)
		}
	})

	t.Run("csv", func(t *testing.T) {
		rec := f.get(t, "/api/v1/admin/events?format=csv&source=admin", adminAda)
		if rec.status != http.StatusOK || !strings.HasPrefix(rec.header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(rec.header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("%d %v", rec.status, rec.header)
		}
		body := string(rec.body)
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

func TestAdminReport(t *testing.T) {
	f := newAdmin(t)
	// The clock starts at 2026-11-25 09:00 UTC.
	f.setBy(t, agentAlice, true, models.SourceManual, "", "HELP", "IT")
	f.clock.Advance(90 * time.Minute)
	f.setBy(t, agentAlice, false, models.SourceManual, "", "HELP")
	f.clock.Advance(30 * time.Minute) // 11:00: IT kept her online for 2 h in all
	f.setBy(t, agentAlice, false, models.SourceManual, "", "IT")
	f.setBy(t, agentBob, true, models.SourceManual, "", "HELP")
	f.clock.Advance(15 * time.Hour) // 02:00 on the 26th, Bob still online

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
	if rec.status != http.StatusOK {
		t.Fatalf("%d %s", rec.status, rec.body)
	}
	var got report
	if err := json.Unmarshal(rec.body, &got); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Days, ",") != "2026-11-25,2026-11-26" || len(got.Agents) != 2 {
		t.Fatalf("%s", rec.body)
	}
	alice, bob := got.Agents[0], got.Agents[1]
	if alice.AccountID != agentAlice || alice.Seconds[0] != 2*3600 || alice.Seconds[1] != 0 || alice.TotalSeconds != 2*3600 {
		t.Fatalf("alice: %+v", alice)
	}
	if bob.AccountID != agentBob || bob.Seconds[0] != 13*3600 || bob.Seconds[1] != 2*3600 {
		t.Fatalf("bob: %+v", bob)
	}

	rec = f.get(t, "/api/v1/admin/report?from=2026-11-25&to=2026-11-27&project=IT", adminAda)
	rec.decode(t, &got)
	if len(got.Agents) != 1 || got.Agents[0].TotalSeconds != 2*3600 {
		t.Fatalf("IT only: %s", rec.body)
	}

	rec = f.get(t, "/api/v1/admin/report", adminAda)
	rec.decode(t, &got)
	if rec.status != http.StatusOK || len(got.Days) != 7 || got.Days[6] != "2026-11-26" {
		t.Fatalf("default period: %s", rec.body)
	}

	for _, q := range []string{"from=2026-01-01&to=2026-11-01", "from=2026-11-26&to=2026-11-25", "project=NOPE", "to=soon"} {
		if rec := f.get(t, "/api/v1/admin/report?"+q, adminAda); rec.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, rec.status, rec.body)
		}
	}
}

// TestPutOfflineUnescapesTheAccount: pages escape the colon of account ids
// (encodeURIComponent); the escaped and the plain path reach the same agent.
func TestPutOfflineUnescapesTheAccount(t *testing.T) {
	f := newAdmin(t)
	for _, path := range []string{"557058%3Aalice", "557058:alice"} {
		f.setBy(t, agentAlice, true, models.SourceManual, "", "HELP")
		rec := f.request(t, http.MethodPost, "/api/v1/projects/HELP/agents/"+path+"/offline", f.token(t, adminAda), "")
		if rec.status != http.StatusOK || !strings.Contains(string(rec.body), `"changed":1`) {
			t.Fatalf("%s: %d %s", path, rec.status, rec.body)
		}
		st, err := f.store.Statuses(context.Background(), f.tenant.ID, agentAlice)
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
	f := newAdmin(t)
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
		f.setBy(t, agentAlice, true, models.SourceManual, "", "HELP")
		f.setBy(t, agentAlice, false, models.SourceAdmin, r, "HELP")
	}
	rec := f.get(t, "/api/v1/admin/events?format=csv&source=admin", adminAda)
	if rec.status != http.StatusOK {
		t.Fatalf("%d %s", rec.status, rec.body)
	}
	for _, sep := range []rune{',', ';'} {
		rd := csv.NewReader(strings.NewReader(string(rec.body)))
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
	rows, err := csv.NewReader(strings.NewReader(string(rec.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
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
