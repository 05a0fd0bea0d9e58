// The background script: an invisible page Jira loads with its own pages
// (Connect's jiraBackgroundScripts: the issue view and dashboards; Forge's
// jira:globalBackgroundScript: every Jira page). It does three things.
//
// Activity: it tells the app that the agent is at work when Jira loads it
// (the agent opened an issue or a dashboard; Forge: any Jira page), when
// Jira's tab comes back into view, and when the agent answers the warning
// below; at most once a minute (the app coalesces further). A visible tab
// alone does not count: the frame cannot hear the keyboard or the mouse of
// Jira's page, and a screen left on overnight must still go offline.
//
// Warning: a minute before inactivity would put the agent offline
// (GET /me's autoOfflineAt, read against the service's clock from the
// answer's Date header), a Jira flag asks "Still there?" with Stay online.
//
// Why: when the agent goes offline or away by someone or something else
// (an administrator, named, with the reason; the timer; the schedule;
// inactivity), a flag says so, with a way back online.
import { api, apiIfChanged, users, flag, onStatusChanged } from './connect.js';
import { loadText, t, list } from './i18n.js';
import { ServiceClock } from './service-clock.js';

await loadText();

// Every string people read, in one place: the words of the user's
// language (static/i18n/<lang>.json), with their values.
const text = {
  title: (keys) => t('flags.offlineIn', { keys: list(keys) }),
  why: {
    expiry: t('flags.whyExpiry'),
    schedule: t('flags.whySchedule'),
    inactivity: t('flags.whyInactivity'),
  },
  admin: (name, reason) => (!name ? t('flags.whyAdmin')
    : reason ? t('flags.whyAdminReason', { name, reason }) : t('flags.whyAdminNamed', { name })),
  again: t('flags.again'),
  back: (keys) => t('flags.back', { keys: list(keys) }),
  stillThere: t('flags.stillThere'),
  goingOffline: t('flags.goingOffline'),
  stayOnline: t('flags.stayOnline'),
};

// pollMs bounds the load: two GET /me a minute per open Jira page of an
// agent, each a 304 while nothing changed. reportMs: at most one activity report a minute.
const pollMs = 30_000;
const reportMs = 60_000;
const warnMs = 60_000; // the warning comes this long before the deadline

let known = null; // key → state as last seen
let me = null; // the last GET /me answer
const service = new ServiceClock();
let reportedAt = 0; // the browser's time of the last report
let reportedServer = 0; // the same, on the service's clock
let warnTimer = 0;
let warning = null; // the open "Still there?" flag
let polling = false;
let pollAgain = false; // asked to poll while polling

const serverNow = () => service.now();

// report tells the app the agent is active; forced by an answer to the
// warning, otherwise at most once per reportMs and only while visible.
async function report(force = false) {
  if (!force && (document.hidden || Date.now() - reportedAt < reportMs)) return;
  if (!me || !me.projects || me.projects.length === 0) return; // agents only
  reportedAt = Date.now();
  reportedServer = serverNow();
  try { await api('POST', 'api/v1/me/heartbeat'); } catch { /* the next one will tell */ }
  plan();
}

// deadline is when inactivity puts the agent offline, on the service's
// clock (0: never): GET /me's, or later by a report it has not counted yet
// (reports are written in batches; answers are cached for a while).
function deadline() {
  if (!me || !me.autoOfflineAt) return 0;
  let at = Date.parse(me.autoOfflineAt);
  if (reportedServer && me.autoOfflineMinutes > 0) at = Math.max(at, reportedServer + me.autoOfflineMinutes * 60_000);
  return at;
}

// plan sets the warning's timer from the deadline, or shows it now.
function plan() {
  clearTimeout(warnTimer);
  const at = deadline();
  const left = at - serverNow();
  if (!at || left > warnMs) {
    closeWarning();
    if (at) warnTimer = setTimeout(plan, left - warnMs);
    return;
  }
  if (left > 0) warn();
}

function warn() {
  if (warning) return;
  warning = flag({
    id: 'still-there',
    title: text.stillThere,
    description: text.goingOffline,
    type: 'warning',
    actions: [{
      text: text.stayOnline,
      onClick: async () => {
        closeWarning();
        await report(true);
        poll();
      },
    }],
  });
}

function closeWarning() {
  if (!warning) return;
  warning.close();
  warning = null;
}

// poll reads GET /me. Asked while a poll is on its way, it polls once more
// when that one ends: the answer on its way may predate what made the
// second ask (the agent's own change, the tab coming back, the interval).
async function poll() {
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  try {
    const sent = Date.now();
    const { data, changed, date } = await apiIfChanged('api/v1/me');
    service.read(date, sent, Date.now());
    if (changed && data) {
      await compare(data.projects || []);
      me = data;
    }
    plan();
  } catch { /* the next poll will tell */ } finally {
    polling = false;
    if (pollAgain) {
      pollAgain = false;
      poll();
    }
  }
}

const present = (state) => state === 'online' || state === 'away';

// compare raises one flag for the projects switched offline since the
// last poll by anything but the agent's own hand, saying why.
async function compare(projects) {
  const now = new Map(projects.map((p) => [p.key, p.state || (p.online ? 'online' : 'offline')]));
  if (known) {
    const off = projects.filter((p) => now.get(p.key) === 'offline' && present(known.get(p.key)) && (p.source || 'manual') !== 'manual');
    if (off.length) {
      closeWarning();
      const keys = off.map((p) => p.key);
      const first = off[0];
      let why = text.why[first.source] || '';
      if (first.source === 'admin') {
        const name = first.changedBy ? (await users([first.changedBy])).get(first.changedBy).name : '';
        why = text.admin(name, first.changeReason || '');
      }
      const f = flag({
        id: 'offline-' + Date.now(),
        title: text.title(keys),
        description: why,
        type: 'warning',
        actions: [{
          text: text.again,
          onClick: async () => {
            f.close();
            for (const key of keys) await api('PUT', 'api/v1/me/status', { online: true, project: key }).catch(() => {});
            flag({ id: 'online-' + Date.now(), title: text.back(keys), type: 'success', actions: [] });
            poll();
          },
        }],
      });
    }
  }
  known = now;
}

await poll();
// Loaded by Jira: the agent opened a page of Jira.
report(true);
// Someone who is agent nowhere (most of Jira's users on Forge, where the
// script runs on every page) is looked at every five minutes only.
let lastPoll = Date.now();
setInterval(() => {
  if (document.hidden) return;
  const agent = !me || (me.projects || []).length > 0;
  if (!agent && Date.now() - lastPoll < 5 * 60_000) return;
  lastPoll = Date.now();
  poll();
}, pollMs);
document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  poll();
  report();
});
// The agent's own change on a page of the app: look now, so that a later
// change by someone else is told from it.
onStatusChanged(poll);
