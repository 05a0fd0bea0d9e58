package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	// The embedded zone database keeps these tests independent of the
	// host's tzdata, whose presence and version vary between machines.
	_ "time/tzdata"
)

// weekdays returns a fresh Monday-to-Friday day list, so that no
// test can alter another's rules through a shared slice.
func weekdays() []string { return []string{"mon", "tue", "wed", "thu", "fri"} }

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

func mustLocal(t testing.TB, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatalf("load %q: %v", zone, err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// formatTransitions renders transitions as "UTC instant +/-" lines so that a
// failing comparison shows the whole sequence.
func formatTransitions(trs []Transition) string {
	var b strings.Builder
	for _, tr := range trs {
		state := "off"
		if tr.Online {
			state = "on"
		}
		fmt.Fprintf(&b, "%s %s\n", tr.At.UTC().Format(time.RFC3339), state)
	}
	return b.String()
}

func wantTransitions(t *testing.T, s Schedule, from time.Time, want ...string) {
	t.Helper()
	got, err := s.Transitions(from, len(want)+1)
	if err != nil {
		t.Fatalf("Transitions: %v", err)
	}
	if len(got) > len(want) {
		got = got[:len(want)]
	}
	gotStr := formatTransitions(got)
	wantStr := strings.Join(want, "\n") + "\n"
	if len(want) == 0 {
		wantStr = ""
	}
	if gotStr != wantStr {
		t.Fatalf("transitions from %s:\ngot:\n%swant:\n%s", from.UTC().Format(time.RFC3339), gotStr, wantStr)
	}
}

func wantOnline(t *testing.T, s Schedule, at time.Time, want bool) {
	t.Helper()
	got, err := s.OnlineAt(at)
	if err != nil {
		t.Fatalf("OnlineAt(%s): %v", at.Format(time.RFC3339Nano), err)
	}
	if got != want {
		t.Fatalf("OnlineAt(%s) = %v, want %v", at.Format(time.RFC3339Nano), got, want)
	}
}

func TestScheduleValidateAccepts(t *testing.T) {
	cases := map[string]Schedule{
		"office hours": {Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: weekdays(), Start: "09:00", End: "17:00"}}},
		"short hour":   {Timezone: "UTC", Rules: []Rule{{Days: []string{"mon"}, Start: "9:00", End: "9:30"}}},
		"whole day":    {Timezone: "UTC", Rules: []Rule{{Days: []string{"sun"}, Start: "00:00", End: "24:00"}}},
		"23:59 end":    {Timezone: "UTC", Rules: []Rule{{Days: []string{"sun"}, Start: "00:00", End: "23:59"}}},
		"overnight":    {Timezone: "UTC", Rules: []Rule{{Days: []string{"fri"}, Start: "22:00", End: "06:00"}}},
		"to midnight":  {Timezone: "UTC", Rules: []Rule{{Days: []string{"fri"}, Start: "22:00", End: "00:00"}}},
		"repeated day": {Timezone: "UTC", Rules: []Rule{{Days: []string{"fri", "fri"}, Start: "22:00", End: "23:00"}}},
		"no rules":     {Timezone: "America/New_York", Enabled: true},
		"exceptions": {Timezone: "Australia/Sydney", Exceptions: []Exception{
			{Date: "2026-12-25", Off: true},
			{Date: "2026-12-24", Start: "10:00", End: "14:00"},
			{Date: "2028-02-29", Start: "22:00", End: "02:00"},
		}},
	}
	var maxed Schedule
	maxed.Timezone = "UTC"
	for i := 0; i < MaxRules; i++ {
		maxed.Rules = append(maxed.Rules, Rule{Days: []string{"mon"}, Start: fmt.Sprintf("%02d:00", i%24), End: "23:30"})
	}
	first := mustTime(t, "2028-01-01T00:00:00Z")
	for i := 0; i < MaxExceptions; i++ {
		maxed.Exceptions = append(maxed.Exceptions, Exception{Date: first.AddDate(0, 0, i).Format(time.DateOnly), Off: true})
	}
	cases["maximum sizes"] = maxed

	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestScheduleValidateRejects(t *testing.T) {
	rule := func(start, end string, days ...string) Schedule {
		return Schedule{Timezone: "UTC", Rules: []Rule{{Days: days, Start: start, End: end}}}
	}
	exc := func(xs ...Exception) Schedule {
		return Schedule{Timezone: "UTC", Exceptions: xs}
	}
	tooManyRules := Schedule{Timezone: "UTC", Rules: make([]Rule, MaxRules+1)}
	tooManyExceptions := Schedule{Timezone: "UTC", Exceptions: make([]Exception, MaxExceptions+1)}

	cases := []struct {
		name  string
		s     Schedule
		field string
	}{
		{"empty zone", Schedule{}, "timezone"},
		{"unknown zone", Schedule{Timezone: "Mars/Olympus_Mons"}, "timezone"},
		{"local zone", Schedule{Timezone: "Local"}, "timezone"},
		{"hour 25", rule("25:00", "26:00", "mon"), "rules[0].start"},
		{"24:00 start", rule("24:00", "06:00", "mon"), "rules[0].start"},
		{"24:01 end", rule("20:00", "24:01", "mon"), "rules[0].end"},
		{"minute 60", rule("09:60", "10:00", "mon"), "rules[0].start"},
		{"one-digit minute", rule("9:5", "10:00", "mon"), "rules[0].start"},
		{"three-digit hour", rule("009:00", "10:00", "mon"), "rules[0].start"},
		{"seconds", rule("09:00:00", "10:00", "mon"), "rules[0].start"},
		{"space", rule(" 9:00", "10:00", "mon"), "rules[0].start"},
		{"sign", rule("-1:00", "10:00", "mon"), "rules[0].start"},
		{"empty end", rule("09:00", "", "mon"), "rules[0].end"},
		{"start equals end", rule("9:00", "09:00", "mon"), "rules[0].end"},
		{"midnight to midnight", rule("00:00", "00:00", "mon"), "rules[0].end"},
		{"unknown day", rule("09:00", "10:00", "mon", "Tue"), "rules[0].days[1]"},
		{"full day name", rule("09:00", "10:00", "monday"), "rules[0].days[0]"},
		{"no days", rule("09:00", "10:00"), "rules[0].days"},
		{"later rule", Schedule{Timezone: "UTC", Rules: []Rule{
			{Days: []string{"mon"}, Start: "09:00", End: "10:00"},
			{Days: []string{"tue"}, Start: "09:00", End: "10:00"},
			{Days: []string{"wed"}, Start: "9", End: "10:00"},
		}}, "rules[2].start"},
		{"too many rules", tooManyRules, "rules"},
		{"too many exceptions", tooManyExceptions, "exceptions"},
		{"bad date", exc(Exception{Date: "2026-02-30", Off: true}), "exceptions[0].date"},
		{"not a leap year", exc(Exception{Date: "2026-02-29", Off: true}), "exceptions[0].date"},
		{"short date", exc(Exception{Date: "2026-2-03", Off: true}), "exceptions[0].date"},
		{"date with time", exc(Exception{Date: "2026-02-03T00:00", Off: true}), "exceptions[0].date"},
		{"duplicate date", exc(
			Exception{Date: "2026-05-01", Off: true},
			Exception{Date: "2026-05-02", Off: true},
			Exception{Date: "2026-05-01", Start: "10:00", End: "12:00"},
		), "exceptions[2].date"},
		{"missing start", exc(Exception{Date: "2026-05-01", End: "12:00"}), "exceptions[0].start"},
		{"missing end", exc(Exception{Date: "2026-05-01", Start: "12:00"}), "exceptions[0].end"},
		{"times on a day off", exc(Exception{Date: "2026-05-01", Off: true, Start: "10:00", End: "12:00"}), "exceptions[0].start"},
		{"exception start equals end", exc(Exception{Date: "2026-05-01", Start: "10:00", End: "10:00"}), "exceptions[0].end"},
		{"exception bad time", exc(Exception{Date: "2026-05-01", Start: "10:00", End: "12:61"}), "exceptions[0].end"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate() = %v, want *ValidationError", err)
			}
			if verr.Field != tc.field {
				t.Fatalf("Field = %q, want %q (message %q)", verr.Field, tc.field, verr.Message)
			}
			if verr.Message == "" || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("unhelpful error %q", err.Error())
			}
		})
	}
}

func TestScheduleEvaluationReportsInvalidSchedule(t *testing.T) {
	s := Schedule{Timezone: "Nowhere/Special", Enabled: true}
	at := mustTime(t, "2026-05-04T10:00:00Z")
	checks := map[string]error{}
	_, checks["OnlineAt"] = s.OnlineAt(at)
	_, _, _, checks["NextTransition"] = s.NextTransition(at)
	_, checks["Transitions"] = s.Transitions(at, 3)
	for name, err := range checks {
		var verr *ValidationError
		if !errors.As(err, &verr) || verr.Field != "timezone" {
			t.Errorf("%s: error %v, want a wrapped *ValidationError for timezone", name, err)
		}
	}
	valid := Schedule{Timezone: "UTC", Enabled: true}
	if _, err := valid.Transitions(at, -1); err == nil {
		t.Errorf("Transitions with negative n: want an error")
	}
}

func TestScheduleDisabled(t *testing.T) {
	at := mustTime(t, "2026-05-04T10:00:00Z")
	for name, s := range map[string]Schedule{
		"zero value": {},
		"disabled":   {Timezone: "UTC", Rules: []Rule{{Days: weekdays(), Start: "00:00", End: "24:00"}}},
	} {
		t.Run(name, func(t *testing.T) {
			wantOnline(t, s, at, false)
			if _, _, ok, err := s.NextTransition(at); ok || err != nil {
				t.Fatalf("NextTransition: ok=%v err=%v, want no transition and no error", ok, err)
			}
			if trs, err := s.Transitions(at, 5); len(trs) != 0 || err != nil {
				t.Fatalf("Transitions = %v, %v; want none", trs, err)
			}
		})
	}
}

func TestScheduleNoRulesNeverOnline(t *testing.T) {
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true}
	at := mustTime(t, "2026-05-04T10:00:00Z")
	wantOnline(t, s, at, false)
	if _, _, ok, err := s.NextTransition(at); ok || err != nil {
		t.Fatalf("NextTransition: ok=%v err=%v, want no transition", ok, err)
	}
}

func TestScheduleOnlineAtBoundaries(t *testing.T) {
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: []string{"mon"}, Start: "09:00", End: "17:00"}}}
	// 2026-05-04 is a Monday; Warsaw is UTC+2 in May.
	wantOnline(t, s, mustTime(t, "2026-05-04T06:59:59.999999999Z"), false)
	wantOnline(t, s, mustTime(t, "2026-05-04T07:00:00Z"), true)
	wantOnline(t, s, mustTime(t, "2026-05-04T14:59:59.5Z"), true)
	wantOnline(t, s, mustTime(t, "2026-05-04T15:00:00Z"), false)
	wantOnline(t, s, mustTime(t, "2026-05-05T08:00:00Z"), false) // Tuesday
	// The instant's own location must not matter.
	wantOnline(t, s, mustLocal(t, "Asia/Tokyo", "2026-05-04 16:00"), true)
}

func TestScheduleNextTransitionIsStrictlyAfter(t *testing.T) {
	s := Schedule{Timezone: "UTC", Enabled: true, Rules: []Rule{{Days: []string{"mon"}, Start: "09:00", End: "17:00"}}}
	cases := []struct {
		after  string
		at     string
		online bool
	}{
		{"2026-05-04T08:59:59.999999999Z", "2026-05-04T09:00:00Z", true},
		{"2026-05-04T09:00:00Z", "2026-05-04T17:00:00Z", false},
		{"2026-05-04T16:59:59.5Z", "2026-05-04T17:00:00Z", false},
		{"2026-05-04T17:00:00Z", "2026-05-11T09:00:00Z", true},
	}
	for _, tc := range cases {
		at, online, ok, err := s.NextTransition(mustTime(t, tc.after))
		if err != nil || !ok {
			t.Fatalf("NextTransition(%s): ok=%v err=%v", tc.after, ok, err)
		}
		if !at.Equal(mustTime(t, tc.at)) || online != tc.online {
			t.Errorf("NextTransition(%s) = %s %v, want %s %v", tc.after, at.UTC().Format(time.RFC3339), online, tc.at, tc.online)
		}
	}
}

func TestScheduleResultIsInScheduleZone(t *testing.T) {
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: []string{"mon"}, Start: "09:00", End: "17:00"}}}
	at, _, _, err := s.NextTransition(mustTime(t, "2026-05-04T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if got := at.Format("2006-01-02 15:04 MST"); got != "2026-05-04 09:00 CEST" {
		t.Fatalf("local rendering %q, want 2026-05-04 09:00 CEST", got)
	}
}

// TestScheduleNewYorkSpringWeeks drives a clock through three weeks around
// the March DST change: every transition stays at 09:00/17:00 local while
// the UTC offset moves from -5 to -4.
func TestScheduleNewYorkSpringWeeks(t *testing.T) {
	s := Schedule{Timezone: "America/New_York", Enabled: true, Rules: []Rule{{Days: weekdays(), Start: "09:00", End: "17:00"}}}
	from := mustTime(t, "2026-03-01T12:00:00Z") // Sunday
	var want []string
	for d := 2; d <= 20; d++ {
		day := time.Date(2026, time.March, d, 0, 0, 0, 0, time.UTC)
		if day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
			continue
		}
		shift := 5 // EST before 2026-03-08
		if d > 8 {
			shift = 4 // EDT
		}
		want = append(want,
			day.Add(time.Duration(9+shift)*time.Hour).Format(time.RFC3339)+" on",
			day.Add(time.Duration(17+shift)*time.Hour).Format(time.RFC3339)+" off")
	}
	wantTransitions(t, s, from, want...)

	// Stepping with NextTransition yields the same clock.
	got, err := s.Transitions(from, len(want))
	if err != nil {
		t.Fatal(err)
	}
	cur := from
	for i, tr := range got {
		at, online, ok, err := s.NextTransition(cur)
		if err != nil || !ok || !at.Equal(tr.At) || online != tr.Online {
			t.Fatalf("step %d: NextTransition(%s) = %s %v %v %v, want %s %v", i, cur, at, online, ok, err, tr.At, tr.Online)
		}
		local := at.In(at.Location())
		if h, m, _ := local.Clock(); (h != 9 && h != 17) || m != 0 {
			t.Fatalf("step %d: transition at local %s, want 09:00 or 17:00", i, local)
		}
		cur = at
	}
}

func TestScheduleNewYorkFallBack(t *testing.T) {
	s := Schedule{Timezone: "America/New_York", Enabled: true, Rules: []Rule{{Days: []string{"fri", "mon"}, Start: "09:00", End: "17:00"}}}
	wantTransitions(t, s, mustTime(t, "2026-10-30T00:00:00Z"),
		"2026-10-30T13:00:00Z on", // Fri, EDT
		"2026-10-30T21:00:00Z off",
		"2026-11-02T14:00:00Z on", // Mon, EST
		"2026-11-02T22:00:00Z off",
	)
}

func TestScheduleWarsawDSTKeepsWallClock(t *testing.T) {
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: []string{"fri", "mon"}, Start: "09:00", End: "17:00"}}}
	wantTransitions(t, s, mustTime(t, "2026-03-27T00:00:00Z"),
		"2026-03-27T08:00:00Z on", // Fri, CET
		"2026-03-27T16:00:00Z off",
		"2026-03-30T07:00:00Z on", // Mon, CEST
		"2026-03-30T15:00:00Z off",
	)
	wantTransitions(t, s, mustTime(t, "2026-10-23T00:00:00Z"),
		"2026-10-23T07:00:00Z on", // Fri, CEST
		"2026-10-23T15:00:00Z off",
		"2026-10-26T08:00:00Z on", // Mon, CET
		"2026-10-26T16:00:00Z off",
	)
}

func TestScheduleSydneySouthernHemisphere(t *testing.T) {
	s := Schedule{Timezone: "Australia/Sydney", Enabled: true, Rules: []Rule{{Days: []string{"fri", "mon"}, Start: "09:00", End: "17:00"}}}
	// DST ends on Sunday 2026-04-05: AEDT (+11) becomes AEST (+10).
	wantTransitions(t, s, mustTime(t, "2026-04-02T12:00:00Z"),
		"2026-04-02T22:00:00Z on", // Fri 09:00 AEDT
		"2026-04-03T06:00:00Z off",
		"2026-04-05T23:00:00Z on", // Mon 09:00 AEST
		"2026-04-06T07:00:00Z off",
	)
	// DST starts on Sunday 2026-10-04: AEST (+10) becomes AEDT (+11).
	wantTransitions(t, s, mustTime(t, "2026-10-01T12:00:00Z"),
		"2026-10-01T23:00:00Z on", // Fri 09:00 AEST
		"2026-10-02T07:00:00Z off",
		"2026-10-04T22:00:00Z on", // Mon 09:00 AEDT
		"2026-10-05T06:00:00Z off",
	)
}

func TestScheduleSpringForwardGap(t *testing.T) {
	cases := []struct {
		name, zone, start, end string
		from                   string
		want                   []string
	}{
		{
			// Warsaw skips 02:00-03:00 on 2026-03-29; 02:30 starts at 03:00 CEST.
			name: "Warsaw start in gap", zone: "Europe/Warsaw", start: "02:30", end: "05:00",
			from: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T01:00:00Z on", "2026-03-29T03:00:00Z off"},
		},
		{
			name: "Warsaw end in gap", zone: "Europe/Warsaw", start: "01:00", end: "02:30",
			from: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T00:00:00Z on", "2026-03-29T01:00:00Z off"},
		},
		{
			// A negative offset makes time.Date pick the other side of the
			// gap, which must resolve the same way.
			name: "New York start in gap", zone: "America/New_York", start: "02:30", end: "05:00",
			from: "2026-03-07T12:00:00Z",
			want: []string{"2026-03-08T07:00:00Z on", "2026-03-08T09:00:00Z off"},
		},
		{
			name: "Sydney start in gap", zone: "Australia/Sydney", start: "02:30", end: "05:00",
			from: "2026-10-03T00:00:00Z",
			want: []string{"2026-10-03T16:00:00Z on", "2026-10-03T18:00:00Z off"},
		},
		{
			// Entirely inside the gap: nothing that day, next Sunday as usual.
			name: "Warsaw window inside gap", zone: "Europe/Warsaw", start: "02:00", end: "02:45",
			from: "2026-03-28T12:00:00Z",
			want: []string{"2026-04-05T00:00:00Z on", "2026-04-05T00:45:00Z off"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Schedule{Timezone: tc.zone, Enabled: true, Rules: []Rule{{Days: []string{"sun"}, Start: tc.start, End: tc.end}}}
			wantTransitions(t, s, mustTime(t, tc.from), tc.want...)
		})
	}
}

func TestScheduleFallBackFirstOccurrence(t *testing.T) {
	cases := []struct {
		name, zone, start, end string
		from                   string
		want                   []string
	}{
		{
			// Warsaw repeats 02:00-03:00 on 2026-10-25; 02:30 is 00:30 UTC (CEST).
			name: "Warsaw start in repeated hour", zone: "Europe/Warsaw", start: "02:30", end: "05:00",
			from: "2026-10-24T12:00:00Z",
			want: []string{"2026-10-25T00:30:00Z on", "2026-10-25T04:00:00Z off"},
		},
		{
			// Both ends in the repeated hour: the window runs once.
			name: "Warsaw window inside repeated hour", zone: "Europe/Warsaw", start: "02:10", end: "02:50",
			from: "2026-10-24T12:00:00Z",
			want: []string{"2026-10-25T00:10:00Z on", "2026-10-25T00:50:00Z off", "2026-11-01T01:10:00Z on"},
		},
		{
			// New York repeats 01:00-02:00 on 2026-11-01; 01:30 EDT is 05:30 UTC.
			name: "New York start in repeated hour", zone: "America/New_York", start: "01:30", end: "03:00",
			from: "2026-10-31T12:00:00Z",
			want: []string{"2026-11-01T05:30:00Z on", "2026-11-01T08:00:00Z off"},
		},
		{
			// Sydney repeats 02:00-03:00 on 2026-04-05; 02:30 AEDT is 15:30 UTC.
			name: "Sydney start in repeated hour", zone: "Australia/Sydney", start: "02:30", end: "05:00",
			from: "2026-04-04T00:00:00Z",
			want: []string{"2026-04-04T15:30:00Z on", "2026-04-04T19:00:00Z off"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Schedule{Timezone: tc.zone, Enabled: true, Rules: []Rule{{Days: []string{"sun"}, Start: tc.start, End: tc.end}}}
			wantTransitions(t, s, mustTime(t, tc.from), tc.want...)
		})
	}

	// During the second pass through 02:10-02:50 the agent is offline.
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: []string{"sun"}, Start: "02:10", End: "02:50"}}}
	wantOnline(t, s, mustTime(t, "2026-10-25T00:30:00Z"), true)
	wantOnline(t, s, mustTime(t, "2026-10-25T01:30:00Z"), false)

	// An overnight window ending in the repeated hour ends at its first pass.
	s = Schedule{Timezone: "America/New_York", Enabled: true, Rules: []Rule{{Days: []string{"sat"}, Start: "22:00", End: "01:30"}}}
	wantTransitions(t, s, mustTime(t, "2026-10-31T12:00:00Z"),
		"2026-11-01T02:00:00Z on",
		"2026-11-01T05:30:00Z off",
	)
}

func TestScheduleOvernight(t *testing.T) {
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: []string{"fri"}, Start: "22:00", End: "06:00"}}}
	wantOnline(t, s, mustLocal(t, "Europe/Warsaw", "2026-05-08 21:59"), false)
	wantOnline(t, s, mustLocal(t, "Europe/Warsaw", "2026-05-08 22:00"), true)
	wantOnline(t, s, mustLocal(t, "Europe/Warsaw", "2026-05-09 05:59"), true)
	wantOnline(t, s, mustLocal(t, "Europe/Warsaw", "2026-05-09 06:00"), false)
	wantTransitions(t, s, mustTime(t, "2026-05-08T00:00:00Z"),
		"2026-05-08T20:00:00Z on",
		"2026-05-09T04:00:00Z off",
		"2026-05-15T20:00:00Z on",
	)

	// Sunday night runs into Monday of the next week.
	s = Schedule{Timezone: "UTC", Enabled: true, Rules: []Rule{{Days: []string{"sun"}, Start: "22:00", End: "06:00"}}}
	wantOnline(t, s, mustTime(t, "2026-05-11T05:00:00Z"), true) // Monday
	wantTransitions(t, s, mustTime(t, "2026-05-04T00:00:00Z"),
		"2026-05-04T06:00:00Z off", // the window begun on Sunday 05-03
		"2026-05-10T22:00:00Z on",
		"2026-05-11T06:00:00Z off",
		"2026-05-17T22:00:00Z on",
		"2026-05-18T06:00:00Z off",
	)
	// Asked for on Monday morning, the window begun on Sunday is found.
	wantTransitions(t, s, mustTime(t, "2026-05-11T01:00:00Z"), "2026-05-11T06:00:00Z off")

	// End 00:00 is the next midnight.
	s = Schedule{Timezone: "UTC", Enabled: true, Rules: []Rule{{Days: []string{"fri"}, Start: "22:00", End: "00:00"}}}
	wantTransitions(t, s, mustTime(t, "2026-05-08T00:00:00Z"), "2026-05-08T22:00:00Z on", "2026-05-09T00:00:00Z off")
}

func TestScheduleWholeDays(t *testing.T) {
	for _, end := range []string{"24:00", "23:59"} {
		t.Run(end, func(t *testing.T) {
			s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: weekdays(), Start: "00:00", End: end}}}
			// No transition at any midnight between Monday and Saturday,
			// including none at 23:59.
			wantTransitions(t, s, mustTime(t, "2026-05-02T12:00:00Z"),
				"2026-05-03T22:00:00Z on",  // Mon 00:00 CEST
				"2026-05-08T22:00:00Z off", // Sat 00:00 CEST
				"2026-05-10T22:00:00Z on",
			)
			wantOnline(t, s, mustLocal(t, "Europe/Warsaw", "2026-05-05 23:59"), true)
			wantOnline(t, s, mustLocal(t, "Europe/Warsaw", "2026-05-08 23:59"), true)
		})
	}

	// Consecutive whole days across a DST change have no gap either.
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: []string{"sat", "sun", "mon"}, Start: "00:00", End: "24:00"}}}
	wantTransitions(t, s, mustTime(t, "2026-03-26T12:00:00Z"),
		"2026-03-27T23:00:00Z on",  // Sat 00:00 CET
		"2026-03-30T22:00:00Z off", // Tue 00:00 CEST
	)
}

func TestScheduleAlwaysOnHasNoTransitions(t *testing.T) {
	for _, rules := range [][]Rule{
		{{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "00:00", End: "24:00"}},
		// Covered by overlapping and overnight pieces instead.
		{
			{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "06:00", End: "18:00"},
			{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "17:00", End: "6:00"},
		},
	} {
		s := Schedule{Timezone: "America/New_York", Enabled: true, Rules: rules}
		at := mustTime(t, "2026-03-07T12:00:00Z")
		wantOnline(t, s, at, true)
		if tr, online, ok, err := s.NextTransition(at); ok || err != nil {
			t.Fatalf("24/7 NextTransition = %s %v ok=%v err=%v, want none", tr, online, ok, err)
		}
	}
}

func TestScheduleMergesWindows(t *testing.T) {
	cases := []struct {
		name  string
		rules []Rule
		from  string
		want  []string
	}{
		{
			name: "adjacent",
			rules: []Rule{
				{Days: []string{"mon"}, Start: "09:00", End: "12:00"},
				{Days: []string{"mon"}, Start: "12:00", End: "17:00"},
			},
			from: "2026-05-04T00:00:00Z",
			want: []string{"2026-05-04T09:00:00Z on", "2026-05-04T17:00:00Z off"},
		},
		{
			name: "overlapping and nested",
			rules: []Rule{
				{Days: []string{"mon"}, Start: "12:00", End: "17:00"},
				{Days: []string{"mon"}, Start: "09:00", End: "13:00"},
				{Days: []string{"mon"}, Start: "10:00", End: "11:00"},
			},
			from: "2026-05-04T00:00:00Z",
			want: []string{"2026-05-04T09:00:00Z on", "2026-05-04T17:00:00Z off"},
		},
		{
			name: "overnight into next day's window",
			rules: []Rule{
				{Days: []string{"mon"}, Start: "22:00", End: "06:00"},
				{Days: []string{"tue"}, Start: "06:00", End: "10:00"},
			},
			from: "2026-05-04T00:00:00Z",
			want: []string{"2026-05-04T22:00:00Z on", "2026-05-05T10:00:00Z off"},
		},
		{
			name: "separate windows keep their gap",
			rules: []Rule{
				{Days: []string{"mon"}, Start: "09:00", End: "12:00"},
				{Days: []string{"mon"}, Start: "12:30", End: "17:00"},
			},
			from: "2026-05-04T00:00:00Z",
			want: []string{"2026-05-04T09:00:00Z on", "2026-05-04T12:00:00Z off", "2026-05-04T12:30:00Z on", "2026-05-04T17:00:00Z off"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Schedule{Timezone: "UTC", Enabled: true, Rules: tc.rules}
			wantTransitions(t, s, mustTime(t, tc.from), tc.want...)
		})
	}
}

func TestScheduleExceptions(t *testing.T) {
	office := []Rule{{Days: weekdays(), Start: "09:00", End: "17:00"}}

	t.Run("day off", func(t *testing.T) {
		// 2026-05-01 is a Friday.
		s := Schedule{Timezone: "UTC", Enabled: true, Rules: office, Exceptions: []Exception{{Date: "2026-05-01", Off: true}}}
		wantOnline(t, s, mustTime(t, "2026-05-01T10:00:00Z"), false)
		wantTransitions(t, s, mustTime(t, "2026-04-30T12:00:00Z"),
			"2026-04-30T17:00:00Z off",
			"2026-05-04T09:00:00Z on",
		)
	})
	t.Run("overnight window runs into a day off", func(t *testing.T) {
		s := Schedule{Timezone: "UTC", Enabled: true,
			Rules:      []Rule{{Days: weekdays(), Start: "22:00", End: "06:00"}},
			Exceptions: []Exception{{Date: "2026-05-01", Off: true}},
		}
		wantOnline(t, s, mustTime(t, "2026-05-01T05:00:00Z"), true)
		wantTransitions(t, s, mustTime(t, "2026-04-30T12:00:00Z"),
			"2026-04-30T22:00:00Z on",  // Thursday's window...
			"2026-05-01T06:00:00Z off", // ...keeps running into the day off
			"2026-05-04T22:00:00Z on",  // Friday's does not start
		)
	})
	t.Run("changed day", func(t *testing.T) {
		s := Schedule{Timezone: "UTC", Enabled: true, Rules: office, Exceptions: []Exception{{Date: "2026-05-04", Start: "10:00", End: "14:00"}}}
		wantTransitions(t, s, mustTime(t, "2026-05-04T00:00:00Z"),
			"2026-05-04T10:00:00Z on",
			"2026-05-04T14:00:00Z off",
			"2026-05-05T09:00:00Z on",
		)
	})
	t.Run("extra day", func(t *testing.T) {
		s := Schedule{Timezone: "UTC", Enabled: true, Rules: office, Exceptions: []Exception{{Date: "2026-05-09", Start: "8:00", End: "12:00"}}}
		wantTransitions(t, s, mustTime(t, "2026-05-08T12:00:00Z"),
			"2026-05-08T17:00:00Z off",
			"2026-05-09T08:00:00Z on",
			"2026-05-09T12:00:00Z off",
			"2026-05-11T09:00:00Z on",
		)
	})
	t.Run("overnight exception merges with next day", func(t *testing.T) {
		s := Schedule{Timezone: "UTC", Enabled: true, Rules: office, Exceptions: []Exception{{Date: "2026-05-10", Start: "20:00", End: "09:00"}}}
		wantTransitions(t, s, mustTime(t, "2026-05-08T12:00:00Z"),
			"2026-05-08T17:00:00Z off",
			"2026-05-10T20:00:00Z on",
			"2026-05-11T17:00:00Z off",
		)
	})
	t.Run("unsorted exceptions", func(t *testing.T) {
		s := Schedule{Timezone: "UTC", Enabled: true, Rules: office, Exceptions: []Exception{
			{Date: "2026-05-06", Off: true},
			{Date: "2026-05-05", Off: true},
			{Date: "2026-05-04", Off: true},
		}}
		wantTransitions(t, s, mustTime(t, "2026-05-01T12:00:00Z"),
			"2026-05-01T17:00:00Z off",
			"2026-05-07T09:00:00Z on",
		)
	})
	t.Run("local date in the schedule zone", func(t *testing.T) {
		// Sydney's 2026-05-04 starts at 2026-05-03T14:00Z.
		s := Schedule{Timezone: "Australia/Sydney", Enabled: true, Exceptions: []Exception{{Date: "2026-05-04", Start: "00:00", End: "24:00"}}}
		wantTransitions(t, s, mustTime(t, "2026-05-01T00:00:00Z"),
			"2026-05-03T14:00:00Z on",
			"2026-05-04T14:00:00Z off",
		)
	})
}

func TestScheduleFarExceptions(t *testing.T) {
	allWeek := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	from := mustTime(t, "2026-06-01T12:00:00Z")

	t.Run("holiday in a 24/7 schedule", func(t *testing.T) {
		s := Schedule{Timezone: "Europe/Warsaw", Enabled: true,
			Rules:      []Rule{{Days: allWeek, Start: "00:00", End: "24:00"}},
			Exceptions: []Exception{{Date: "2027-03-01", Off: true}, {Date: "2027-03-02", Off: true}},
		}
		wantTransitions(t, s, from,
			"2027-02-28T23:00:00Z off", // 2027-03-01 00:00 CET
			"2027-03-02T23:00:00Z on",
		)
	})
	t.Run("extra day without rules", func(t *testing.T) {
		s := Schedule{Timezone: "America/New_York", Enabled: true,
			Exceptions: []Exception{{Date: "2026-01-01", Start: "09:00", End: "10:00"}, {Date: "2027-02-10", Start: "09:00", End: "17:00"}},
		}
		wantTransitions(t, s, from,
			"2027-02-10T14:00:00Z on",
			"2027-02-10T22:00:00Z off",
		)
	})
	t.Run("a year of holidays", func(t *testing.T) {
		s := Schedule{Timezone: "UTC", Enabled: true, Rules: []Rule{{Days: weekdays(), Start: "09:00", End: "17:00"}}}
		first := mustTime(t, "2026-06-02T00:00:00Z")
		for i := 0; i < MaxExceptions; i++ {
			s.Exceptions = append(s.Exceptions, Exception{Date: first.AddDate(0, 0, i).Format(time.DateOnly), Off: true})
		}
		// 2027-06-03 is the first day after the run (a Thursday).
		wantTransitions(t, s, from, "2026-06-01T17:00:00Z off", "2027-06-03T09:00:00Z on")
	})
	t.Run("beyond the horizon", func(t *testing.T) {
		s := Schedule{Timezone: "UTC", Enabled: true,
			Exceptions: []Exception{{Date: from.AddDate(0, 0, HorizonDays+1).Format(time.DateOnly), Start: "09:00", End: "17:00"}},
		}
		if _, _, ok, err := s.NextTransition(from); ok || err != nil {
			t.Fatalf("ok=%v err=%v, want no transition within the horizon", ok, err)
		}
		s.Exceptions[0].Date = from.AddDate(0, 0, HorizonDays-1).Format(time.DateOnly)
		if _, _, ok, err := s.NextTransition(from); !ok || err != nil {
			t.Fatalf("ok=%v err=%v, want a transition inside the horizon", ok, err)
		}
	})
}

func TestScheduleYearEnd(t *testing.T) {
	// 2026-12-31 is a Thursday.
	for _, zone := range []string{"UTC", "Europe/Warsaw", "America/New_York", "Australia/Sydney"} {
		t.Run(zone, func(t *testing.T) {
			s := Schedule{Timezone: zone, Enabled: true, Rules: []Rule{{Days: []string{"thu"}, Start: "22:00", End: "02:00"}}}
			got, err := s.Transitions(mustLocal(t, zone, "2026-12-30 12:00"), 3)
			if err != nil {
				t.Fatal(err)
			}
			want := []Transition{
				{At: mustLocal(t, zone, "2026-12-31 22:00"), Online: true},
				{At: mustLocal(t, zone, "2027-01-01 02:00"), Online: false},
				{At: mustLocal(t, zone, "2027-01-07 22:00"), Online: true},
			}
			if formatTransitions(got) != formatTransitions(want) {
				t.Fatalf("got:\n%swant:\n%s", formatTransitions(got), formatTransitions(want))
			}
			wantOnline(t, s, mustLocal(t, zone, "2027-01-01 01:59"), true)
		})
	}
}

// naiveOracle is an independent, deliberately naive reading of the
// semantics. It works on "local minutes" (local date * 1440 + minute of
// day) and relies on this characterisation of the DST rules: a boundary at
// wall-clock W is the first instant whose wall clock reaches W. So the
// agent is online at t exactly when some window [s, e) contains the
// highest wall clock seen up to t, which the oracle tracks as it is fed
// instants in increasing order.
type naiveOracle struct {
	s       Schedule
	loc     *time.Location
	maxWall int64
	memo    map[int64][][2]int64
}

func (o *naiveOracle) online(at time.Time) bool {
	_, off := at.In(o.loc).Zone()
	wall := floorDiv(at.Unix()+int64(off), 60)
	if wall > o.maxWall {
		o.maxWall = wall
	}
	today := floorDiv(o.maxWall, 24*60)
	for day := today - 1; day <= today; day++ {
		if o.memo == nil {
			o.memo = map[int64][][2]int64{}
		}
		spans, ok := o.memo[day]
		if !ok {
			spans = o.spans(day)
			o.memo[day] = spans
		}
		for _, sp := range spans {
			if day*24*60+sp[0] <= o.maxWall && o.maxWall < day*24*60+sp[1] {
				return true
			}
		}
	}
	return false
}

// spans lists the windows starting on a local day number as minute
// offsets from that day's midnight.
func (o *naiveOracle) spans(day int64) [][2]int64 {
	clock := func(v string) int64 {
		var h, m int64
		if _, err := fmt.Sscanf(v, "%d:%d", &h, &m); err != nil {
			panic(err)
		}
		return h*60 + m
	}
	toSpan := func(start, end string) [2]int64 {
		a, b := clock(start), clock(end)
		if b == 23*60+59 {
			b = 24 * 60
		}
		if b <= a {
			b += 24 * 60
		}
		return [2]int64{a, b}
	}
	date := time.Unix(day*86400, 0).UTC()
	key := date.Format(time.DateOnly)
	for _, x := range o.s.Exceptions {
		if x.Date == key {
			if x.Off {
				return nil
			}
			return [][2]int64{toSpan(x.Start, x.End)}
		}
	}
	name := strings.ToLower(date.Weekday().String()[:3])
	var out [][2]int64
	for _, r := range o.s.Rules {
		for _, d := range r.Days {
			if d == name {
				out = append(out, toSpan(r.Start, r.End))
			}
		}
	}
	return out
}

// TestScheduleMatchesOracle compares OnlineAt and Transitions with the
// oracle on random schedules over periods containing DST changes, sampling
// every 15 minutes: all window boundaries and zone offsets in these zones
// are multiples of 15 minutes, so every transition is a sample point.
func TestScheduleMatchesOracle(t *testing.T) {
	rng := uint64(0x9E3779B97F4A7C15)
	rand := func(n int) int {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(n))
	}
	clock := func() string {
		m := rand(96) * 15
		if rand(3) == 0 {
			// Favour the small hours, where DST changes happen.
			m = 60 + rand(12)*15
		}
		return fmt.Sprintf("%d:%02d", m/60, m%60)
	}
	endClock := func() string {
		switch rand(8) {
		case 0:
			return "24:00"
		case 1:
			return "23:59"
		}
		return clock()
	}
	dayNames := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	const weeks = 6

	zones := []string{"UTC", "Asia/Kolkata", "Europe/Warsaw", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"}
	for _, zone := range zones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		// Both periods contain the DST changes of all the zones above.
		for _, period := range []string{"2026-03-02 00:00", "2026-09-28 00:00"} {
			for iter := 0; iter < 25; iter++ {
				s := Schedule{Timezone: zone, Enabled: true}
				if rand(4) == 0 {
					// 24/7 weekly coverage takes the scanner's skipping
					// path; the exceptions below then make it change.
					s.Rules = append(s.Rules,
						Rule{Days: dayNames[:4], Start: "0:00", End: "24:00"},
						Rule{Days: dayNames[3:], Start: "12:00", End: "12:15"},
						Rule{Days: dayNames[3:], Start: "12:15", End: "12:00"},
					)
				}
				for r := rand(5); r > 0; r-- {
					var days []string
					for _, d := range dayNames {
						if rand(2) == 0 {
							days = append(days, d)
						}
					}
					if len(days) == 0 {
						days = []string{dayNames[rand(7)]}
					}
					start, end := clock(), endClock()
					if start == end {
						continue
					}
					s.Rules = append(s.Rules, Rule{Days: days, Start: start, End: end})
				}
				from := mustLocal(t, zone, period)
				used := map[string]bool{}
				for x := rand(6); x > 0; x-- {
					date := from.AddDate(0, 0, rand(7*weeks)).Format(time.DateOnly)
					if used[date] {
						continue
					}
					used[date] = true
					ex := Exception{Date: date, Off: rand(2) == 0}
					if !ex.Off {
						ex.Start, ex.End = clock(), endClock()
						if ex.Start == ex.End {
							ex.Off = true
							ex.Start, ex.End = "", ""
						}
					}
					s.Exceptions = append(s.Exceptions, ex)
				}
				if err := s.Validate(); err != nil {
					t.Fatalf("generated invalid schedule %+v: %v", s, err)
				}

				oracle := &naiveOracle{s: s, loc: loc}
				until := from.AddDate(0, 0, 7*weeks)
				var want []Transition
				prev := oracle.online(from)
				check := func(at time.Time, want bool) {
					got, err := s.OnlineAt(at)
					if err != nil || got != want {
						t.Fatalf("%+v: OnlineAt(%s) = %v, %v; oracle says %v", s, at, got, err, want)
					}
				}
				for i, at := 1, from.Add(15*time.Minute); at.Before(until); i, at = i+1, at.Add(15*time.Minute) {
					cur := oracle.online(at)
					if cur != prev {
						want = append(want, Transition{At: at, Online: cur})
						// OnlineAt costs a zone load, so it is checked on
						// both sides of every change and at a stride.
						check(at.Add(-time.Nanosecond), prev)
						check(at, cur)
					} else if i%12 == 0 {
						check(at, cur)
					}
					prev = cur
				}
				all, err := s.Transitions(from, 7*weeks*96)
				if err != nil {
					t.Fatal(err)
				}
				var got []Transition
				for _, tr := range all {
					if tr.At.Before(until) {
						got = append(got, tr)
					}
				}
				if formatTransitions(got) != formatTransitions(want) {
					t.Fatalf("%+v:\ngot:\n%swant:\n%s", s, formatTransitions(got), formatTransitions(want))
				}
			}
		}
	}
}

func ExampleSchedule_NextTransition() {
	s := Schedule{
		Timezone: "Europe/Warsaw",
		Enabled:  true,
		Rules: []Rule{
			{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00"},
		},
		Exceptions: []Exception{
			{Date: "2026-05-01", Off: true}, // Labour Day, a Friday
		},
	}
	after := time.Date(2026, time.April, 30, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		at, online, ok, err := s.NextTransition(after)
		if err != nil || !ok {
			fmt.Println("no transition:", err)
			return
		}
		fmt.Println(at.Format("Mon 2006-01-02 15:04 MST"), online)
		after = at
	}
	// Output:
	// Thu 2026-04-30 17:00 CEST false
	// Mon 2026-05-04 09:00 CEST true
	// Mon 2026-05-04 17:00 CEST false
}

func BenchmarkNextTransition(b *testing.B) {
	office := Schedule{
		Timezone: "Europe/Warsaw",
		Enabled:  true,
		Rules: []Rule{
			{Days: weekdays(), Start: "09:00", End: "17:00"},
			{Days: []string{"sat"}, Start: "10:00", End: "14:00"},
		},
	}
	first := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 12; i++ {
		office.Exceptions = append(office.Exceptions, Exception{Date: first.AddDate(0, i, 0).Format(time.DateOnly), Off: true})
	}
	alwaysOn := Schedule{
		Timezone:   "America/New_York",
		Enabled:    true,
		Rules:      []Rule{{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "00:00", End: "24:00"}},
		Exceptions: []Exception{{Date: "2026-12-25", Off: true}},
	}
	utc := office
	utc.Timezone = "UTC"

	// Spread query instants over two weeks so every position within the
	// weekly pattern is exercised.
	var afters [1024]time.Time
	for i := range afters {
		afters[i] = time.Date(2026, time.March, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 1181 * time.Second)
	}
	for _, bc := range []struct {
		name string
		s    Schedule
	}{{"warsaw-office", office}, {"utc-office", utc}, {"always-on-far-exception", alwaysOn}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, _, ok, err := bc.s.NextTransition(afters[i%len(afters)]); err != nil || !ok {
					b.Fatalf("ok=%v err=%v", ok, err)
				}
				i++
			}
		})
	}
}

func TestScheduleParseDateMatchesTime(t *testing.T) {
	for _, v := range []string{"0001-01-01", "1969-12-31", "1970-01-01", "2000-02-29", "2026-03-01", "2100-02-28", "2400-02-29", "9999-12-31"} {
		ref, err := time.Parse(time.DateOnly, v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseDate(v)
		if want := floorDiv(ref.Unix(), 86400); !ok || got != want {
			t.Errorf("parseDate(%q) = %d, %v; want %d", v, got, ok, want)
		}
	}
	for _, v := range []string{"0000-01-01", "2100-02-29", "2026-13-01", "2026-04-31", "2026-00-10", "2026-01-00", "+026-01-01", "2026/01/01"} {
		if _, ok := parseDate(v); ok {
			t.Errorf("parseDate(%q) accepted", v)
		}
	}
	// Every day over several centuries, including pre-1970 ones.
	for d := time.Date(1890, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2110; d = d.AddDate(0, 0, 1) {
		got, ok := parseDate(d.Format(time.DateOnly))
		if want := floorDiv(d.Unix(), 86400); !ok || got != want {
			t.Fatalf("parseDate(%s) = %d, %v; want %d", d.Format(time.DateOnly), got, ok, want)
		}
	}
}

func TestScheduleExtremeInstants(t *testing.T) {
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: []string{"sun"}, Start: "22:00", End: "06:00"}}}
	for _, after := range []time.Time{
		{},
		time.Date(1901, time.December, 14, 0, 0, 0, 0, time.UTC),
		time.Date(9999, time.December, 25, 0, 0, 0, 0, time.UTC),
	} {
		at, _, ok, err := s.NextTransition(after)
		if err != nil || !ok || !at.After(after) || at.Sub(after) > 8*24*time.Hour {
			t.Errorf("NextTransition(%s) = %s ok=%v err=%v, want a transition within a week", after, at, ok, err)
		}
		if _, err := s.OnlineAt(after); err != nil {
			t.Errorf("OnlineAt(%s): %v", after, err)
		}
	}
}

// TestScheduleJSONShape pins the JSON the store keeps in agents.schedule:
// schedules saved before the engine had its own package must read back.
func TestScheduleJSONShape(t *testing.T) {
	const stored = `{"timezone":"Europe/Warsaw","enabled":true,"rules":[{"days":["mon","fri"],"start":"09:00","end":"17:00"}],` +
		`"exceptions":[{"date":"2026-12-24","off":true},{"date":"2026-12-31","off":false,"start":"10:00","end":"14:00"}]}`
	s := Schedule{Timezone: "Europe/Warsaw", Enabled: true, Rules: []Rule{{Days: []string{"mon", "fri"}, Start: "09:00", End: "17:00"}},
		Exceptions: []Exception{{Date: "2026-12-24", Off: true}, {Date: "2026-12-31", Start: "10:00", End: "14:00"}}}
	b, err := json.Marshal(s)
	if err != nil || string(b) != stored {
		t.Fatalf("marshal: %s, %v\nwant %s", b, err, stored)
	}
	var back Schedule
	if err := json.Unmarshal([]byte(stored), &back); err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("unmarshal: %+v, %v", back, err)
	}
}
