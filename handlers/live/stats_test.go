package live

import (
	"net/netip"
	"testing"
)

// TestStatsCountDropsResumptionsAndRefusals: a subscriber that falls
// behind its buffer is dropped and counted, a resumption from history is
// counted, and each cap counts its refusals.
func TestStatsCountDropsResumptionsAndRefusals(t *testing.T) {
	h := NewHub[string, int](WithBuffer(2))
	defer h.Close()
	first, err := h.Subscribe("w", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // nothing takes the queue: the third overflows it
		h.Publish("w", i)
	}
	if h.Drops() != 1 {
		t.Fatalf("drops %d, want 1", h.Drops())
	}
	if _, err := h.Subscribe("w", h.EventID(first.Cursor)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe("w", "unknown.1"); err != nil {
		t.Fatal(err)
	}
	if h.Resumptions() != 1 {
		t.Fatalf("resumptions %d, want 1", h.Resumptions())
	}

	c := NewCaps(Limits{Instance: 10, PerAddress: 2, PerUser: 1})
	addr := netip.MustParsePrefix("192.0.2.1/32")
	if _, err := c.Admit(addr, "u"); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"u", "v", "w"} { // per user, then per address twice
		_, _ = c.Admit(addr, user)
	}
	if c.Refused(CapUser) != 1 || c.Refused(CapAddress) != 1 || c.Refused(CapInstance) != 0 {
		t.Fatalf("refused: user %d, address %d, instance %d", c.Refused(CapUser), c.Refused(CapAddress), c.Refused(CapInstance))
	}
	var none *Caps
	if none.Refused(CapUser) != 0 {
		t.Fatal("no caps refuse nothing")
	}
}
