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
	Name     string     `json:"name"`
	Load     LoadResult `json:"load"`
	CPUCores float64    `json:"cpu_cores"`
	RSSMiB   float64    `json:"rss_mib"`
	// Ratio is requests/s over the ceiling's: over CeilingRPS when the
	// scenario was measured interleaved with the ceiling, else over the
	// higher of the row's two ceiling measurements.
	Ratio float64 `json:"ratio_to_ceiling"`
	// CeilingRPS is the ceiling measured in the slices between the
	// scenario's own (see measureInterleaved in cmd/load).
	CeilingRPS float64 `json:"interleaved_ceiling_rps,omitempty"`
	Goal       string  `json:"goal,omitempty"`
	Met        *bool   `json:"met,omitempty"`
	Note       string  `json:"note,omitempty"`
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
	Note        string `json:"note"`
	Rows        []Row  `json:"rows"`
}

// NewReport starts a report stamped now.
func NewReport(mode string, conns int, d time.Duration) *Report {
	return &Report{Date: time.Now().UTC().Format(time.RFC3339), Mode: mode, Cores: runtime.NumCPU(),
		GoVersion: runtime.Version(), Conns: conns, DurationSec: int(d.Seconds()),
		Note: "load generator, ceiling and app share the machine's cores over loopback"}
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
	fmt.Fprintf(&sb, "Run %s (%s), %d cores, %s, %d keep-alive connections, %ds per scenario; %s.\n\n",
		r.Date, r.Mode, r.Cores, r.GoVersion, r.Conns, r.DurationSec, r.Note)
	sb.WriteString("| backend | scenario | req/s | ceiling req/s (interleaved) | × ceiling | p50 ms | p99 ms | max ms | app CPU (cores) | app RSS MiB | goal | verdict |\n")
	sb.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, row := range r.Rows {
		for _, s := range row.Scenarios {
			errs := ""
			if bad := s.Load.Errors + non2xx(s.Load.Status); bad > 0 {
				errs = fmt.Sprintf(" (%d errors/unexpected)", bad)
			}
			ceiling := ""
			if s.CeilingRPS > 0 {
				ceiling = fmt.Sprintf("%.0f", s.CeilingRPS)
			}
			fmt.Fprintf(&sb, "| %s | %s%s | %.0f | %s | %.2f | %.2f | %.2f | %.1f | %.2f | %.0f | %s | %s |\n",
				row.Backend, s.Name, errs, s.Load.RPS, ceiling, s.Ratio, s.Load.P50, s.Load.P99, s.Load.Max, s.CPUCores, s.RSSMiB, s.Goal, verdict(s.Met))
		}
	}
	sb.WriteString("\n| backend | check | result | goal | verdict |\n|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		if w := row.Writes; w != nil {
			if w.Counted {
				fmt.Fprintf(&sb, "| %s | heartbeat DB writes | %d rows for %d agents over %d flush intervals = %.2f per agent per interval | ≤ 1 | %s |\n",
					row.Backend, w.Rows, w.Agents, w.Intervals, w.PerAgent, verdict(w.Met))
			} else {
				fmt.Fprintf(&sb, "| %s | heartbeat DB writes | not counted: %s | ≤ 1 | |\n", row.Backend, w.Note)
			}
		}
		if f := row.Fanout; f != nil {
			fmt.Fprintf(&sb, "| %s | live fan-out, %d subscribers (%d public, %d agent), %d changes | delivered %d/%d; p50 %.1f ms, p99 %.1f ms, max %.1f ms | p99 < 250 ms | %s |\n",
				row.Backend, f.Subscribers, f.Public, f.Agent, f.Rounds, f.Delivered, f.Expected, f.P50, f.P99, f.Max, verdict(f.Met))
			met := f.KiBPerIdle < 20
			fmt.Fprintf(&sb, "| %s | memory per idle subscriber (VmRSS difference) | %.1f KiB: %.1f per public stream, %.1f per agent stream | < 20 KiB | %s |\n",
				row.Backend, f.KiBPerIdle, f.KiBPerPublic, f.KiBPerAgent, verdict(&met))
		}
	}
	return sb.String()
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
