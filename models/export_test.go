package models

import (
	"sync"

	"gorm.io/gorm"
)

// StatementCounter counts the SQL statements a store sends, for the
// benchmarks: every statement gorm runs, plus a BEGIN and a COMMIT for
// each transaction they ran in.
type StatementCounter struct {
	mu    sync.Mutex
	stmts int
	txs   map[gorm.ConnPool]bool
}

// CountStatements starts counting the store's statements.
func CountStatements(s *Store) *StatementCounter {
	c := &StatementCounter{txs: map[gorm.ConnPool]bool{}}
	count := func(db *gorm.DB) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.stmts++
		if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); inTx {
			c.txs[db.Statement.ConnPool] = true
		}
	}
	cb := s.db.Callback()
	for name, err := range map[string]error{
		"create": cb.Create().Register("bench:count", count),
		"query":  cb.Query().Register("bench:count", count),
		"update": cb.Update().Register("bench:count", count),
		"delete": cb.Delete().Register("bench:count", count),
		"row":    cb.Row().Register("bench:count", count),
		"raw":    cb.Raw().Register("bench:count", count),
	} {
		if err != nil {
			panic("register statement counter for " + name + ": " + err.Error())
		}
	}
	return c
}

// Reset starts again from zero.
func (c *StatementCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stmts = 0
	c.txs = map[gorm.ConnPool]bool{}
}

// Statements is how many statements were sent since the last Reset.
func (c *StatementCounter) Statements() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts + 2*len(c.txs)
}
