package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// requestIDs makes request ids: a random prefix per process (so replicas'
// ids do not collide) and a counter. echo's default draws 32 random
// characters under a lock for every request; an id names a request in the
// logs, it is no secret, so a counter serves as well at a fraction of the
// cost.
func requestIDs() func() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	prefix := hex.EncodeToString(b[:]) + "-"
	var n atomic.Uint64
	return func() string {
		return prefix + strconv.FormatUint(n.Add(1), 10)
	}
}
