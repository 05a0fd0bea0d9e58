package zones_test

import (
	"testing"
	"time"

	_ "time/tzdata" // the data the binary embeds, whatever the host has

	"agentpresence/models/zones"
)

func TestListHasCurrentNamesWithOffsets(t *testing.T) {
	// A winter instant and a summer one: Kyiv moves, Kolkata does not.
	winter := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at     time.Time
		name   string
		expect time.Duration
	}{
		{winter, "Europe/Kyiv", 2 * time.Hour},
		{summer, "Europe/Kyiv", 3 * time.Hour},
		{summer, "Asia/Kolkata", 5*time.Hour + 30*time.Minute},
		{summer, "America/New_York", -4 * time.Hour},
		{summer, "UTC", 0},
	} {
		list, _, err := zones.List(tc.at)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, z := range list {
			if z.Name == tc.name {
				found = true
				if z.Offset != tc.expect {
					t.Errorf("%s at %s: offset %v, want %v", tc.name, tc.at, z.Offset, tc.expect)
				}
			}
		}
		if !found {
			t.Errorf("%s is not offered", tc.name)
		}
	}
}

func TestListLeavesOutOldNamesAndKeepsThemAsAliases(t *testing.T) {
	list, until, err := zones.List(time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 300 {
		t.Fatalf("only %d zones", len(list))
	}
	byName := map[string]zones.Zone{}
	for i, z := range list {
		if i > 0 && list[i-1].Name >= z.Name {
			t.Fatalf("not in name order at %s", z.Name)
		}
		if _, err := time.LoadLocation(z.Name); err != nil {
			t.Fatalf("%s does not load: %v", z.Name, err)
		}
		byName[z.Name] = z
	}
	for _, old := range []string{"Europe/Kiev", "Asia/Calcutta", "US/Eastern", "Etc/UTC"} {
		if _, ok := byName[old]; ok {
			t.Errorf("the old name %s is offered", old)
		}
	}
	if k := byName["Europe/Kyiv"]; k.Countries != "Ukraine" || len(k.Aliases) == 0 || k.Aliases[0] != "Europe/Kiev" {
		t.Errorf("Europe/Kyiv: %+v", k)
	}
	// Europe's zones change at the end of March: the list's offsets hold
	// until the first change of any zone, which is not later than that.
	if eu := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC); until.IsZero() || until.After(eu) {
		t.Errorf("offsets said to hold until %v", until)
	}
}

func TestCurrent(t *testing.T) {
	for given, expect := range map[string]string{
		"Europe/Kyiv": "Europe/Kyiv", "Europe/Kiev": "Europe/Kyiv", "Asia/Calcutta": "Asia/Kolkata",
		"Etc/UTC": "UTC", "UTC": "UTC", "Mars/Olympus_Mons": "", "": "",
	} {
		if got := zones.Current(given); got != expect {
			t.Errorf("Current(%q) = %q, want %q", given, got, expect)
		}
	}
	if zones.Version() == "" || zones.Version() == "unknown" {
		t.Errorf("version %q", zones.Version())
	}
}
