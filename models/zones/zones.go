// Package zones lists the IANA time zones a schedule may be kept in, as
// the schedule editor offers them: the current names only (Europe/Kyiv,
// Asia/Kolkata), each with the countries it covers and its offset from
// UTC at a given instant. The list is generated (gen.go) from the zone
// data of the Go toolchain that builds the binary, which time/tzdata
// embeds, so that the names offered are exactly those the server can
// load; the browser's own list may be older or newer. Older names of the
// same zones (Europe/Kiev, Asia/Calcutta) map to the current ones.
package zones

//go:generate go run gen.go -goroot $GOROOT

import (
	"fmt"
	"slices"
	"time"
)

// entry is one generated zone: its name and the countries it covers.
type entry struct {
	name, countries string
}

// Zone is a time zone as offered, at one instant.
type Zone struct {
	// Name is the IANA name ("Europe/Kyiv").
	Name string
	// Countries names the countries the zone covers, comma-separated
	// ("Ukraine"); empty for UTC.
	Countries string
	// Offset is the zone's offset from UTC at the instant asked.
	Offset time.Duration
	// Aliases are older names of the same zone ("Europe/Kiev").
	Aliases []string
}

// List is every offered zone at instant at, in name order, and the
// instant until which their offsets stay as they are (the next change of
// any of them). Zones missing from the zone data at hand are an error:
// the list was generated from the data the binary embeds.
func List(at time.Time) ([]Zone, time.Time, error) {
	aliases := make(map[string][]string, len(legacy))
	for old, cur := range legacy {
		aliases[cur] = append(aliases[cur], old)
	}
	out := make([]Zone, 0, len(offered))
	var until time.Time
	for _, e := range offered {
		loc, err := time.LoadLocation(e.name)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("zones: %w", err)
		}
		t := at.In(loc)
		_, off := t.Zone()
		if _, end := t.ZoneBounds(); !end.IsZero() && (until.IsZero() || end.Before(until)) {
			until = end
		}
		as := aliases[e.name]
		slices.Sort(as)
		out = append(out, Zone{Name: e.name, Countries: e.countries, Offset: time.Duration(off) * time.Second, Aliases: as})
	}
	return out, until, nil
}

// Current is the offered name of zone name: name itself when offered,
// the current name of an older one (Europe/Kiev → Europe/Kyiv), and ""
// for a name that is neither.
func Current(name string) string {
	if cur, ok := legacy[name]; ok {
		return cur
	}
	for _, e := range offered {
		if e.name == name {
			return name
		}
	}
	return ""
}

// Version is the tzdata release the list was generated from.
func Version() string { return tzdataVersion }
