package models

import (
	"database/sql"
	"database/sql/driver"
	"strings"
	"time"

	"gorm.io/gorm"
)

// rowSet is a set of rows that a statement receives as parameters and
// reads as a common table expression, so that one statement acts on many
// rows: on PostgreSQL one array parameter per column, unnested, which
// keeps the statement's text and parameter count the same whatever the
// number of rows (pgx prepares it once per connection); on SQLite, which
// has no arrays, a VALUES list, split by pieces under its parameter limit.
type rowSet struct {
	name    string
	columns []rowColumn
	rows    [][]any
}

// rowColumn is a column's name and PostgreSQL type.
type rowColumn struct{ name, pgType string }

// sqliteMaxParams is SQLite's default bound on a statement's parameters
// (SQLITE_MAX_VARIABLE_NUMBER, 32766 since 3.32), less a margin for the
// statement's own.
const sqliteMaxParams = 32000

// add appends a row, one value per column: nil or a nil pointer is NULL.
func (r *rowSet) add(values ...any) {
	for i, v := range values {
		switch p := v.(type) {
		case *time.Time:
			values[i] = nil
			if p != nil {
				values[i] = *p
			}
		case *string:
			values[i] = nil
			if p != nil {
				values[i] = *p
			}
		}
	}
	r.rows = append(r.rows, values)
}

// pieces splits the rows into sets that one statement each can take: all
// of them on PostgreSQL.
func (r rowSet) pieces(d Dialect) []rowSet {
	per := len(r.rows)
	if d == DialectSQLite {
		per = sqliteMaxParams / len(r.columns)
	}
	var out []rowSet
	for lo := 0; lo < len(r.rows); lo += per {
		out = append(out, rowSet{name: r.name, columns: r.columns, rows: r.rows[lo:min(lo+per, len(r.rows))]})
	}
	return out
}

// cte renders `name(col, …) AS (…)` for a WITH clause, and its parameters.
// The rows must fit one statement (see pieces).
func (r rowSet) cte(d Dialect) (string, []any) {
	var b strings.Builder
	b.WriteString(r.name)
	b.WriteString("(")
	for i, c := range r.columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	b.WriteString(") AS (")
	var args []any
	if d == DialectPostgres {
		b.WriteString("SELECT * FROM unnest(")
		for i, c := range r.columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?::" + c.pgType + "[]")
			col := make(pgArray, len(r.rows))
			for j, row := range r.rows {
				col[j] = row[i]
			}
			args = append(args, col)
		}
		b.WriteString("))")
		return b.String(), args
	}
	args = make([]any, 0, len(r.rows)*len(r.columns))
	b.WriteString("VALUES ")
	for j, row := range r.rows {
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for i := range row {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
		}
		b.WriteString(")")
		args = append(args, row...)
	}
	b.WriteString(")")
	return b.String(), args
}

// pgArray is one PostgreSQL array parameter. As a driver.Valuer it passes
// through gorm whole (gorm expands other slices into a list for IN), and
// pgx encodes the slice it returns as an array of the type the statement
// casts it to; nil elements are NULL.
type pgArray []any

// Value implements driver.Valuer.
func (a pgArray) Value() (driver.Value, error) { return []any(a), nil }

// scanRows runs a query and hands each row to scan. Unlike gorm's Scan it
// does not render the statement with its parameters for the logger, which
// costs more than the query itself when a parameter is a thousand-row
// array, and it reads columns without reflection.
func scanRows(db *gorm.DB, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := db.Raw(q, args...).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
