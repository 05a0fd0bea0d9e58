package models

import (
	"strings"
	"testing"
	"time"
)

// TestRowSetPieces: SQLite gets the rows in pieces under its parameter
// limit, each rendered as a VALUES list whose parameters line up with its
// placeholders; PostgreSQL gets them whole, one array per column.
func TestRowSetPieces(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	set := rowSet{name: "t", columns: []rowColumn{{"id", "bigint"}, {"at", "timestamptz"}, {"note", "text"}}}
	const n = 25_000
	for i := range n {
		var note *string
		if i%2 == 0 {
			s := "even"
			note = &s
		}
		set.add(int64(i), &at, note)
	}

	pieces := set.pieces(DialectSQLite)
	per := sqliteMaxParams / 3
	if len(pieces) != (n+per-1)/per {
		t.Fatalf("%d SQLite pieces, want %d", len(pieces), (n+per-1)/per)
	}
	seen := 0
	for _, p := range pieces {
		q, args := p.cte(DialectSQLite)
		if len(args) > sqliteMaxParams || len(args) != 3*len(p.rows) || strings.Count(q, "?") != len(args) {
			t.Fatalf("piece of %d rows: %d args, %d placeholders", len(p.rows), len(args), strings.Count(q, "?"))
		}
		if first := args[0].(int64); first != int64(seen) {
			t.Fatalf("piece starts at row %d, want %d", first, seen)
		}
		seen += len(p.rows)
	}
	if seen != n {
		t.Fatalf("pieces hold %d rows, want %d", seen, n)
	}
	if q, _ := pieces[0].cte(DialectSQLite); !strings.HasPrefix(q, "t(id, at, note) AS (VALUES (?, ?, ?), (?, ?, ?)") {
		t.Fatalf("SQLite CTE %.80s", q)
	}

	whole := set.pieces(DialectPostgres)
	if len(whole) != 1 || len(whole[0].rows) != n {
		t.Fatalf("PostgreSQL pieces %d", len(whole))
	}
	q, args := whole[0].cte(DialectPostgres)
	if q != "t(id, at, note) AS (SELECT * FROM unnest(?::bigint[], ?::timestamptz[], ?::text[]))" || len(args) != 3 {
		t.Fatalf("PostgreSQL CTE %q with %d args", q, len(args))
	}
	notes := args[2].(pgArray)
	if len(notes) != n || notes[0] != "even" || notes[1] != nil || args[1].(pgArray)[7] != at {
		t.Fatalf("PostgreSQL arrays: notes %v…, at %v", notes[:2], args[1].(pgArray)[7])
	}
}
