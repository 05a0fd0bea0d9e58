// Browser scenarios of licensing: the demo's header switch sets the site's
// Marketplace license ("active" or "none"), which its Jira adds to every
// page URL (lic) and its Forge to every invocation token (app.license).
// With LICENSING=on (the app's, given here as LICENSING=on) an unlicensed
// site's agents and admins see what to do instead of the pages, the API's
// 402 turns an open page into the same notice, and the customers' chat
// shows offline; nothing is deleted, and an active license brings it all
// back. With LICENSING=off the license changes nothing.
// Usage: LICENSING=on|off node licensing-scenarios.mjs http://localhost:PORT
// Run by app/browser_test.go; screenshots go to $ARTIFACTS_DIR.
import { check, launch, steps } from './common.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.argv[2];
const mode = process.env.LICENSING || 'on';
if (!base || (mode !== 'on' && mode !== 'off')) {
  console.error('usage: LICENSING=on|off node licensing-scenarios.mjs http://localhost:PORT');
  process.exit(2);
}
const artifacts = process.env.ARTIFACTS_DIR || 'test-artifacts';
mkdirSync(artifacts, { recursive: true });

const ALICE = '557058:alice';
const NOTICE = 'subscription is not active';
const chat = 'agent-presence-chat';

const browser = await launch();

const run = steps(`licensing ${mode}: `);
const step = run.step;

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}

const shot = (target, name) => target.screenshot({ path: join(artifacts, `licensing-${mode}-${name}.png`) });

// license switches the demo site's license, as its header switch does.
async function license(state) {
  const r = await fetch(`${base}/demo/?lic=${state}`);
  check(r.ok, `switch the license to ${state}: ${r.status}`);
}

async function tokenFor(account) {
  const r = await fetch(`${base}/demo/api/token?accountId=${encodeURIComponent(account)}`);
  return (await r.json()).token;
}

// setStatus puts alice online or offline in HELP through the Connect API;
// it returns the status answered.
async function setStatus(online) {
  const r = await fetch(`${base}/api/v1/me/status`, {
    method: 'PUT',
    headers: { Authorization: 'JWT ' + (await tokenFor(ALICE)), 'Content-Type': 'application/json' },
    body: JSON.stringify({ online, scope: 'project', project: 'HELP' }),
  });
  return r.status;
}

// openDialog opens alice's presence dialog from the demo's Jira header,
// and waits until the dialog has loaded (its state, or the notice).
async function openDialog() {
  const page = await newPage();
  await page.goto(`${base}/demo/?as=alice&project=HELP`);
  await page.click('#presence-item');
  const frame = page.frameLocator('.dialog iframe');
  await frame.locator('#me-state:not(:text("Loading…")), #license-notice').first().waitFor({ timeout: 15_000 });
  return { page, frame };
}

await license('active');
check(await setStatus(true) === 200, 'alice cannot go online with an active license');
const customer = await newPage();
await customer.goto(`${base}/demo/portal?desk=1`);
const footer = customer.frameLocator('#footer');

await step('licensed: the portal shows the chat online while alice is online', async () => {
  await footer.locator(`${chat}[data-online="true"]`).waitFor({ timeout: 15_000 });
});

if (mode === 'on') {
  // A dialog opened while the license was active stays open.
  const open = await openDialog();

  await step('license none: the admin page says the subscription is not active, and where to renew it', async () => {
    await license('none');
    const page = await newPage();
    await page.goto(`${base}/demo/?as=ada&view=admin`);
    const frame = page.frameLocator('#view');
    await frame.locator('#license-notice h1').waitFor({ timeout: 15_000 });
    check((await frame.locator('#license-notice h1').innerText()).includes(NOTICE), 'the notice heading');
    const text = await frame.locator('#license-notice').innerText();
    check(text.includes('Apps → Manage apps') && text.includes('Nothing has been deleted'), 'the notice: ' + text);
    const href = await frame.locator('#manage-apps').getAttribute('href');
    check(href.endsWith('/demo/jira/plugins/servlet/upm'), 'Manage apps link: ' + href);
    await shot(page.locator('#view'), 'admin-license-page');
    check(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('license none: the portal shows the chat offline, never an error, while alice is still online', async () => {
    await footer.locator(`${chat}[data-online="false"]`).waitFor({ timeout: 30_000 });
    const text = await footer.locator(chat + ' .w').innerText();
    check(text.includes('Chat offline'), 'state text: ' + text);
    await shot(customer.locator('.portal-footer'), 'portal-offline');
  });

  await step('license none: a dialog open since before explains the API\'s 402 in place of the page at its next call', async () => {
    const f = open.frame;
    // Its next poll, stream reconnection or click meets the 402.
    await f.locator('#license-notice').waitFor({ timeout: 30_000 });
    const text = await f.locator('#license-notice').innerText();
    check(text.includes(NOTICE) && text.includes('Manage apps'), 'notice: ' + text);
    check(await f.locator('#go-offline').isHidden(), 'the dialog\'s actions still show');
    await shot(open.page.locator('.dialog'), 'dialog-402');
    check(open.page.errors.length === 0, 'page errors: ' + open.page.errors.join('; '));
    check(await setStatus(false) === 402, 'the API let an unlicensed site change a status');
  });

  await step('license none: a freshly opened dialog is the license page', async () => {
    const d = await openDialog();
    check((await d.frame.locator('#license-notice').innerText()).includes(NOTICE), 'no notice');
    await d.page.context().close();
  });

  await step('license none, Forge: the queue page shows the notice from the API\'s 402', async () => {
    const page = await newPage();
    await page.goto(`${base}/demo/?host=forge&as=alice&project=HELP&view=queue`);
    const frame = page.frameLocator('#view');
    await frame.locator('#license-notice').waitFor({ timeout: 15_000 });
    const text = await frame.locator('#license-notice').innerText();
    check(text.includes(NOTICE) && text.includes('Manage apps'), 'Forge notice: ' + text);
    check(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await shot(page.locator('#view'), 'forge-queue-402');
    await page.context().close();
  });

  await step('license active again: the portal is online (nothing was deleted) and the dialog works', async () => {
    await license('active');
    const d = await openDialog(); // the page load says lic=active
    await d.frame.locator('#go-offline').waitFor({ timeout: 15_000 });
    check(await d.frame.locator('#license-notice').count() === 0, 'the notice stayed');
    await footer.locator(`${chat}[data-online="true"]`).waitFor({ timeout: 30_000 });
    await d.page.context().close();
  });
  await open.page.context().close();
} else {
  await step('LICENSING=off: with the license none the dialog, the API and the portal work as ever', async () => {
    await license('none');
    const d = await openDialog();
    await d.frame.locator('#go-offline').waitFor({ timeout: 15_000 });
    check(await d.frame.locator('#license-notice').count() === 0, 'a license notice with licensing off');
    check(await setStatus(true) === 200, 'the API refused with licensing off');
    await footer.locator(`${chat}[data-online="true"]`).waitFor({ timeout: 15_000 });
    await d.page.context().close();
  });
  await license('active');
}

check(await setStatus(false) === 200, 'alice cannot go offline at the end');
await browser.close();
if (run.failed) {
  console.log(`${run.failed} licensing scenario(s) failed`);
  process.exit(1);
}
