package handlers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/jira"
	"agentpresence/models"
)

// AdminStore is what the admin read API needs of the store.
type AdminStore interface {
	Projects(ctx context.Context, tenant models.TenantID) ([]models.Project, error)
	AllOnline(ctx context.Context, tenant models.TenantID) ([]models.Status, error)
	AllAway(ctx context.Context, tenant models.TenantID) ([]models.Status, error)
	Events(ctx context.Context, tenant models.TenantID, f models.EventFilter) ([]models.Event, error)
	Report(ctx context.Context, tenant models.TenantID, q models.ReportQuery, now time.Time) (models.Report, error)
}

// Admin is the read API of the Jira admin page: who is online across
// projects, the audit log and the time-online report. Jira administrators
// only, checked with Jira on every call (cached briefly by the directory).
type Admin struct {
	Store     AdminStore
	Directory *jira.Directory
	Now       func() time.Time
}

// Limits of the admin read API.
const (
	defaultEventsLimit = 100
	maxEventsLimit     = 10000
)

func (a *Admin) requireJiraAdmin(c echo.Context) error {
	account := accountOf(c)
	if account == "" {
		return unauthorized("no_user", "the token does not name a user")
	}
	ok, err := a.Directory.JiraAdmin(c.Request().Context(), tenantOf(c), account)
	if err != nil {
		return err
	}
	if !ok {
		return said(http.StatusForbidden, "forbidden", "forbidden.jira_admin_page", nil)
	}
	return nil
}

// adminProject is one project with its online and away counts.
type adminProject struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	OnlineCount int    `json:"onlineCount"`
	AwayCount   int    `json:"awayCount"`
}

// adminOnline is one online (or away) status.
type adminOnline struct {
	Project    string     `json:"project"`
	AccountID  string     `json:"accountId"`
	State      string     `json:"state"`
	AwayReason string     `json:"awayReason,omitempty"`
	Since      time.Time  `json:"since"`
	Until      *time.Time `json:"until,omitempty"`
	Source     string     `json:"source"`
}

// adminOnlineResponse lists the online statuses and, apart, the away ones.
type adminOnlineResponse struct {
	Projects []adminProject `json:"projects"`
	Online   []adminOnline  `json:"online"`
	Away     []adminOnline  `json:"away"`
}

// Online lists every online and away status of the tenant, with the
// projects.
func (a *Admin) Online(c echo.Context) error {
	if err := a.requireJiraAdmin(c); err != nil {
		return err
	}
	ctx, t := c.Request().Context(), tenantOf(c)
	projects, err := a.Store.Projects(ctx, t.ID)
	if err != nil {
		return err
	}
	st, err := a.Store.AllOnline(ctx, t.ID)
	if err != nil {
		return err
	}
	away, err := a.Store.AllAway(ctx, t.ID)
	if err != nil {
		return err
	}
	keys := make(map[int64]string, len(projects))
	online, awayCount := make(map[int64]int, len(projects)), make(map[int64]int, len(projects))
	resp := adminOnlineResponse{Projects: make([]adminProject, 0, len(projects)), Online: make([]adminOnline, 0, len(st)),
		Away: make([]adminOnline, 0, len(away))}
	for _, p := range projects {
		keys[p.ID] = p.Key
	}
	for _, list := range []struct {
		statuses []models.Status
		counts   map[int64]int
		out      *[]adminOnline
	}{{st, online, &resp.Online}, {away, awayCount, &resp.Away}} {
		for _, s := range list.statuses {
			key, ok := keys[s.ProjectID]
			if !ok {
				continue
			}
			list.counts[s.ProjectID]++
			*list.out = append(*list.out, adminOnline{Project: key, AccountID: s.AccountID, State: string(s.State),
				AwayReason: s.AwayReason, Since: s.Since.UTC(), Until: utcPtr(s.Until), Source: string(s.Source)})
		}
	}
	for _, p := range projects {
		resp.Projects = append(resp.Projects, adminProject{Key: p.Key, Name: p.Name, OnlineCount: online[p.ID], AwayCount: awayCount[p.ID]})
	}
	return jsonWithETag(c, resp) // the admin page polls it
}

// adminEvent is one status change of the audit log.
type adminEvent struct {
	ID             int64     `json:"id"`
	At             time.Time `json:"at"`
	Project        string    `json:"project"`
	AccountID      string    `json:"accountId"`
	FromOnline     bool      `json:"fromOnline"`
	ToOnline       bool      `json:"toOnline"`
	FromState      string    `json:"fromState"`
	ToState        string    `json:"toState"`
	Source         string    `json:"source"`
	ActorAccountID string    `json:"actorAccountId,omitempty"`
	Reason         string    `json:"reason,omitempty"`
}

type adminEventsResponse struct {
	Events []adminEvent `json:"events"`
	// NextBefore pages on: pass it as before= for older events.
	NextBefore int64 `json:"nextBefore,omitempty"`
}

// Events answers the audit log, newest first, as JSON or CSV.
func (a *Admin) Events(c echo.Context) error {
	// The parameters' shapes were checked at the edge (checkParams).
	format := c.QueryParam("format")
	limit := defaultEventsLimit
	if format == "csv" {
		limit = maxEventsLimit
	}
	var err error
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = parseEventsLimit(v); err != nil {
			return paramError("limit", "problem.between", args{"Min": 1, "Max": maxEventsLimit})
		}
	}
	f := models.EventFilter{AccountID: c.QueryParam("accountId"), Source: models.Source(c.QueryParam("source")), Limit: limit}
	if f.From, err = timeParam(c, "from"); err != nil {
		return err
	}
	if f.To, err = timeParam(c, "to"); err != nil {
		return err
	}
	if v := c.QueryParam("before"); v != "" {
		if f.BeforeID, err = parseBeforeID(v); err != nil {
			return paramError("before", "problem.event_id", nil)
		}
	}
	if err := a.requireJiraAdmin(c); err != nil {
		return err
	}
	ctx, t := c.Request().Context(), tenantOf(c)
	keys, err := a.projectKeys(ctx, t.ID)
	if err != nil {
		return err
	}
	if key := c.QueryParam("project"); key != "" {
		if f.ProjectID = projectIDOf(keys, key); f.ProjectID == 0 {
			return paramError("project", "problem.unknown_project", nil)
		}
	}
	evs, err := a.Store.Events(ctx, t.ID, f)
	if err != nil {
		return err
	}
	out := make([]adminEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, adminEvent{ID: e.ID, At: e.At.UTC(), Project: keys[e.ProjectID], AccountID: e.AccountID,
			FromOnline: e.FromOnline, ToOnline: e.ToOnline, FromState: string(e.FromState), ToState: string(e.ToState),
			Source: string(e.Source), ActorAccountID: e.ActorAccountID, Reason: e.Reason})
	}
	if format == "csv" {
		return writeEventsCSV(c, out, a.Now())
	}
	resp := adminEventsResponse{Events: out}
	if len(evs) == limit {
		resp.NextBefore = evs[len(evs)-1].ID
	}
	return c.JSON(http.StatusOK, resp)
}

func (a *Admin) projectKeys(ctx context.Context, tenant models.TenantID) (map[int64]string, error) {
	projects, err := a.Store.Projects(ctx, tenant)
	if err != nil {
		return nil, err
	}
	keys := make(map[int64]string, len(projects))
	for _, p := range projects {
		keys[p.ID] = p.Key
	}
	return keys, nil
}

func projectIDOf(keys map[int64]string, key string) int64 {
	for id, k := range keys {
		if k == key {
			return id
		}
	}
	return 0
}

// writeEventsCSV writes RFC 4180 CSV (CRLF line ends) with a header row,
// safe to open whichever separator a spreadsheet assumes (OWASP's CSV
// injection rules, csvField). A reason typed by one admin must not execute
// on another's machine.
func writeEventsCSV(c echo.Context, evs []adminEvent, now time.Time) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="status-changes-%s.csv"`, now.UTC().Format("20060102-150405")))
	c.Response().WriteHeader(http.StatusOK)
	w := bufio.NewWriter(c.Response())
	// from and to are the states: online, away or offline.
	writeCSVRow(w, "id", "at", "project", "accountId", "from", "to", "source", "actorAccountId", "reason")
	for _, e := range evs {
		writeCSVRow(w, strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339), e.Project, e.AccountID,
			e.FromState, e.ToState, e.Source, e.ActorAccountID, e.Reason)
	}
	return w.Flush()
}

// writeCSVRow writes one row of csvField cells.
func writeCSVRow(w *bufio.Writer, cells ...string) {
	for i, v := range cells {
		if i > 0 {
			_ = w.WriteByte(',')
		}
		_, _ = w.WriteString(csvField(v))
	}
	_, _ = w.WriteString("\r\n") // errors surface at Flush
}

// csvField defuses formula injection (CWE-1236) and quotes the cell where
// either separator, a quote, a tab or a line break could split it.
//
// Quoting protects a cell only from a reader that splits on our separator:
// one that splits on ";" (the default where "," is the decimal mark) sees
// a quote in mid-field as text and starts a cell after every ";" and line
// break inside it. So a formula trigger (= + - @, tab, CR, LF) gets an
// apostrophe wherever a cell may start: at the start and after every ",",
// ";", tab or line break.
func csvField(v string) string {
	if strings.ContainsAny(v, csvTriggers) {
		var b strings.Builder
		b.Grow(len(v) + 8)
		for i := 0; i < len(v); i++ {
			// A tab or a line break is a separator itself after the start.
			if i == 0 && strings.IndexByte(csvTriggers, v[i]) >= 0 ||
				i > 0 && strings.IndexByte(csvFormulaStarts, v[i]) >= 0 && strings.IndexByte(",;\t\r\n", v[i-1]) >= 0 {
				b.WriteByte('\'')
			}
			b.WriteByte(v[i])
		}
		v = b.String()
	}
	if strings.ContainsAny(v, ",;\"\t\r\n") {
		return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	return v
}

// csvTriggers make a spreadsheet cell that starts with them a formula;
// csvFormulaStarts are those that are not separators themselves.
const (
	csvTriggers      = "=+-@\t\r\n"
	csvFormulaStarts = "=+-@"
)

// timeParam reads an instant parameter (parseTime); zero when absent.
func timeParam(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := parseTime(v)
	if err != nil {
		problem, data := timeProblem(err)
		return time.Time{}, paramError(name, problem, data)
	}
	return t, nil
}

// reportAgent is one agent's online seconds per day of the report, and
// apart those away while online nowhere.
type reportAgent struct {
	AccountID        string  `json:"accountId"`
	TotalSeconds     int64   `json:"totalSeconds"`
	Seconds          []int64 `json:"seconds"`
	TotalAwaySeconds int64   `json:"totalAwaySeconds"`
	AwaySeconds      []int64 `json:"awaySeconds"`
}

type reportResponse struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Days are the UTC days of [from, to); Seconds line up with them.
	Days   []string      `json:"days"`
	Agents []reportAgent `json:"agents"`
}

// Report answers how long each agent was online per UTC day, in any
// project (or in one with project=). The period is checked before the
// caller's rights, as every parameter's shape is.
func (a *Admin) Report(c echo.Context) error {
	now := a.Now()
	from, err := timeParam(c, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(c, "to")
	if err != nil {
		return err
	}
	q := models.ReportQuery{From: from, To: to, ProjectKey: c.QueryParam("project")}
	if _, _, err := q.Period(now); err != nil {
		return reportError(err)
	}
	if err := a.requireJiraAdmin(c); err != nil {
		return err
	}
	r, err := a.Store.Report(c.Request().Context(), tenantOf(c).ID, q, now)
	if err != nil {
		return reportError(err)
	}
	resp := reportResponse{From: r.From, To: r.To, Days: make([]string, 0, len(r.Days)), Agents: make([]reportAgent, 0, len(r.Agents))}
	for _, d := range r.Days {
		resp.Days = append(resp.Days, d.Format(time.DateOnly))
	}
	for _, ag := range r.Agents {
		resp.Agents = append(resp.Agents, reportAgent{AccountID: ag.AccountID, TotalSeconds: ag.TotalSeconds, Seconds: ag.Seconds,
			TotalAwaySeconds: ag.TotalAwaySeconds, AwaySeconds: ag.AwaySeconds})
	}
	return c.JSON(http.StatusOK, resp)
}

// reportError answers a query the report cannot be made of as a 400 naming
// the parameter.
func reportError(err error) error {
	var re *models.ReportError
	if errors.As(err, &re) {
		e := paramError(re.Field, "", nil)
		e.Message = re.Message // the report's own words, English only
		return e
	}
	return err
}
