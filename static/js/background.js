// Forge's global background script (jira:globalBackgroundScript): an
// invisible page on every Jira page. While Jira is open and visible it
// tells the app that the agent is active (at most once a minute per open
// Jira tab; the app writes activity at most once per flush anyway), and it
// watches the agent's own status: when a project the
// agent was online in goes offline by someone or something else (an admin,
// the timer, the schedule, inactivity), it shows a Jira flag saying so,
// with a way back online. Forge-only: Connect has the header item.
import { request, api, flag, heartbeat, onStatusChanged } from './forge.js';
import { loadText, t, list } from './i18n.js';

await loadText();

// Every string people read, in one place: the words of the user's
// language (static/i18n/<lang>.json), with their values.
const text = {
  title: (keys) => t('flags.offlineIn', { keys: list(keys) }),
  why: {
    admin: t('flags.whyAdmin'),
    expiry: t('flags.whyExpiry'),
    schedule: t('flags.whySchedule'),
    inactivity: t('flags.whyInactivity'),
  },
  again: t('flags.again'),
  back: (keys) => t('flags.back', { keys: list(keys) }),
};

// pollMs bounds the load: one /me a minute per open Jira, a 304 while
// nothing changes.
const pollMs = 60_000;

let known = null; // key → {online, source} as last seen
let polling = false;

async function poll() {
  if (document.hidden || polling) return;
  polling = true;
  try {
    // The first look goes through Forge (invokeRemote, with the user's
    // token, which the app's first check of the user's projects needs);
    // the polls go straight (requestRemote, a 304 while nothing changed).
    const { data, changed } = known ? await request('GET', 'api/v1/me') : { data: await api('GET', 'api/v1/me'), changed: true };
    if (changed && data) compare(data.projects || []);
  } catch { /* the next poll will tell */ } finally {
    polling = false;
  }
}

// compare raises one flag for the projects switched offline since the
// last poll by anything but the agent's own hand.
function compare(projects) {
  const now = new Map(projects.map((p) => [p.key, { online: p.online, source: p.source || 'manual' }]));
  if (known) {
    const off = projects.filter((p) => !p.online && known.get(p.key)?.online && (p.source || 'manual') !== 'manual');
    if (off.length) {
      const keys = off.map((p) => p.key);
      const f = flag({
        id: 'offline-' + Date.now(),
        title: text.title(keys),
        description: text.why[off[0].source] || '',
        type: 'warning',
        actions: [{
          text: text.again,
          onClick: async () => {
            f.close();
            for (const key of keys) await api('PUT', 'api/v1/me/status', { online: true, project: key }).catch(() => {});
            flag({ id: 'online-' + Date.now(), title: text.back(keys), type: 'success' });
            poll();
          },
        }],
      });
    }
  }
  known = now;
}

await poll();
// Agents only: someone who is agent nowhere has nothing to report.
if (known && known.size > 0) heartbeat();
setInterval(poll, pollMs);
document.addEventListener('visibilitychange', poll);
// The agent's own change on a page of the app: look now, so that a later
// change by someone else is told from it.
onStatusChanged(poll);
