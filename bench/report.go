package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Scenario is one measured workload.
type Scenario struct {
	// ID names the scenario in -scenarios and in profile file names.
	ID       string     `json:"id,omitempty"`
	Name     string     `json:"name"`
	Load     LoadResult `json:"load"`
	CPUCores float64    `json:"cpu_cores"`
	// GeneratorCores is the load generator's CPU in the same slices: it
	// shares the machine's cores with what it measures.
	GeneratorCores float64 `json:"generator_cpu_cores,omitempty"`
	RSSMiB         float64 `json:"rss_mib"`
	// Ratio is requests/s over the ceiling's: a bare echo handler in a
	// process of its own, measured in the slices between the scenario's
	// own (see interleave in cmd/load). The goals are ratios to it.
	Ratio      float64 `json:"ratio_to_ceiling,omitempty"`
	CeilingRPS float64 `json:"interleaved_ceiling_rps,omitempty"`
	// RatioRange is the lowest and the highest ratio of one round's
	// slices: how steady the ratio was on a shared machine.
	RatioRange []float64 `json:"ratio_range_by_round,omitempty"`
	// RatioMedian is the median of the rounds' ratios, which one slice
	// starved by other work on the machine moves less than the pooled one.
	RatioMedian float64 `json:"ratio_median_of_rounds,omitempty"`
	// InAppRatio is over the same handler served by the app's own binary
	// and server (BENCH_CEILING), interleaved likewise.
	InAppRatio float64 `json:"ratio_to_in_app_ceiling,omitempty"`
	InAppRPS   float64 `json:"interleaved_in_app_ceiling_rps,omitempty"`
	// TimesACE is requests/s over atlassian-connect-express's on the same
	// request with the same tokens, interleaved likewise.
	TimesACE       float64   `json:"times_ace,omitempty"`
	ACERPS         float64   `json:"interleaved_ace_rps,omitempty"`
	TimesACERange  []float64 `json:"times_ace_range_by_round,omitempty"`
	TimesACEMedian float64   `json:"times_ace_median_of_rounds,omitempty"`
	// OtherCores is the CPU that the rest of the machine (other work,
	// PostgreSQL) used while the scenario ran, in cores: /proc/stat's busy
	// time less that of the harness and the processes it started.
	OtherCores float64 `json:"other_cores"`
	// Requests/s of the scenario's slices and of the ceilings' slices,
	// round by round, in the order they ran.
	RPSByRound        []float64 `json:"rps_by_round,omitempty"`
	CeilingRPSByRound []float64 `json:"ceiling_rps_by_round,omitempty"`
	InAppRPSByRound   []float64 `json:"in_app_ceiling_rps_by_round,omitempty"`
	// LoadAvg is the one-minute load average when the scenario ended.
	LoadAvg float64 `json:"loadavg_1m"`
	Note    string  `json:"note,omitempty"`
}

// Goal is one performance goal of a row and its verdict.
type Goal struct {
	Name     string  `json:"name"`
	Scenario string  `json:"scenario,omitempty"`
	Target   float64 `json:"target,omitempty"`
	Value    float64 `json:"value,omitempty"`
	Measured string  `json:"measured"`
	Met      *bool   `json:"met,omitempty"`
	// Skipped says why the goal was not measured.
	Skipped string `json:"skipped,omitempty"`
}

// Fanout is the live fan-out measurement.
type Fanout struct {
	Subscribers int     `json:"subscribers"`
	Public      int     `json:"public"`
	Agent       int     `json:"agent"`
	Rounds      int     `json:"rounds"`
	Delivered   int     `json:"delivered"`
	Expected    int     `json:"expected"`
	P50         Millis  `json:"p50_ms"`
	P99         Millis  `json:"p99_ms"`
	Max         Millis  `json:"max_ms"`
	KiBPerIdle  float64 `json:"kib_per_idle_subscriber"`
	// The same, for each kind: public widget streams and agents' streams.
	KiBPerPublic float64 `json:"kib_per_idle_public_subscriber"`
	KiBPerAgent  float64 `json:"kib_per_idle_agent_subscriber"`
	ConnectSecs  float64 `json:"connect_seconds"`
	Met          *bool   `json:"met,omitempty"`
}

// Writes counts the database writes heartbeats caused.
type Writes struct {
	Counted   bool    `json:"counted"`
	Rows      int64   `json:"rows_written"`
	Agents    int     `json:"agents"`
	Intervals int     `json:"flush_intervals"`
	PerAgent  float64 `json:"writes_per_agent_per_interval"`
	Met       *bool   `json:"met,omitempty"`
	Note      string  `json:"note,omitempty"`
}

// Row is one backend's measurements.
type Row struct {
	Backend     string     `json:"backend"`
	Spec        Spec       `json:"seed"`
	SeedSeconds float64    `json:"seed_seconds"`
	Scenarios   []Scenario `json:"scenarios"`
	Goals       []Goal     `json:"goals,omitempty"`
	Writes      *Writes    `json:"heartbeat_writes,omitempty"`
	Fanout      *Fanout    `json:"fanout,omitempty"`
}

// Report is the whole run.
type Report struct {
	Date        string `json:"date"`
	Mode        string `json:"mode"`
	Cores       int    `json:"cores"`
	GoVersion   string `json:"go"`
	Conns       int    `json:"connections"`
	DurationSec int    `json:"seconds_per_scenario"`
	// Ceiling says what ratio_to_ceiling is over; reports before it was
	// set used the in-app ceiling.
	Ceiling string `json:"ceiling"`
	// LogLevel is the app's LOG_LEVEL: at info its access log is on.
	LogLevel string `json:"app_log_level"`
	// AppEnv is what -app-env added to the app's environment.
	AppEnv []string `json:"app_env,omitempty"`
	// LoadAvg is the one-minute load average at the start and the end.
	LoadAvg []float64 `json:"loadavg_1m"`
	Note    string    `json:"note"`
	Rows    []Row     `json:"rows"`
}

// NewReport starts a report stamped now.
func NewReport(mode string, conns int, d time.Duration) *Report {
	return &Report{Date: time.Now().UTC().Format(time.RFC3339), Mode: mode, Cores: runtime.NumCPU(),
		GoVersion: runtime.Version(), Conns: conns, DurationSec: int(d.Seconds()),
		Ceiling: "standalone: a bare echo handler in a process of its own",
		LoadAvg: []float64{LoadAvg()},
		Note:    "load generator, ceilings, ACE and app share the machine's cores over loopback"}
}

// Bool is a pointer for the optional verdicts.
func Bool(b bool) *bool { return &b }

func verdict(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "met"
	}
	return "**not met**"
}

// Markdown renders the tables of the README's Performance section.
func (r *Report) Markdown() string {
	var sb strings.Builder
	env := ""
	if len(r.AppEnv) > 0 {
		env = " " + strings.Join(r.AppEnv, " ")
	}
	fmt.Fprintf(&sb, "Run %s (%s), %d cores, %s, %d keep-alive connections, %ds per scenario, app LOG_LEVEL=%s%s, load average %s; %s.\n\n",
		r.Date, r.Mode, r.Cores, r.GoVersion, r.Conns, r.DurationSec, r.LogLevel, env, floats(r.LoadAvg, "%.1f", " → "), r.Note)
	sb.WriteString("| backend | scenario | req/s | × ceiling | × ceiling by round (median) | × in-app ceiling | p50 ms | p99 ms | max ms | CPU (cores) | RSS MiB | others' CPU (cores) |\n")
	sb.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		for _, s := range row.Scenarios {
			errs := ""
			if bad := s.Load.Errors + non2xx(s.Load.Status); bad > 0 {
				errs = fmt.Sprintf(" (%d errors/unexpected)", bad)
			}
			others := ""
			if s.LoadAvg > 0 { // measured on its own, not a summary
				others = fmt.Sprintf("%.2f", s.OtherCores)
			}
			fmt.Fprintf(&sb, "| %s | %s%s | %.0f | %s | %s | %s | %.2f | %.2f | %.1f | %.2f | %.0f | %s |\n",
				row.Backend, s.Name, errs, s.Load.RPS, ratio(s.Ratio), byRound(s.RatioRange, s.RatioMedian), ratio(s.InAppRatio),
				s.Load.P50, s.Load.P99, s.Load.Max, s.CPUCores, s.RSSMiB, others)
		}
	}
	sb.WriteString("\n| backend | goal | measured | verdict |\n|---|---|---|---|\n")
	for _, row := range r.Rows {
		for _, g := range row.Goals {
			v := verdict(g.Met)
			if g.Skipped != "" {
				v = "skipped"
			}
			fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", row.Backend, g.Name, g.Measured, v)
		}
	}
	var checks strings.Builder
	for _, row := range r.Rows {
		if w := row.Writes; w != nil {
			if w.Counted {
				fmt.Fprintf(&checks, "| %s | heartbeat DB writes | %d rows for %d agents over %d flush intervals = %.2f per agent per interval | ≤ 1 | %s |\n",
					row.Backend, w.Rows, w.Agents, w.Intervals, w.PerAgent, verdict(w.Met))
			} else {
				fmt.Fprintf(&checks, "| %s | heartbeat DB writes | not counted: %s | ≤ 1 | |\n", row.Backend, w.Note)
			}
		}
		if f := row.Fanout; f != nil {
			fmt.Fprintf(&checks, "| %s | live fan-out, %d subscribers (%d public, %d agent), %d changes | delivered %d/%d; p50 %.1f ms, p99 %.1f ms, max %.1f ms | p99 < 250 ms | %s |\n",
				row.Backend, f.Subscribers, f.Public, f.Agent, f.Rounds, f.Delivered, f.Expected, f.P50, f.P99, f.Max, verdict(f.Met))
			met := f.KiBPerIdle < 20
			fmt.Fprintf(&checks, "| %s | memory per idle subscriber (VmRSS difference) | %.1f KiB: %.1f per public stream, %.1f per agent stream | < 20 KiB | %s |\n",
				row.Backend, f.KiBPerIdle, f.KiBPerPublic, f.KiBPerAgent, verdict(&met))
		}
	}
	if checks.Len() > 0 {
		sb.WriteString("\n| backend | check | result | goal | verdict |\n|---|---|---|---|---|\n")
		sb.WriteString(checks.String())
	}
	return sb.String()
}

func ratio(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", v)
}

func byRound(r []float64, median float64) string {
	if len(r) != 2 {
		return ""
	}
	return fmt.Sprintf("%.2f–%.2f (%.2f)", r[0], r[1], median)
}

func floats(v []float64, format, sep string) string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = fmt.Sprintf(format, f)
	}
	return strings.Join(parts, sep)
}

func non2xx(status map[int]int) int {
	n := 0
	for code, c := range status {
		if code >= 300 && code != 304 {
			n += c
		}
	}
	return n
}

// Save writes the JSON report as dir/<date>.json.
func (r *Report) Save(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := strings.NewReplacer(":", "").Replace(r.Date)
	path := filepath.Join(dir, name+"-"+r.Mode+".json")
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(raw, '\n'), 0o644)
}
