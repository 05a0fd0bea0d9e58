// What the browser scenario files share: Chromium on a fresh profile, the
// steps and their count of failures, the check that fails a step, and the
// axe-core check of a page's frame.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

/** launch starts Chromium on a fresh, temporary profile (user data dir). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** check fails the step running it with message unless cond holds. */
export function check(cond, message) {
  if (!cond) throw new Error(message);
}

/**
 * steps runs named steps, each to its end or its first failure, and counts
 * the failures; prefix names the file's scenarios in the output ("forge: ").
 */
export function steps(prefix = '') {
  const s = {
    failed: 0,
    async step(name, fn) {
      const t0 = Date.now();
      try {
        await fn();
        console.log(`ok   ${prefix}${name} (${Date.now() - t0} ms)`);
      } catch (e) {
        s.failed++;
        console.log(`FAIL ${prefix}${name}: ${e.stack || e}`);
      }
    },
  };
  return s;
}

// axe-core, from the test's own node_modules, is evaluated in a page's
// frame through the driver (the pages' CSP forbids injected script tags).
const axeSource = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

/** The pages axe checked, and its minor or moderate findings. */
export const axeTotals = { pages: 0, minor: 0 };

/**
 * axeCheck fails the step on any serious or critical violation in frame
 * (only within the selector include, if given) and lists every finding.
 */
export async function axeCheck(frame, name, include = '') {
  await frame.locator('body').waitFor();
  const context = include ? `{ include: [${JSON.stringify(include)}] }` : 'document';
  const results = await frame.evaluate(`(() => { ${axeSource}
    return axe.run(${context}, { resultTypes: ['violations'] }); })()`);
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  axeTotals.pages++;
  axeTotals.minor += results.violations.length - bad.length;
  for (const v of results.violations) {
    const where = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ');
    console.log(`     axe ${name}: ${v.impact} ${v.id}: ${v.help} (${where})`);
  }
  check(bad.length === 0, `${name}: ${bad.length} serious or critical accessibility violations`);
}
