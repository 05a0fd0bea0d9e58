// Browser scenarios of "what people see", against the real app in demo
// mode. Usage: node scenarios.mjs http://localhost:PORT
// Run by app/browser_test.go; screenshots go to $ARTIFACTS_DIR.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const base = process.argv[2];
if (!base) {
  console.error('usage: node scenarios.mjs http://localhost:PORT');
  process.exit(2);
}
const other = base.replace('//localhost', '//127.0.0.1');
const artifacts = process.env.ARTIFACTS_DIR || 'test-artifacts';
mkdirSync(artifacts, { recursive: true });

const ALICE = '557058:alice';
const BOB = '557058:bob';
const ADA = '557058:ada';
const GREEN = 'rgb(31, 132, 90)'; // --ds-background-success-bold, light
const RED = 'rgb(202, 53, 33)'; // --ds-background-danger-bold, light

// launch() starts Chromium on a fresh, temporary profile (user data dir).
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const timings = [];
let failed = 0;

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function newPage(viewport = { width: 1280, height: 800 }, options = {}) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true, ...options });
  const page = await ctx.newPage();
  page.consoleMessages = [];
  page.on('console', (m) => page.consoleMessages.push({ type: m.type(), text: m.text(), url: m.location().url || '' }));
  page.on('pageerror', (e) => page.consoleMessages.push({ type: 'pageerror', text: String(e), url: page.url() }));
  return page;
}

const shot = (target, name) => target.screenshot({ path: join(artifacts, name + '.png') });

// The agent side: the demo Jira page with the presence dialog open.
async function openDialog(as) {
  const page = await newPage();
  await page.goto(`${base}/demo/?as=${as}&project=HELP`);
  await page.click('#presence-item');
  const frame = page.frameLocator('.dialog iframe');
  await frame.locator('#me-state:not(:text("Loading…"))').waitFor();
  return { page, frame };
}

// Marks, in the page's clock, when the chat icon flips: both pages share
// the wall clock through performance.timeOrigin.
async function watchIcon(frame, selector) {
  await frame.locator(selector).evaluate((host) => {
    window.__flips = [];
    new MutationObserver(() => window.__flips.push({ online: host.dataset.online, at: performance.timeOrigin + performance.now() }))
      .observe(host, { attributes: true, attributeFilter: ['data-online'] });
  });
}

async function markClick(frame, buttonId) {
  await frame.locator('#' + buttonId).evaluate((b) => b.addEventListener('click', () => {
    window.__clickAt = performance.timeOrigin + performance.now();
  }, { capture: true, once: true }));
}

async function waitFlip(footer, host, online, clickFrame) {
  await footer.locator(`${host}[data-online="${online}"]`).waitFor({ timeout: 30_000 });
  const flips = await footer.locator(host).evaluate(() => window.__flips);
  const clickAt = await clickFrame.locator('body').evaluate(() => window.__clickAt);
  const flip = flips.filter((f) => f.online === String(online)).pop();
  return Math.round(flip.at - clickAt);
}

async function counter(frame) {
  const c = frame.locator('#counter');
  return {
    count: await frame.locator('#count').textContent(),
    online: await c.getAttribute('data-online'),
    color: await c.evaluate((el) => getComputedStyle(el).backgroundColor),
  };
}

async function tokenFor(account) {
  const r = await fetch(`${base}/demo/api/token?accountId=${encodeURIComponent(account)}`);
  return (await r.json()).token;
}

// setStatus puts an agent online or offline in HELP through the API, as
// their dialog would.
async function setStatus(account, online) {
  const r = await fetch(`${base}/api/v1/me/status`, {
    method: 'PUT',
    headers: { Authorization: 'JWT ' + (await tokenFor(account)), 'Content-Type': 'application/json' },
    body: JSON.stringify({ online, scope: 'project', project: 'HELP' }),
  });
  check(r.ok, `set ${account} ${online ? 'online' : 'offline'}: ${r.status}`);
}

// The fault proxy (app/faultproxy_test.go) sits between a browser context
// and the app: it forwards plain requests and passes, resets or holds the
// event streams; /restart restarts the app.
const proxy = process.env.FAULT_PROXY;
async function control(path) {
  const r = await fetch(proxy + path, { method: 'POST', signal: AbortSignal.timeout(60_000) });
  const body = await r.text();
  check(r.ok, `${path}: ${r.status} ${body}`);
  return body ? JSON.parse(body) : null;
}
const streams = (mode) => control('/mode?streams=' + mode);

// A customer portal whose requests all go through the fault proxy.
async function proxiedPortal() {
  const page = await newPage(undefined, { proxy: { server: proxy } });
  await page.goto(`${base}/demo/portal?desk=1`);
  return { page, footer: page.frameLocator('#footer') };
}

// --- the scenarios ------------------------------------------------------

const customer = await newPage();
await customer.goto(`${base}/demo/portal?desk=1`);
const footer = customer.frameLocator('#footer');
const chat = 'agent-presence-chat';

const alice = await openDialog('alice');

await step('portal shows the chat offline while nobody is online in HELP', async () => {
  await footer.locator(`${chat}[data-online="false"]`).waitFor();
  const text = await footer.locator(chat + " .w").innerText();
  check(text.includes('Chat offline'), 'state text: ' + text);
  check(text.includes('Our agents are not available'), 'unavailable message missing: ' + text);
  await footer.locator(`${chat} a:text("Log in or register to chat")`).waitFor();
  const c = await counter(alice.frame);
  check(c.count === '0' && c.online === 'false' && c.color === RED, 'counter at 0 must be red: ' + JSON.stringify(c));
  await shot(customer.locator('.portal-footer'), 'portal-footer-offline');
});

await step('agent goes online: counter 1 (green), portal icon online without reload', async () => {
  await watchIcon(footer, chat);
  await markClick(alice.frame, 'go-online');
  await alice.frame.locator('#go-online').click();
  await alice.frame.locator('#counter[data-online="true"]').waitFor();
  const c = await counter(alice.frame);
  check(c.count === '1' && c.color === GREEN, 'counter: ' + JSON.stringify(c));
  check((await alice.frame.locator('#me-icon').getAttribute('src')).endsWith('presence-online.svg'), 'own icon must be the white (online) one');
  await alice.frame.locator(`#agents [data-account="${ALICE}"] .name:text("Alice Agent (you)")`).waitFor();
  const ms = await waitFlip(footer, chat, true, alice.frame);
  timings.push(['online', ms]);
  const how = await alice.frame.locator('html').getAttribute('data-live');
  console.log(`     click → portal icon online: ${ms} ms (the dialog follows by ${how === 'sse' ? 'live events' : 'polling'})`);
  const text = await footer.locator(chat + " .w").innerText();
  check(text.includes('Chat online') && !text.includes('Log in or register'), 'online text: ' + text);
  await alice.page.locator('#presence-count[data-online="true"]:text("1")').waitFor({ timeout: 15_000 });
  await shot(alice.page.locator('.dialog'), 'presence-dialog-online');
  await shot(customer.locator('.portal-footer'), 'portal-footer-online');
  await shot(alice.page, 'jira-with-dialog');
});

await step('agent goes offline: portal icon offline with message and login prompt', async () => {
  await markClick(alice.frame, 'go-offline');
  await alice.frame.locator('#go-offline').click();
  await alice.frame.locator('#counter[data-online="false"]').waitFor();
  const ms = await waitFlip(footer, chat, false, alice.frame);
  timings.push(['offline', ms]);
  console.log(`     click → portal icon offline: ${ms} ms`);
  const text = await footer.locator(chat + " .w").innerText();
  check(text.includes('Chat offline') && text.includes('Our agents are not available'), 'offline text: ' + text);
  const login = footer.locator(`${chat} a`);
  check(await login.isVisible(), 'the login prompt must show');
  check((await login.getAttribute('href')).includes('/servicedesk/customer/user/login?destination=portal%2F1'), 'login link');
});

await step('a non-admin agent sees who is online but no door', async () => {
  await alice.frame.locator('#duration').selectOption('60');
  await alice.frame.locator('#go-online').click();
  await alice.frame.locator('#counter[data-online="true"]').waitFor();
  const bob = await openDialog('bob');
  const row = bob.frame.locator(`#agents [data-account="${ALICE}"]`);
  await row.waitFor();
  check((await row.innerText()).includes('until'), 'the row shows until when Alice stays online');
  check(await row.locator('[data-action="door"]').count() === 0, 'Bob must not get a door');
  await bob.page.context().close();
});

await step('admin puts the agent offline with the door, after confirming', async () => {
  const ada = await openDialog('ada');
  const row = ada.frame.locator(`#agents [data-account="${ALICE}"]`);
  await row.locator('[data-action="door"]').click();
  const cancel = row.locator('[data-action="cancel"]');
  await cancel.waitFor();
  check(await cancel.evaluate((b) => b === document.activeElement), 'the safe choice (Cancel) must have the focus');
  await shot(ada.page.locator('.dialog'), 'presence-dialog-door-confirm');
  await row.locator('[data-action="confirm-offline"]').click();
  await ada.frame.locator('#message:text("is offline now")').waitFor();
  await row.waitFor({ state: 'detached' });
  await footer.locator(`${chat}[data-online="false"]`).waitFor({ timeout: 30_000 });
  await alice.frame.locator('#me-state:text("You are offline in HELP")').waitFor({ timeout: 30_000 });
  await ada.page.context().close();
});

await step('schedule editor rejects 25:00 beside its input and saves an overnight window', async () => {
  await alice.frame.locator('#schedule').click();
  const dlg = alice.page.frameLocator('.blanket[data-dialog="schedule-dialog"] iframe');
  await dlg.locator('#form:not([hidden])').waitFor();
  await dlg.locator('#enabled').check();
  await dlg.locator('#timezone').selectOption('Europe/Berlin');
  const monday = dlg.locator('.day[data-day="mon"]');
  await monday.locator('[data-action="add"]').click();
  const win = monday.locator('.window').last();
  await win.locator('[data-role="start"]').fill('25:00');
  await win.locator('[data-role="end"]').fill('17:00');
  await dlg.locator('#save').click();
  await win.locator('[data-role="start"][aria-invalid="true"]').waitFor();
  const msg = await win.locator('.field-error').innerText();
  check(msg.trim().length > 0, 'no message beside the start input');
  await shot(alice.page.locator('.blanket[data-dialog="schedule-dialog"] .dialog'), 'schedule-error');
  await win.locator('[data-role="start"]').fill('22:00');
  await win.locator('[data-role="end"]').fill('06:00');
  await dlg.locator('#save').click();
  await dlg.locator('#banner:text("Schedule saved.")').waitFor();
  check(await dlg.locator('#switches li').count() > 0, 'no next switches after saving');
  const saved = await (await fetch(`${base}/api/v1/me/schedule`, { headers: { Authorization: 'JWT ' + (await tokenFor(ALICE)) } })).json();
  check(saved.rules.some((r) => r.days.includes('mon') && r.start === '22:00' && r.end === '06:00'), 'overnight window not saved: ' + JSON.stringify(saved.rules));
  await shot(alice.page.locator('.blanket[data-dialog="schedule-dialog"] .dialog'), 'schedule-saved');
});

await step('external widget: shown on an allowed origin, nothing and no secret elsewhere', async () => {
  const ext = await newPage();
  await ext.goto(`${other}/demo/external`);
  const help = ext.locator(`#help ${chat}`);
  await help.locator('.s').waitFor();
  check(await help.isVisible(), 'the HELP widget must show on its allowed site');
  const color = await help.locator('.s').evaluate((el) => getComputedStyle(el).color);
  check(color !== 'rgb(255, 105, 180)', 'the host page CSS reached into the widget');
  await ext.waitForTimeout(3000); // let the refused requests fail
  for (const id of ['it', 'unknown']) {
    const hosts = ext.locator(`#${id} ${chat}`);
    check(await hosts.count() === 0 || !(await hosts.isVisible()), `the ${id} widget must show nothing`);
  }
  const secrets = [/eyJ[A-Za-z0-9_-]{10,}/, /jwt=/i, /secret/i, /jirasim-demo/];
  for (const m of ext.consoleMessages) {
    check(!m.url.endsWith('/static/widget.js'), 'widget.js logged: ' + m.text);
    for (const re of secrets) check(!re.test(m.text), 'console shows a secret: ' + m.text);
  }
  await shot(ext, 'external-site');
  const size = readFileSync(new URL('../../../static/widget.js', import.meta.url)).length;
  console.log(`     widget.js: ${size} bytes; console messages on the external page: ${ext.consoleMessages.length} (browser CORS reports only)`);
  check(size < 15 * 1024, 'widget.js is over 15 KB');
  await ext.context().close();
});

await step('admin page: online now, log with CSV export, chart', async () => {
  const page = await newPage({ width: 1280, height: 1000 });
  await page.goto(`${base}/demo/?as=ada&view=admin`);
  const admin = page.frameLocator('#view');
  await admin.locator('#content:not([hidden])').waitFor();
  await admin.locator('#events tr').first().waitFor();
  await admin.locator('#chart svg rect').first().waitFor();
  check((await admin.locator('#online tr').count()) >= 11, 'the IT crew must be listed online');
  // Eleven agents take two pages of Jira's bulk user API (ten per page).
  await admin.locator('#online tr:has-text("IT Agent 11")').waitFor();
  const raw = await admin.locator('#online td:has-text("557058:")').count();
  check(raw === 0, `${raw} agents shown by account id instead of name`);
  await admin.locator('#f-source').selectOption('admin');
  await admin.locator('#filters button[type="submit"]').click();
  await admin.locator('#events tr:has-text("Ada Admin")').first().waitFor();
  const download = page.waitForEvent('download');
  await admin.locator('#export').click();
  const csv = readFileSync(await (await download).path(), 'utf8');
  check(csv.startsWith('id,at,project,accountId,from,to,source,actorAccountId,reason\r\n'), 'CSV header: ' + csv.slice(0, 80));
  check(csv.includes(',admin,' + ADA + ','), 'the door action is in the CSV');
  await shot(admin.locator('#report-h').locator('..'), 'admin-report');
  await page.setViewportSize({ width: 1280, height: 2400 });
  await shot(page, 'admin-page');
  await page.context().close();
});

await step('admin log filter defaults to the local days, also far east of UTC', async () => {
  // UTC+14: for most of the UTC day the local date is already tomorrow.
  const page = await newPage({ width: 1280, height: 1000 }, { timezoneId: 'Pacific/Kiritimati' });
  await page.goto(`${base}/demo/?as=ada&view=admin`);
  const admin = page.frameLocator('#view');
  await admin.locator('#content:not([hidden])').waitFor();
  const [to, today] = await admin.locator('#f-to').evaluate((el) => [el.value, new Date().toLocaleDateString('en-CA')]);
  check(to === today, `the log filter ends on ${to}; the admin's local day is ${today}`);
  await page.context().close();
});

await step('project settings: a bad site is reported on its line', async () => {
  const page = await newPage();
  await page.goto(`${base}/demo/?as=ada&view=project-settings&project=HELP`);
  const s = page.frameLocator('#view');
  await s.locator('#snippet').waitFor();
  const snippet = await s.locator('#snippet').inputValue();
  check(/^<script src="http:\/\/localhost:\d+\/static\/widget\.js" data-widget="w_[A-Za-z0-9_-]+" async><\/script>$/.test(snippet), 'snippet: ' + snippet);
  const origins = await s.locator('#origins').inputValue();
  await s.locator('#origins').fill(origins + '\nftp://nope');
  await s.locator('#save').click();
  await s.locator('#origins-error:text("Line 2")').waitFor();
  await s.locator('#origins').fill(origins);
  await s.locator('#save').click();
  await s.locator('#banner:text("Saved.")').waitFor();
  await shot(page, 'project-settings');
  await page.context().close();
});

await step('readable at 200% zoom: the dialog content fits 240 CSS pixels', async () => {
  const r = await (await fetch(`${base}/demo/api/signed-url?module=presence-dialog&accountId=${encodeURIComponent(ADA)}&project=HELP`)).json();
  const page = await newPage({ width: 240, height: 300 });
  await page.goto(r.url);
  await page.locator('#me-state:not(:text("Loading…"))').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  await page.context().close();
});

await step('dark mode follows the host', async () => {
  const page = await newPage();
  await page.goto(`${base}/demo/?as=alice&project=HELP&theme=dark`);
  await page.click('#presence-item');
  const frame = page.frameLocator('.dialog iframe');
  await frame.locator('html[data-color-mode="dark"]').waitFor();
  const bg = await frame.locator('body').evaluate((b) => getComputedStyle(b).backgroundColor);
  check(bg === 'rgb(29, 33, 37)', 'dark surface expected, got ' + bg);
  await shot(page.locator('.dialog'), 'presence-dialog-dark');
  await shot(page, 'jira-dark-dialog');
  await page.context().close();
});

await step('stream reset at the network level: the icon shows from /status and follows changes', async () => {
  await streams('reset');
  const before = (await control('/stats')).reset;
  const { page, footer: f } = await proxiedPortal();
  await f.locator(`${chat}[data-online="false"]`).waitFor({ timeout: 5_000 });
  await setStatus(ALICE, true);
  await f.locator(`${chat}[data-online="true"]`).waitFor({ timeout: 20_000 });
  check(await f.locator(chat).isVisible(), 'the icon must stay shown');
  const resets = (await control('/stats')).reset - before;
  check(resets > 0, 'no stream was reset: the scenario proves nothing');
  console.log(`     streams reset: ${resets}`);
  await setStatus(ALICE, false);
  await page.context().close();
});

await step('silent proxy: the icon shows from /status and follows changes by polling, and so do the counts', async () => {
  await streams('hold');
  const before = (await control('/stats')).held;
  const { page, footer: f } = await proxiedPortal();
  await f.locator(`${chat}[data-online="false"]`).waitFor({ timeout: 5_000 });
  const agentPage = await newPage(undefined, { proxy: { server: proxy } });
  await agentPage.goto(`${base}/demo/?as=bob&project=HELP`);
  await agentPage.click('#presence-item');
  const bob = agentPage.frameLocator('.dialog iframe');
  await bob.locator('#counter[data-online="false"]').waitFor({ timeout: 10_000 });
  await setStatus(ALICE, true);
  await f.locator(`${chat}[data-online="true"]`).waitFor({ timeout: 20_000 });
  await bob.locator('#counter[data-online="true"]').waitFor({ timeout: 25_000 });
  const held = (await control('/stats')).held - before;
  check(held > 0, 'no stream was held: the scenario proves nothing');
  console.log(`     streams held: ${held}`);
  await setStatus(ALICE, false);
  await agentPage.context().close();
  await page.context().close();
  await streams('pass');
});

await step('streams refused with 429: the icon and the counts follow changes by polling', async () => {
  await streams('refuse');
  const before = (await control('/stats')).refused;
  const { page, footer: f } = await proxiedPortal();
  await f.locator(`${chat}[data-online="false"]`).waitFor({ timeout: 5_000 });
  const agentPage = await newPage(undefined, { proxy: { server: proxy } });
  await agentPage.goto(`${base}/demo/?as=bob&project=HELP`);
  await agentPage.click('#presence-item');
  const bob = agentPage.frameLocator('.dialog iframe');
  await bob.locator('#counter[data-online="false"]').waitFor({ timeout: 10_000 });
  await setStatus(ALICE, true);
  await f.locator(`${chat}[data-online="true"]`).waitFor({ timeout: 20_000 });
  await bob.locator('#counter[data-online="true"]').waitFor({ timeout: 25_000 });
  const refused = (await control('/stats')).refused - before;
  check(refused > 0, 'no stream was refused: the scenario proves nothing');
  console.log(`     streams refused: ${refused}`);
  await setStatus(ALICE, false);
  await agentPage.context().close();
  await page.context().close();
  await streams('pass');
});

await step('app restart: icons and counts, direct and behind a proxy, follow a change made after it within seconds', async () => {
  // Behind the proxy, requests to the stopped app answer 502, as a load
  // balancer's would; directly, its port refuses connections.
  await streams('pass');
  const proxied = await proxiedPortal();
  const agentPage = await newPage(undefined, { proxy: { server: proxy } });
  await agentPage.goto(`${base}/demo/?as=bob&project=HELP`);
  await agentPage.click('#presence-item');
  // Each watcher, by the state it waits for.
  const watchers = {
    'portal icon': (on) => footer.locator(`${chat}[data-online="${on}"]`),
    'portal icon behind the proxy': (on) => proxied.footer.locator(`${chat}[data-online="${on}"]`),
    "agent's counter": (on) => alice.page.frameLocator('.dialog iframe[title="Online status"]').locator(`#counter[data-online="${on}"]`),
    "agent's counter behind the proxy": (on) => agentPage.frameLocator('.dialog iframe').locator(`#counter[data-online="${on}"]`),
  };
  for (const w of Object.values(watchers)) await w(false).waitFor({ timeout: 10_000 });
  const t0 = Date.now();
  await control('/restart?down=6s');
  console.log(`     the app was down for 6 s and answered again after ${Date.now() - t0} ms`);
  const t1 = Date.now();
  await setStatus(ALICE, true);
  // Within seconds: faster than any polling fallback (10 s, 15 s), so
  // only a stream that came back passes.
  const within = 6_000;
  const took = await Promise.all(Object.entries(watchers).map(([what, w]) =>
    w(true).waitFor({ timeout: 30_000 }).then(() => [what, Date.now() - t1], () => [what, Infinity])));
  console.log('     change after the restart → ' + took.map(([w, ms]) => `${w}: ${ms} ms`).join(', '));
  for (const [what, ms] of took) check(ms <= within, `the ${what} followed after ${ms} ms`);
  await setStatus(ALICE, false);
  await footer.locator(`${chat}[data-online="false"]`).waitFor({ timeout: 5_000 });
  await agentPage.context().close();
  await proxied.page.context().close();
});

await browser.close();
for (const [what, ms] of timings) console.log(`TIMING click→portal icon ${what}: ${ms} ms`);
console.log(`${failed ? 'FAILED' : 'PASSED'}: ${failed} failed; screenshots in ${artifacts}`);
process.exit(failed ? 1 : 0);
