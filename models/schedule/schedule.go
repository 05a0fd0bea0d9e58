// Package schedule is the weekly-schedule engine: an agent's weekly online
// hours in their time zone, with dated exceptions, validated and evaluated
// (online at an instant, the next transitions) across DST changes. It knows
// the standard library and the interval merger only: the store keeps
// schedules as JSON, the API shows them, the jobs apply their transitions.
package schedule

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"agentpresence/models/interval"
)

// MaxRules is the largest number of weekly rules a Schedule may hold.
// It bounds the work done per evaluation, which runs for every agent when
// schedules are saved.
const MaxRules = 50

// MaxExceptions is the largest number of dated exceptions a Schedule
// may hold: one for every day of a leap year.
const MaxExceptions = 366

// HorizonDays is how far NextTransition and Transitions look for a
// change of state: windows starting on local dates up to this many days
// after the query instant's local date are considered, and a change later
// than that is not reported. It is longer than a year so that an exception
// dated up to MaxExceptions days ahead (for example next year's
// holiday in an always-online schedule) is still found, while an
// unchanging schedule (no rules, 24/7) is answered with ok=false after
// bounded work. Uniform stretches (ordinary days of a rule-less or 24/7
// schedule) are skipped rather than walked day by day.
const HorizonDays = 400

// Schedule is an agent's weekly online schedule. One schedule applies to all
// of the agent's projects.
//
// Semantics, evaluated in the IANA zone Timezone:
//
//   - Every rule produces, for each local calendar date whose weekday is in
//     Days, one window from Start to End local wall-clock time on that date.
//     Wall-clock times are converted to instants per date, so 09:00 stays
//     09:00 local on both sides of a DST change.
//   - End <= Start means the window is overnight and ends on the next local
//     date. Consequently there is no "end before start" error; the only
//     impossible window is Start == End, which Validate rejects (use
//     00:00-24:00 for a whole day).
//   - End "24:00" is the next midnight; End "23:59" is read as "24:00"
//     because users who type 00:00-23:59 mean the whole day.
//   - A boundary that falls into a skipped hour (spring forward) moves to
//     the first instant after the gap; one that falls into a repeated hour
//     (fall back) uses the first occurrence, so a window runs once. A window
//     entirely inside a skipped hour is empty that day.
//   - Overlapping or adjacent windows merge: there is no transition where
//     one window ends and the next begins at the same instant.
//   - An exception replaces the weekly windows that START on its date; an
//     overnight window begun the day before keeps running until its end.
//   - A disabled schedule is never online and has no transitions; it is not
//     validated on evaluation, so the zero Schedule means "always offline".
type Schedule struct {
	Timezone   string      `json:"timezone"`
	Enabled    bool        `json:"enabled"`
	Rules      []Rule      `json:"rules"`
	Exceptions []Exception `json:"exceptions"`
}

// Rule is one weekly window repeated on the listed days.
type Rule struct {
	// Days holds lower-case weekday abbreviations: "mon" .. "sun".
	Days []string `json:"days"`
	// Start is "H:MM" or "HH:MM", 00:00..23:59.
	Start string `json:"start"`
	// End is "H:MM" or "HH:MM", 00:00..24:00; End <= Start is overnight.
	End string `json:"end"`
}

// Exception overrides the weekly rules for one local date.
type Exception struct {
	// Date is "YYYY-MM-DD", a local date in the schedule's zone.
	Date string `json:"date"`
	// Off true means no window starts on Date (a holiday); Start and End
	// must then be empty.
	Off bool `json:"off"`
	// Start and End, required when Off is false, give the single window
	// that starts on Date instead of the weekly ones (an extra or changed
	// working day). They follow Rule's format and overnight rule.
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Transition is a change of a schedule's online state.
type Transition struct {
	At     time.Time `json:"at"`
	Online bool      `json:"online"`
}

// ValidationError reports the first invalid field of a Schedule. Field is a
// path such as "timezone", "rules[2].start", "rules[0].days[1]" or
// "exceptions[0].date", suitable for pointing a UI at the offending input.
type ValidationError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// Code names the problem ("bad_clock") and Args its values (quoted
	// input, limits), so that a caller can word it in another language.
	Code string         `json:"-"`
	Args map[string]any `json:"-"`
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid schedule: %s: %s", e.Field, e.Message)
}

// Validate checks s and returns a *ValidationError describing the first
// problem found, or nil. It rejects: an empty, unknown or "Local" time
// zone; more than MaxRules rules or MaxExceptions
// exceptions; a rule without days or with a day other than "mon".."sun";
// a time not in H:MM/HH:MM form or out of range (24:00 is allowed only as
// an end); Start == End; an exception date that is not a real YYYY-MM-DD
// date or repeats an earlier one; an Off=false exception without start or
// end, and an Off=true one with them. Enabled is ignored: a disabled
// schedule is still stored and may be enabled later.
func (s Schedule) Validate() error {
	var ev evaluator
	if err := s.compile(&ev); err != nil {
		return err
	}
	return nil
}

// OnlineAt reports whether the schedule says the agent is online at t.
// A disabled schedule is never online.
func (s Schedule) OnlineAt(t time.Time) (bool, error) {
	if !s.Enabled {
		return false, nil
	}
	var ev evaluator
	if err := s.compile(&ev); err != nil {
		return false, fmt.Errorf("schedule online at %s: %w", t.Format(time.RFC3339), err)
	}
	return ev.onlineAt(t), nil
}

// NextTransition returns the first instant strictly after `after` at which
// the online state changes, and the state from then on. ok is false when
// the schedule is disabled or the state does not change within
// HorizonDays local days (no rules, 24/7 without exceptions, ...).
// The returned instant is in the schedule's location.
func (s Schedule) NextTransition(after time.Time) (at time.Time, online bool, ok bool, err error) {
	if !s.Enabled {
		return time.Time{}, false, false, nil
	}
	var ev evaluator
	if err = s.compile(&ev); err != nil {
		return time.Time{}, false, false, fmt.Errorf("schedule next transition after %s: %w", after.Format(time.RFC3339), err)
	}
	at, online, ok = ev.next(after)
	return at, online, ok, nil
}

// NextTransitionIn is NextTransition with the schedule's zone already
// loaded: loc must be the location named by Timezone (as LoadLocation
// returns it). Jobs evaluating many schedules load each zone once per tick
// instead of once per schedule; a loc naming another zone is an error.
func (s Schedule) NextTransitionIn(loc *time.Location, after time.Time) (at time.Time, online bool, ok bool, err error) {
	if !s.Enabled {
		return time.Time{}, false, false, nil
	}
	if loc == nil || loc.String() != s.Timezone {
		return time.Time{}, false, false, fmt.Errorf("schedule next transition: location %v is not the schedule's zone %q", loc, s.Timezone)
	}
	var ev evaluator
	if err = s.compileIn(&ev, loc); err != nil {
		return time.Time{}, false, false, fmt.Errorf("schedule next transition after %s: %w", after.Format(time.RFC3339), err)
	}
	at, online, ok = ev.next(after)
	return at, online, ok, nil
}

// LoadLocation loads the IANA zone a Schedule may name, rejecting
// what Validate rejects (empty, "Local", unknown), for use with
// NextTransitionIn.
func LoadLocation(name string) (*time.Location, error) {
	loc, verr := loadLocation(name)
	if verr != nil {
		return nil, verr
	}
	return loc, nil
}

// Transitions returns up to n successive transitions strictly after from,
// for previewing the next switches. It returns fewer when the schedule
// stops changing (see NextTransition) and none for a disabled schedule.
func (s Schedule) Transitions(from time.Time, n int) ([]Transition, error) {
	if n < 0 {
		return nil, fmt.Errorf("schedule transitions: negative count %d", n)
	}
	if !s.Enabled || n == 0 {
		return nil, nil
	}
	var ev evaluator
	if err := s.compile(&ev); err != nil {
		return nil, fmt.Errorf("schedule transitions from %s: %w", from.Format(time.RFC3339), err)
	}
	// Cap the preallocation: n comes from callers and may be large while
	// the schedule yields few transitions.
	out := make([]Transition, 0, min(n, 64))
	t := from
	for len(out) < n {
		at, online, ok := ev.next(t)
		if !ok {
			break
		}
		out = append(out, Transition{At: at, Online: online})
		t = at
	}
	return out, nil
}

// Minutes in a day; window spans are counted in minutes from the local
// midnight of the date the window starts on.
const dayMinutes = 24 * 60

// span is a window relative to its start date, in minutes: Start in
// [0, 1440), End in (Start, 2880]; End > 1440 means it runs into the next
// date.
type span = interval.Span[int]

// override is a parsed exception. day counts days since 1970-01-01.
type override struct {
	day int64
	off bool
	// spans holds the exception's single window when off is false; an
	// array lets spansOn return a slice of it without allocating.
	spans [1]span
	idx   int // position in Schedule.Exceptions, for error paths
}

// overridesByDay orders overrides by date, then by input position
// so that duplicate reports name the earlier entry first.
type overridesByDay []override

// Len implements sort.Interface.
func (o overridesByDay) Len() int { return len(o) }

// Swap implements sort.Interface.
func (o overridesByDay) Swap(i, j int) { o[i], o[j] = o[j], o[i] }

// Less implements sort.Interface.
func (o overridesByDay) Less(i, j int) bool {
	if o[i].day != o[j].day {
		return o[i].day < o[j].day
	}
	return o[i].idx < o[j].idx
}

// instants is a half-open [Start, End) interval of Unix seconds.
// Windows are minute-aligned, so whole seconds are exact.
type instants = interval.Span[int64]

// evaluator is a validated Schedule prepared for evaluation. It lives for
// one call only; the *time.Location it holds is immutable, so a caller of
// NextTransitionIn may share one among many evaluations.
type evaluator struct {
	loc *time.Location
	// weekly[wd] are the merged spans of windows starting on weekday wd
	// (time.Weekday order), sorted by start.
	weekly [7][]span
	// overrides are sorted by day; days are unique.
	overrides []override
	// alwaysOn is true when the weekly rules alone cover every minute of
	// the week, letting the scanner skip runs of ordinary days.
	alwaysOn bool
	// hasRules is false when there are no weekly windows at all, letting
	// the scanner jump from exception to exception.
	hasRules bool
}

// compile validates s and builds its evaluator into ev. Validation and
// evaluation share this path so that they can never disagree about what is
// valid. It runs on every evaluation, so the success path avoids building
// field names and allocates little.
func (s Schedule) compile(ev *evaluator) error {
	loc, verr := loadLocation(s.Timezone)
	if verr != nil {
		return verr
	}
	return s.compileIn(ev, loc)
}

// compileIn is compile with the zone already loaded.
func (s Schedule) compileIn(ev *evaluator, loc *time.Location) error {
	*ev = evaluator{loc: loc}

	if len(s.Rules) > MaxRules {
		return &ValidationError{Field: "rules", Message: fmt.Sprintf("at most %d rules are allowed, got %d", MaxRules, len(s.Rules)),
			Code: "too_many_rules", Args: map[string]any{"Max": MaxRules, "Got": len(s.Rules)}}
	}
	// First pass: validate and remember each rule's days and span, so the
	// per-weekday lists can share one exactly sized backing array.
	var parsed [MaxRules]struct {
		days [7]bool
		span span
	}
	var counts [7]int
	for i, r := range s.Rules {
		if len(r.Days) == 0 {
			return &ValidationError{Field: field("rules", i, "days"), Message: "must list at least one day", Code: "no_days"}
		}
		p := &parsed[i]
		for j, d := range r.Days {
			wd, ok := parseDay(d)
			if !ok {
				return &ValidationError{
					Field:   fmt.Sprintf("rules[%d].days[%d]", i, j),
					Message: fmt.Sprintf("unknown day %q, want one of mon, tue, wed, thu, fri, sat, sun", d),
					Code:    "unknown_day", Args: map[string]any{"Value": strconv.Quote(d)},
				}
			}
			// A repeated day is harmless (its windows would merge
			// anyway), so it is accepted rather than reported.
			p.days[wd] = true
		}
		span, verr := parseSpan("rules", i, r.Start, r.End)
		if verr != nil {
			return verr
		}
		p.span = span
		for wd, on := range p.days {
			if on {
				counts[wd]++
			}
		}
	}
	if len(s.Rules) > 0 {
		ev.hasRules = true
		total := 0
		for _, c := range counts {
			total += c
		}
		backing := make([]span, 0, total)
		for wd := range ev.weekly {
			from := len(backing)
			for i := range s.Rules {
				if parsed[i].days[wd] {
					backing = append(backing, parsed[i].span)
				}
			}
			// Merging in wall-clock minutes is safe: the mapping from
			// wall clock to instants (resolve) is monotonic.
			ev.weekly[wd] = interval.Merge(backing[from:len(backing):len(backing)])
		}
		ev.alwaysOn = coversWeek(&ev.weekly)
	}

	if len(s.Exceptions) > MaxExceptions {
		return &ValidationError{Field: "exceptions", Message: fmt.Sprintf("at most %d exceptions are allowed, got %d", MaxExceptions, len(s.Exceptions)),
			Code: "too_many_exceptions", Args: map[string]any{"Max": MaxExceptions, "Got": len(s.Exceptions)}}
	}
	if len(s.Exceptions) > 0 {
		ev.overrides = make([]override, 0, len(s.Exceptions))
	}
	sorted := true
	for i, x := range s.Exceptions {
		day, ok := parseDate(x.Date)
		if !ok {
			return &ValidationError{Field: field("exceptions", i, "date"), Message: fmt.Sprintf("invalid date %q, want YYYY-MM-DD", x.Date),
				Code: "bad_date", Args: map[string]any{"Value": strconv.Quote(x.Date)}}
		}
		o := override{day: day, off: x.Off, idx: i}
		if x.Off {
			// Times on a day off are contradictory input; rejecting them
			// surfaces a confused client instead of silently dropping data.
			if x.Start != "" {
				return &ValidationError{Field: field("exceptions", i, "start"), Message: "must be empty when off is true", Code: "time_when_off"}
			}
			if x.End != "" {
				return &ValidationError{Field: field("exceptions", i, "end"), Message: "must be empty when off is true", Code: "time_when_off"}
			}
		} else {
			if x.Start == "" {
				return &ValidationError{Field: field("exceptions", i, "start"), Message: "is required when off is false", Code: "time_required"}
			}
			if x.End == "" {
				return &ValidationError{Field: field("exceptions", i, "end"), Message: "is required when off is false", Code: "time_required"}
			}
			span, verr := parseSpan("exceptions", i, x.Start, x.End)
			if verr != nil {
				return verr
			}
			o.spans[0] = span
		}
		if n := len(ev.overrides); n > 0 && ev.overrides[n-1].day > day {
			sorted = false
		}
		ev.overrides = append(ev.overrides, o)
	}
	// Clients usually send exceptions in date order; skip the sort then.
	if !sorted {
		sort.Sort(overridesByDay(ev.overrides))
	}
	for i := 1; i < len(ev.overrides); i++ {
		if prev, cur := ev.overrides[i-1], ev.overrides[i]; prev.day == cur.day {
			return &ValidationError{
				Field:   field("exceptions", cur.idx, "date"),
				Message: fmt.Sprintf("duplicates exceptions[%d].date %q", prev.idx, s.Exceptions[prev.idx].Date),
				Code:    "duplicate_date", Args: map[string]any{"Index": prev.idx, "Value": strconv.Quote(s.Exceptions[prev.idx].Date)},
			}
		}
	}
	return nil
}

// field builds a field path such as "rules[2].start". It is only
// called on error paths.
func field(list string, i int, leaf string) string {
	return fmt.Sprintf("%s[%d].%s", list, i, leaf)
}

// loadLocation loads an IANA zone. "Local" is rejected because it
// names the server's zone, not the agent's, and would change meaning with
// the deployment.
func loadLocation(name string) (*time.Location, *ValidationError) {
	if name == "" {
		return nil, &ValidationError{Field: "timezone", Message: "is required", Code: "zone_required"}
	}
	if name == "Local" {
		return nil, &ValidationError{Field: "timezone", Message: `"Local" is not an IANA time zone`, Code: "zone_local"}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, &ValidationError{Field: "timezone", Message: fmt.Sprintf("unknown time zone %q", name),
			Code: "zone_unknown", Args: map[string]any{"Value": strconv.Quote(name)}}
	}
	return loc, nil
}

// parseSpan parses the Start/End pair of element i of list
// ("rules" or "exceptions") into a span, applying the overnight and 23:59
// rules.
func parseSpan(list string, i int, start, end string) (span, *ValidationError) {
	s, ok := parseClock(start)
	if !ok {
		return span{}, badClock(field(list, i, "start"), start)
	}
	if s == dayMinutes {
		return span{}, &ValidationError{Field: field(list, i, "start"), Message: "24:00 is only allowed as an end time", Code: "midnight_start"}
	}
	e, ok := parseClock(end)
	if !ok {
		return span{}, badClock(field(list, i, "end"), end)
	}
	if s == e {
		return span{}, &ValidationError{Field: field(list, i, "end"), Message: "must differ from start; use 00:00-24:00 for a whole day", Code: "empty_window"}
	}
	if e == dayMinutes-1 {
		// Users write 00:00-23:59 for "all day"; leaving the last minute
		// out would create a one-minute offline blip every midnight.
		e = dayMinutes
	}
	if e <= s {
		e += dayMinutes
	}
	return span{Start: s, End: e}, nil
}

// badClock is the error of an unparsable time of day.
func badClock(at, v string) *ValidationError {
	return &ValidationError{Field: at, Message: fmt.Sprintf("invalid time %q, want H:MM or HH:MM between 00:00 and 24:00", v),
		Code: "bad_clock", Args: map[string]any{"Value": strconv.Quote(v)}}
}

// parseClock parses "H:MM" or "HH:MM" (00:00..23:59, or 24:00) into
// minutes after midnight. Signs, spaces and seconds are rejected so that
// stored schedules stay canonical.
func parseClock(v string) (int, bool) {
	n := len(v)
	if (n != 4 && n != 5) || v[n-3] != ':' {
		return 0, false
	}
	h, m := 0, 0
	for i := 0; i < n-3; i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		h = h*10 + int(c-'0')
	}
	for i := n - 2; i < n; i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		m = m*10 + int(c-'0')
	}
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// parseDay maps "mon".."sun" to a weekday. Only the lower-case
// abbreviations are accepted so that stored schedules stay canonical.
func parseDay(d string) (time.Weekday, bool) {
	switch d {
	case "sun":
		return time.Sunday, true
	case "mon":
		return time.Monday, true
	case "tue":
		return time.Tuesday, true
	case "wed":
		return time.Wednesday, true
	case "thu":
		return time.Thursday, true
	case "fri":
		return time.Friday, true
	case "sat":
		return time.Saturday, true
	}
	return 0, false
}

// parseDate parses a strict "YYYY-MM-DD" calendar date (years
// 0001-9999) into days since 1970-01-01. It is hand-rolled because it runs
// for every exception on every evaluation, where time.Parse dominated the
// cost.
func parseDate(v string) (int64, bool) {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return 0, false
	}
	num := func(part string) (int, bool) {
		n := 0
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, okY := num(v[:4])
	m, okM := num(v[5:7])
	d, okD := num(v[8:])
	if !okY || !okM || !okD || y < 1 || m < 1 || m > 12 || d < 1 {
		return 0, false
	}
	leap := y%4 == 0 && (y%100 != 0 || y%400 == 0)
	monthDays := [12]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	if leap {
		monthDays[1] = 29
	}
	if d > monthDays[m-1] {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// daysFromCivil converts a proleptic Gregorian date with y >= 1 to
// days since 1970-01-01 (Howard Hinnant's days_from_civil, specialised to
// non-negative eras).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// coversWeek reports whether the merged weekly spans cover every
// minute of a cyclic week. Coverage in wall-clock time implies coverage in
// real time because the mapping is monotonic and every instant lies between
// the images of wall-clock times around it.
func coversWeek(weekly *[7][]span) bool {
	const week = 7 * dayMinutes
	// Saturday windows running past midnight wrap into Sunday, the start
	// of the week in time.Weekday order.
	reach := 0
	for _, sp := range weekly[time.Saturday] {
		reach = max(reach, int(time.Saturday)*dayMinutes+sp.End-week)
	}
	// Spans are sorted within each day and days are visited in order, so
	// week positions arrive sorted by start.
	for wd, spans := range weekly {
		base := wd * dayMinutes
		for _, sp := range spans {
			if base+sp.Start > reach {
				return false
			}
			reach = max(reach, base+sp.End)
		}
	}
	return reach >= week
}

// floorDiv divides rounding towards negative infinity, so that
// instants before 1970 land on the right day.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// weekday returns the weekday of a day number (1970-01-01 was a Thursday).
func (ev *evaluator) weekday(day int64) time.Weekday {
	return time.Weekday((day%7 + 7 + int64(time.Thursday)) % 7)
}

// localDay returns the local calendar day number of t.
func (ev *evaluator) localDay(t time.Time) int64 {
	_, off := t.In(ev.loc).Zone()
	return floorDiv(t.Unix()+int64(off), 86400)
}

// resolve converts a local wall-clock time (minute m after the midnight
// starting day, m may exceed a day) into Unix seconds. time.Date leaves the
// outcome for skipped and repeated wall times unspecified, so both cases
// are resolved explicitly: a skipped time becomes the first instant after
// the gap, a repeated time its first occurrence.
func (ev *evaluator) resolve(day int64, m int) int64 {
	day += int64(m / dayMinutes)
	m %= dayMinutes
	want := day*86400 + int64(m)*60 // the wall clock, as if it were UTC
	t := time.Date(1970, time.January, 1+int(day), m/60, m%60, 0, 0, ev.loc)
	_, off := t.Zone()
	u := t.Unix()
	zoneStart, zoneEnd := t.ZoneBounds()
	switch wall := u + int64(off); {
	case wall > want:
		// Skipped time, interpreted with the offset before the gap: the
		// zone t lies in begins right after the gap.
		return zoneStart.Unix()
	case wall < want:
		// Skipped time, interpreted with the offset after the gap: the
		// zone t lies in ends where the gap begins.
		return zoneEnd.Unix()
	}
	// The wall time exists; it was repeated if the previous zone had a
	// larger offset and the same wall time fell into that zone too.
	if zoneStart.IsZero() {
		return u
	}
	prev := zoneStart.Add(-time.Second)
	_, prevOff := prev.Zone()
	if prevOff <= off {
		return u
	}
	alt := want - int64(prevOff)
	if alt >= zoneStart.Unix() {
		return u
	}
	if _, altOff := time.Unix(alt, 0).In(ev.loc).Zone(); altOff != prevOff {
		return u
	}
	return alt
}

// spansOn returns the spans of windows starting on day, using *cursor as a
// forward-only index into overrides (days are visited in increasing order).
func (ev *evaluator) spansOn(day int64, cursor *int) []span {
	for *cursor < len(ev.overrides) && ev.overrides[*cursor].day < day {
		*cursor++
	}
	if *cursor < len(ev.overrides) && ev.overrides[*cursor].day == day {
		o := &ev.overrides[*cursor]
		if o.off {
			return nil
		}
		return o.spans[:]
	}
	return ev.weekly[ev.weekday(day)]
}

// appendWindows appends the intervals of windows starting on day that end
// after floor (earlier ones cannot influence anything at or after floor),
// dropping windows emptied by a DST gap.
func (ev *evaluator) appendWindows(dst []instants, day int64, floor int64, cursor *int) []instants {
	spans := ev.spansOn(day, cursor)
	for _, sp := range spans {
		end := ev.resolve(day, sp.End)
		if end <= floor {
			continue
		}
		start := ev.resolve(day, sp.Start)
		if end <= start {
			continue
		}
		dst = append(dst, instants{Start: start, End: end})
	}
	return dst
}

// onlineAt reports whether t falls inside a window. Only windows starting
// on t's local date or the day before can contain t: a window ends at the
// latest at the local midnight after the day following its start date.
func (ev *evaluator) onlineAt(t time.Time) bool {
	sec := t.Unix()
	day := ev.localDay(t)
	cursor := sort.Search(len(ev.overrides), func(i int) bool { return ev.overrides[i].day >= day-1 })
	var buf [8]instants
	ivs := buf[:0]
	ivs = ev.appendWindows(ivs, day-1, sec, &cursor)
	ivs = ev.appendWindows(ivs, day, sec, &cursor)
	for _, iv := range ivs {
		// Comparing whole seconds is exact: iv bounds are whole seconds
		// and t's sub-second part cannot move it across one.
		if iv.Start <= sec && sec < iv.End {
			return true
		}
	}
	return false
}

// next finds the first state change strictly after `after`.
//
// Windows are generated per local start date, beginning the day before
// after's local date (the only earlier date whose windows can still be
// running). Each date's windows start no earlier than that date's local
// midnight, so once dates up to X-1 are generated, any boundary before
// midnight(X) (the frontier) is final: later windows can neither cover nor
// touch it. Intervals are kept sorted and merged, which makes adjacent and
// overlapping windows (also across dates and exceptions) a single interval.
//
// Long uniform stretches are skipped instead of walked: with no weekly
// rules only exception dates can produce windows, and with 24/7 weekly
// coverage a run of ordinary days is one continuous interval.
func (ev *evaluator) next(after time.Time) (time.Time, bool, bool) {
	sec := after.Unix() // see onlineAt for why whole seconds are exact
	first := ev.localDay(after)
	last := first + HorizonDays
	day := first - 1
	cursor := sort.Search(len(ev.overrides), func(i int) bool { return ev.overrides[i].day >= day })

	var buf [16]instants
	ivs := buf[:0]
	for day <= last {
		day, ivs = ev.advance(ivs, day, last, sec, &cursor)
		ivs = interval.Merge(ivs)
		if len(ivs) == 0 {
			continue
		}
		// Intervals ending at or before sec were never added, so the first
		// one either contains sec or lies entirely after it.
		iv := ivs[0]
		boundary, online := iv.Start, true
		if iv.Start <= sec {
			boundary, online = iv.End, false
		}
		if boundary < ev.resolve(day, 0) {
			return time.Unix(boundary, 0).In(ev.loc), online, true
		}
	}
	return time.Time{}, false, false
}

// advance generates the windows of one chunk of dates beginning at day and
// returns the first date not yet generated. A chunk is usually one date;
// see next for the stretches it skips.
func (ev *evaluator) advance(ivs []instants, day, last, floor int64, cursor *int) (int64, []instants) {
	// Find the next exception on or after day; it bounds any skip.
	for *cursor < len(ev.overrides) && ev.overrides[*cursor].day < day {
		*cursor++
	}
	nextOverride := last + 1
	if *cursor < len(ev.overrides) {
		nextOverride = min(ev.overrides[*cursor].day, last+1)
	}
	switch {
	case nextOverride == day:
		// An exception date is always generated individually.
	case !ev.hasRules:
		// Ordinary days contribute nothing; jump to the next exception.
		return nextOverride, ivs
	case ev.alwaysOn && nextOverride-day >= 3:
		// Dates day+1 .. nextOverride-1 are covered at every wall-clock
		// instant by windows of this run (from the same or the previous
		// date), so one interval stands for them; the run's first and
		// last dates are generated for real because their windows can
		// stick out at either end.
		lastRun := nextOverride - 1
		ivs = ev.appendWindows(ivs, day, floor, cursor)
		if end := ev.resolve(lastRun+1, 0); end > floor {
			ivs = append(ivs, instants{Start: ev.resolve(day+1, 0), End: end})
		}
		ivs = ev.appendWindows(ivs, lastRun, floor, cursor)
		return nextOverride, ivs
	}
	return day + 1, ev.appendWindows(ivs, day, floor, cursor)
}
