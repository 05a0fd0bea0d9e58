// The service's clock as the background script reads it from Date headers
// (static/js/service-clock.js): plain logic, run by node --test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceClock, trustedRoundTripMs } from '../../../static/js/service-clock.js';

const at = (iso) => Date.parse(iso);

test('a quick answer sets the service clock to its Date header, to the second', () => {
  let browser = at('2026-12-01T10:00:00.300Z');
  const clock = new ServiceClock(() => browser);
  // The service is 90 s ahead; its header says 10:01:30 (cut to the second).
  assert.equal(clock.read(at('2026-12-01T10:01:30Z'), at('2026-12-01T10:00:00.100Z'), browser), true);
  const off = clock.now() - at('2026-12-01T10:01:30.300Z');
  assert.ok(Math.abs(off) <= 1000, `off by ${off} ms`);
  browser += 60_000;
  assert.ok(Math.abs(clock.now() - at('2026-12-01T10:02:30.300Z')) <= 1000);
});

// The flaky case seen in CI: an answer stamped before both clocks moved
// ahead (the service's, then the browser's) came after the browser's step,
// and put every deadline off by the step's length.
const cases = [
  { name: 'the browser clock jumped while the answer was on its way', sent: '10:00:00Z', date: '10:00:00Z', received: '10:01:10Z', taken: false },
  { name: 'a round trip just under the limit', sent: '10:00:00Z', date: '10:00:05Z', received: `10:00:0${trustedRoundTripMs / 1000 - 1}Z`, taken: true },
  { name: 'a round trip at the limit', sent: '10:00:00Z', date: '10:00:05Z', received: `10:00:${String(trustedRoundTripMs / 1000).padStart(2, '0')}Z`, taken: false },
  { name: 'no Date header', sent: '10:00:00Z', date: null, received: '10:00:00Z', taken: false },
  { name: 'the browser clock went back on the way', sent: '10:00:05Z', date: '10:00:05Z', received: '10:00:00Z', taken: false },
];
for (const c of cases) {
  test(`a reading is ${c.taken ? 'taken' : 'left'}: ${c.name}`, () => {
    const day = (t) => at('2026-12-01T' + t);
    const clock = new ServiceClock(() => day('10:05:00Z'));
    // A good reading first: the service is 30 s behind the browser.
    assert.equal(clock.read(day('09:59:30Z'), day('10:00:00.000Z'), day('10:00:00.200Z')), true);
    const before = clock.now();
    assert.equal(clock.read(c.date ? day(c.date) : 0, day(c.sent), day(c.received)), c.taken);
    if (!c.taken) assert.equal(clock.now(), before, 'a reading left out changed the clock');
    else assert.notEqual(clock.now(), before);
  });
}
