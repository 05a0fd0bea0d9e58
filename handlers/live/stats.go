package live

// refuse counts a refusal by cap and returns its error; c.mu is held.
func (c *Caps) refuse(cp Cap) error {
	c.refused[cp].Add(1)
	return &CapError{Cap: cp}
}

// Refused is how many streams cap refused since start; without caps
// (nil), none.
func (c *Caps) Refused(cp Cap) uint64 {
	if c == nil || int(cp) >= len(c.refused) {
		return 0
	}
	return c.refused[cp].Load()
}

// Drops is how many streams the hub let go for falling DefaultBuffer (or
// WithBuffer) events behind; their clients resume.
func (h *Hub[K, D]) Drops() uint64 { return h.drops.Load() }

// Resumptions is how many streams resumed with a Last-Event-ID still in
// the hub's history.
func (h *Hub[K, D]) Resumptions() uint64 { return h.resumptions.Load() }
