package models

import "time"

// Availability is what customers learn of a project's chat, on the portal
// and on external sites: whether anyone is there to answer, what to read,
// and whether they must log in to start a chat. Nothing about agents.
type Availability struct {
	Online  bool
	Message string
	// RequiresLogin asks customers to log in or register before a chat
	// while nobody can answer at once, so that they can be answered by
	// e-mail.
	RequiresLogin bool
	// NextOnlineAt is, while nobody is online, when a scheduled agent of
	// the project is next due to come online ("Back at 09:00"); zero when
	// online, or when no schedule of its agents switches online.
	NextOnlineAt time.Time
}

// OnlineMessage is what customers read while someone is online and the
// project has not written its own text: the English one; handlers word it
// in the customer's language (their catalog's widget.online, which a test
// keeps equal to this).
const OnlineMessage = "Our agents are online and ready to help."

// AvailabilityOf decides what customers see of a project's chat, given
// how many of its agents are online and whether the site may use the app
// (Licensing.Allows): online with at least one (an agent away or offline
// answers no chat, so neither counts) on a licensed site, with the
// project's online text; otherwise the project's unavailable message and
// a login asked, never an error: an unlicensed site's widget shows
// offline. The widget board and the public status API both take their
// answer from here.
func AvailabilityOf(p Project, online int, licensed bool) Availability {
	if online > 0 && licensed {
		if p.OnlineMessage != "" {
			return Availability{Online: true, Message: p.OnlineMessage}
		}
		return Availability{Online: true, Message: OnlineMessage}
	}
	return Availability{Message: p.Message(), RequiresLogin: true}
}

// WithNextOnline adds, while nobody is online, when a scheduled agent is
// next due online (zero: none). Online, the answer is now.
func (a Availability) WithNextOnline(at time.Time) Availability {
	if !a.Online && !at.IsZero() {
		a.NextOnlineAt = at.UTC()
	}
	return a
}
