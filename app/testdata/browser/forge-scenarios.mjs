// Browser scenarios in the Forge host: the same pages, run by the demo's
// stand-in Forge platform with its bridge stand-in (app/demo/forge.go,
// app/demo/assets/forge-bridge.js), against the real app in demo mode,
// whose Forge installation is a tenant of its own.
// Usage: node forge-scenarios.mjs http://localhost:PORT
// Run by app/browser_test.go after scenarios.mjs; screenshots go to
// $ARTIFACTS_DIR with a forge- prefix.
import { axeCheck, check, launch, steps } from './common.mjs';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const base = process.argv[2];
if (!base) {
  console.error('usage: node forge-scenarios.mjs http://localhost:PORT');
  process.exit(2);
}
const artifacts = process.env.ARTIFACTS_DIR || 'test-artifacts';
mkdirSync(artifacts, { recursive: true });

const ALICE = '557058:alice';
const BOB = '557058:bob';
const ADA = '557058:ada';
const GREEN = 'rgb(31, 132, 90)';

const browser = await launch();

const run = steps('forge: ');
const step = run.step;

async function newPage(viewport = { width: 1280, height: 900 }) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}

const shot = (target, name) => target.screenshot({ path: join(artifacts, 'forge-' + name + '.png') });

// fit is what Forge attaches to a page's calls, minted by the demo's
// stand-in platform for a user of the demo's Forge installation.
async function fit(account, module = 'presence') {
  const r = await fetch(`${base}/demo/api/forge/fit?accountId=${encodeURIComponent(account)}&module=${module}`);
  check(r.ok, 'no FIT: ' + r.status);
  return (await r.json()).token;
}

// api calls the app as a page's invokeRemote does: through the demo's
// stand-in Forge, with a FIT and the system and user tokens.
async function api(account, method, path, body) {
  const r = await fetch(`${base}/demo/api/forge/invoke`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ accountId: account, module: 'presence', path, method, headers: {}, body }),
  });
  check(r.ok, `invoke ${method} ${path}: ${r.status}`);
  const res = await r.json();
  check(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body || null;
}

// The agent side: the demo Jira page in its Forge host, on a view.
async function openView(as, view, project = 'HELP') {
  const page = await newPage();
  await page.goto(`${base}/demo/?host=forge&as=${as}&project=${project}&view=${view}`);
  const frame = page.frameLocator('#view');
  return { page, frame };
}

const customer = await newPage();
await customer.goto(`${base}/demo/portal?desk=1&host=forge&as=anonymous`);
const footer = customer.frameLocator('#footer');

await step('the Forge portal footer shows the chat offline, the message and the login prompt', async () => {
  await footer.locator('#chat[data-online="false"]').waitFor({ timeout: 15_000 });
  const text = await footer.locator('#chat').innerText();
  check(text.includes('Chat offline') && text.includes('Our agents are not available'), 'footer: ' + text);
  const href = await footer.locator('#chat-login').getAttribute('href');
  check(href.includes('/servicedesk/customer/user/login?destination=portal%2F1'), 'login link: ' + href);
  await axeCheck(await (await customer.locator('#footer').elementHandle()).contentFrame(), 'portal footer');
  await shot(customer.locator('.portal-footer'), 'portal-footer-offline');
});

const alice = await openView('alice', 'queue');

await step('agent goes online on the queue page: counter 1 (green); the footer follows by polling', async () => {
  const f = alice.frame;
  await f.locator('#me-state:not(:text("Loading…"))').waitFor({ timeout: 15_000 });
  check(await alice.page.locator('#presence-item').count() === 0, 'Forge has no header item');
  const t0 = Date.now();
  await f.locator('#go-online').click();
  await f.locator('#counter[data-online="true"]').waitFor({ timeout: 15_000 });
  const color = await f.locator('#counter').evaluate((el) => getComputedStyle(el).backgroundColor);
  check((await f.locator('#count').innerText()) === '1' && color === GREEN, 'counter: ' + color);
  check(await f.locator('html').getAttribute('data-live') === 'poll', 'Forge pages poll');
  await f.locator(`#agents [data-account="${ALICE}"] .name:text("Alice Agent (you)")`).waitFor();
  await footer.locator('#chat[data-online="true"]').waitFor({ timeout: 20_000 });
  console.log(`     click → Forge footer online: ${Date.now() - t0} ms (10 s polls)`);
  const me = await api(ALICE, 'GET', '/api/v1/me?project=HELP');
  check(me.project.online && me.project.source === 'manual', 'the API: ' + JSON.stringify(me.project));
  await axeCheck(await (await alice.page.locator('#view').elementHandle()).contentFrame(), 'queue page');
  await shot(alice.page, 'queue-page-online');
});

await step('the Forge footer: online, the chat link; a logged-in customer in German is not told to log in', async () => {
  // Alice is online in HELP (the step before): the anonymous footer offers the chat link.
  const link = footer.locator('#chat-link');
  await link.waitFor({ timeout: 20_000 });
  check((await link.getAttribute('href')).endsWith('/servicedesk/customer/portal/1'), 'the chat link: ' + await link.getAttribute('href'));
  check(!(await footer.locator('#chat-login').isVisible()), 'a login prompt while online');
  // Carol, logged in, with Jira in German: the context's locale.
  const carol = await newPage();
  await carol.goto(`${base}/demo/portal?desk=1&host=forge&lang=de`);
  const f = carol.frameLocator('#footer');
  await f.locator('#chat[data-online="true"]').waitFor({ timeout: 15_000 });
  await f.locator('html[lang="de"]').waitFor();
  const text = await f.locator('#chat').innerText();
  check(text.includes('Unsere Agents sind online') && text.includes('Chat starten'), 'German footer: ' + text);
  await api(ALICE, 'PUT', '/api/v1/me/status', { online: false, project: 'HELP' });
  await f.locator('#chat[data-online="false"]').waitFor({ timeout: 20_000 });
  check(!(await f.locator('#chat-login').isVisible()), 'a logged-in customer is told to log in');
  await footer.locator('#chat-login').waitFor({ timeout: 20_000 });
  await axeCheck(await (await carol.locator('#footer').elementHandle()).contentFrame(), 'portal footer (German, logged in)');
  await carol.context().close();
  await api(ALICE, 'PUT', '/api/v1/me/status', { online: true, project: 'HELP' });
  await footer.locator('#chat[data-online="true"]').waitFor({ timeout: 20_000 });
});

await step('an admin puts the agent offline: the background script shows a flag; its action puts her back online', async () => {
  // The global page has no project: it lists the agent's projects' counts.
  const global = await openView('bob', 'global');
  await global.frame.locator('#projects li:has-text("HELP")').waitFor({ timeout: 15_000 });
  await global.page.context().close();
  // The door is on the queue page of a project.
  const adaQueue = await openView('ada', 'queue');
  const row = adaQueue.frame.locator(`#agents [data-account="${ALICE}"]`);
  await row.locator('[data-action="door"]').click({ timeout: 15_000 });
  await row.locator('[data-action="confirm-offline"]').click();
  await adaQueue.frame.locator('#message:text("is offline now")').waitFor();
  await adaQueue.page.context().close();
  // Alice comes back to her Jira tab: the background script looks.
  const bg = alice.page.frames().find((fr) => fr.url().includes('/demo/forge/pages/background'));
  check(bg, 'no background script frame');
  await bg.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  const flag = alice.page.locator('.flag[role="alert"]');
  await flag.waitFor({ timeout: 15_000 });
  const text = await flag.innerText();
  check(text.includes('You are offline in HELP') && text.includes('Ada Admin put you offline.'), 'flag: ' + text);
  await shot(alice.page, 'flag-put-offline');
  await flag.locator('button[data-action="0"]').click();
  await alice.page.locator('.flag:has-text("You are online in HELP again")').waitFor({ timeout: 15_000 });
  const me = await api(ALICE, 'GET', '/api/v1/me?project=HELP');
  check(me.project.online, 'the flag action put Alice back online: ' + JSON.stringify(me.project));
  await api(ALICE, 'PUT', '/api/v1/me/status', { online: false, scope: 'all' });
  await footer.locator('#chat[data-online="false"]').waitFor({ timeout: 20_000 });
});

await step('the schedule opens in a Forge modal from the queue page and saves an overnight window', async () => {
  await alice.frame.locator('#schedule').click();
  const dlg = alice.page.frameLocator('.blanket[data-dialog="schedule"] iframe');
  await dlg.locator('#form:not([hidden])').waitFor({ timeout: 15_000 });
  await dlg.locator('#enabled').check();
  const monday = dlg.locator('.day[data-day="mon"]');
  await monday.locator('[data-action="add"]').click();
  const win = monday.locator('.window').last();
  await win.locator('[data-role="start"]').fill('22:00');
  await win.locator('[data-role="end"]').fill('06:00');
  await dlg.locator('#save').click();
  await dlg.locator('#banner:text("Saved.")').waitFor({ timeout: 15_000 });
  const saved = await api(ALICE, 'GET', '/api/v1/me/schedule');
  check(saved.rules.some((r) => r.days.includes('mon') && r.start === '22:00' && r.end === '06:00'), 'not saved: ' + JSON.stringify(saved.rules));
  await shot(alice.page.locator('.blanket[data-dialog="schedule"] .dialog'), 'schedule-modal');
  // Escape inside the modal closes it (view.close).
  await dlg.locator('#save').press('Escape');
  await alice.page.locator('.blanket[data-dialog="schedule"]').waitFor({ state: 'detached', timeout: 5_000 });
  await api(ALICE, 'PUT', '/api/v1/me/schedule', { timezone: 'UTC', enabled: false, rules: [], exceptions: [] });
});

await step('admin page: who is online follows a change; the CSV export downloads through the bridge', async () => {
  const { page, frame } = await openView('ada', 'admin');
  await frame.locator('h1').waitFor({ timeout: 15_000 });
  await api(BOB, 'PUT', '/api/v1/me/status', { online: true, project: 'HELP' });
  await frame.locator('#online tr:has-text("Bob Agent")').waitFor({ timeout: 20_000 });
  const download = page.waitForEvent('download', { timeout: 15_000 });
  await frame.locator('#export').click();
  const file = await (await download).path();
  const csv = readFileSync(file, 'utf8');
  check(csv.split('\n')[0].toLowerCase().includes('account') && csv.includes(BOB), 'CSV: ' + csv.slice(0, 200));
  await api(BOB, 'PUT', '/api/v1/me/status', { online: false, scope: 'all' });
  await axeCheck(await (await page.locator('#view').elementHandle()).contentFrame(), 'admin page');
  await shot(page, 'admin');
  await page.context().close();
});

await step('project settings: the widget snippet names the service, not the page', async () => {
  const { page } = await openView('ada', 'project-settings');
  // The page fills the snippet when its settings come: wait for a value.
  const view = await (await page.locator('#view').elementHandle()).contentFrame();
  const v = await (await view.waitForFunction(() => document.getElementById('snippet')?.value, null, { timeout: 15_000 })).jsonValue();
  check(v.startsWith(`<script src="${base}/static/widget.js" data-widget="w_`), 'snippet: ' + v);
  await shot(page, 'project-settings');
  await page.context().close();
});

// --- issue 12, items 1 and 3: the status panel and the warning, on Forge --
// The demo's clock moves ahead (POST /demo/api/clock runs the time-driven
// jobs at once) and the browser's with it: nothing waits for a timeout.
async function advance(d, ctx) {
  const r = await fetch(`${base}/demo/api/clock?advance=${d}`, { method: 'POST' });
  check(r.ok, `advance ${d}: ${r.status}`);
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  if (ctx) await ctx.clock.fastForward(((Number(m[1] || 0) * 60) + Number(m[2] || 0)) * 1000);
}

await step('Forge issue view: the status panel (jira:issueContext); the background script warns a minute before auto-offline; Stay online keeps the agent', async () => {
  await api(ADA, 'PUT', '/api/v1/settings', { autoOfflineMinutes: 5 });
  await api(ALICE, 'PUT', '/api/v1/me/status', { online: true, project: 'HELP' });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC' });
  await ctx.clock.install();
  // The settings come back however the step ends: a failure here must not
  // put the agents of the steps after it offline at five minutes.
  try {
    const page = await ctx.newPage();
    // The answer, not the request: the clock's step that follows must find
    // the report already taken in.
    const beat = () => page.waitForResponse((r) => r.url().endsWith('/demo/api/forge/invoke') && (r.request().postData() || '').includes('/api/v1/me/heartbeat'), { timeout: 20_000 });
    const loaded = beat();
    await page.goto(`${base}/demo/?host=forge&as=alice&project=HELP&view=issue`);
    await loaded;
    const panel = page.frameLocator('#issue-context');
    await panel.locator('#me-state:has-text("You are online in HELP")').waitFor({ timeout: 15_000 });
    check(await panel.locator('#count').innerText() === '1', 'the panel counts HELP\'s agents online');
    await axeCheck(await (await page.locator('#issue-context').elementHandle()).contentFrame(), 'status panel');
    await shot(page.locator('.issue-context'), 'issue-context');
    await advance('4m10s', ctx);
    const warning = page.locator('.flag:has-text("Still there?")');
    await warning.waitFor({ timeout: 10_000 });
    await shot(page, 'flag-still-there');
    const stay = beat();
    await warning.locator('button:text("Stay online")').click();
    await stay;
    await advance('2m', ctx);
    const me = await api(ALICE, 'GET', '/api/v1/me?project=HELP');
    check(me.project.state === 'online', 'Stay online did not keep Alice online: ' + me.project.state);
  } finally {
    await api(ADA, 'PUT', '/api/v1/settings', { autoOfflineMinutes: 30 });
    await api(ALICE, 'PUT', '/api/v1/me/status', { online: false, scope: 'all' });
    await ctx.close();
  }
});

await step('no page error in any Forge page', async () => {
  check(alice.page.errors.length === 0 && customer.errors.length === 0, 'page errors: ' + [...alice.page.errors, ...customer.errors].join('; '));
});

await browser.close();
console.log(`${run.failed ? 'FAILED' : 'PASSED'} (forge): ${run.failed} failed; screenshots in ${artifacts}`);
process.exit(run.failed ? 1 : 0);
