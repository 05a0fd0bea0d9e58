// The service's clock as a page can know it: deadlines in the app's answers
// (GET /me's autoOfflineAt) are on the service's clock, and the browser's
// may be minutes off. Each answer's Date header is a reading of it.

// A reading is trusted only when its round trip, on the browser's clock,
// took less than this: the Date header is the service's time somewhere
// between sending and receiving, and a long trip means the browser's clock
// jumped on the way (a laptop woke up; a test moved time). Such a reading
// was stamped before the jump and would shift every deadline by the jump.
export const trustedRoundTripMs = 10_000;

export class ServiceClock {
  constructor(browserNow = () => Date.now()) {
    this.browserNow = browserNow;
    this.skew = 0; // the service's clock minus the browser's; 0 until a reading
  }

  // read takes one answer's Date header (in ms; 0 when missing), the
  // browser's time when the request was sent and when the answer came.
  // It returns whether the reading was taken.
  read(dateMs, sentMs, receivedMs) {
    if (!dateMs || receivedMs < sentMs || receivedMs - sentMs >= trustedRoundTripMs) return false;
    // The header is cut to the second: its middle is the best guess,
    // and the middle of the trip the best moment.
    this.skew = dateMs + 500 - (sentMs + receivedMs) / 2;
    return true;
  }

  // now is the service's time by the last trusted reading.
  now() {
    return this.browserNow() + this.skew;
  }
}
