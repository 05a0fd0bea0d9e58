package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// SQLite has no time type: times are text, and the store compares them in
// SQL (since <= ?, until <= ?, at >= ?). The driver writes
// "2006-01-02 15:04:05.999999999-07:00", in the zone of the value given:
// its width varies with the fraction and its order is time order only
// among values of one zone. The store writes every time instead in UTC
// with all nine fractional digits, so that text order is time order:
// "2026-11-25 09:00:05.000000000+00:00". The driver reads that form (its
// first layout) as it reads the older ones; sqliteTimeVersion rewrites the
// times a file written before holds.
const sqliteTimeLayout = "2006-01-02 15:04:05.000000000+00:00"

// sqliteConnector opens connections of the SQLite driver whose time
// parameters are written in sqliteTimeLayout.
type sqliteConnector struct{ dsn string }

// Connect implements driver.Connector.
func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := (&gosqlite.Driver{}).Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteDriverConn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("sqlite connection %T lacks the context methods", conn)
	}
	return sqliteTimeConn{inner}, nil
}

// Driver implements driver.Connector.
func (sqliteConnector) Driver() driver.Driver { return &gosqlite.Driver{} }

// sqliteDriverConn is what the SQLite driver's connections do, and what
// sqliteTimeConn passes on.
type sqliteDriverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
}

// sqliteTimeConn is a SQLite connection that formats time parameters
// itself. database/sql asks a connection's CheckNamedValue for every
// parameter of every statement, prepared or not, so no time reaches the
// driver's own formatting: neither gorm's nor a raw query's.
type sqliteTimeConn struct{ sqliteDriverConn }

// CheckNamedValue implements driver.NamedValueChecker: the default
// conversion (pointers, driver.Valuer), then times as sqliteTimeLayout.
func (sqliteTimeConn) CheckNamedValue(nv *driver.NamedValue) error {
	v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
	if err != nil {
		return err
	}
	if t, ok := v.(time.Time); ok {
		v = t.UTC().Format(sqliteTimeLayout)
	}
	nv.Value = v
	return nil
}

// openSQLite opens the pool of a SQLite file through sqliteConnector.
func openSQLite(dsn string) *sql.DB { return sql.OpenDB(sqliteConnector{dsn: dsn}) }

// sqliteTimeVersion is the user_version of a SQLite file whose times are
// all in sqliteTimeLayout.
const sqliteTimeVersion = 1

// rewriteSQLiteTimes brings the times of a file written before
// sqliteTimeLayout (user_version below sqliteTimeVersion) into it, once:
// until then a time written now and one written before would not compare
// in time order (nor be equal when they are, which the schedules tick's
// conditional update needs). It runs in the migration's transaction.
func rewriteSQLiteTimes(tx *gorm.DB, models []any) error {
	var version int
	if err := tx.Raw("PRAGMA user_version").Scan(&version).Error; err != nil {
		return err
	}
	if version >= sqliteTimeVersion {
		return nil
	}
	timeType := reflect.TypeFor[time.Time]()
	for _, m := range models {
		stmt := &gorm.Statement{DB: tx}
		if err := stmt.Parse(m); err != nil {
			return err
		}
		for _, f := range stmt.Schema.Fields {
			if f.DBName == "" || f.IndirectFieldType != timeType || f.Serializer != nil {
				continue
			}
			if err := rewriteSQLiteColumn(tx, stmt.Schema, f.DBName); err != nil {
				return fmt.Errorf("rewrite %s.%s: %w", stmt.Schema.Table, f.DBName, err)
			}
		}
	}
	return tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", sqliteTimeVersion)).Error
}

// rewriteSQLiteColumn rewrites one column's times into sqliteTimeLayout,
// a thousand rows at a time. The driver parses every form it ever wrote
// (any zone, any fraction); a value it cannot parse fails the migration
// rather than be lost.
func rewriteSQLiteColumn(tx *gorm.DB, sch *schema.Schema, column string) error {
	pick := fmt.Sprintf(`SELECT rowid, %[1]q FROM %[2]q WHERE %[1]q IS NOT NULL AND %[1]q NOT GLOB '%[3]s' LIMIT 1000`,
		column, sch.Table, sqliteTimeGlob)
	update := fmt.Sprintf(`UPDATE %q SET %q = ? WHERE rowid = ?`, sch.Table, column)
	for {
		type row struct {
			id  int64
			val any
		}
		var rows []row
		if err := scanRows(tx, pick, nil, func(r *sql.Rows) error {
			var x row
			if err := r.Scan(&x.id, &x.val); err != nil {
				return err
			}
			rows = append(rows, x)
			return nil
		}); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		for _, r := range rows {
			t, ok := r.val.(time.Time)
			if !ok {
				return fmt.Errorf("row %d: %q is not a time", r.id, fmt.Sprint(r.val))
			}
			if err := tx.Exec(update, t, r.id).Error; err != nil {
				return err
			}
		}
	}
}

// sqliteTimeGlob matches the text of sqliteTimeLayout.
const sqliteTimeGlob = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]+00:00"
