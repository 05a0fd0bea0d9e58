// The status panel beside a request (Connect: jiraIssueContexts; Forge:
// jira:issueContext): the project's online count and the agent's own
// state, live, with the way to the dialog. Jira shows the same panel title
// to everyone; what is personal is inside the panel.
import { api, live, initPage, query, openDialog } from './connect.js';
import { loadText, t, when } from './i18n.js';

await loadText();

const text = {
  onlineIn: (n, key) => (n === 0 ? t('presence.onlineInNone', { key }) : t('presence.onlineIn', { n, key })),
  online: (key, since) => t('panel.online', { key, since }),
  away: (key, since) => t('panel.away', { key, since }),
  offline: (key) => t('presence.offlineIn', { key }),
  states: { online: t('common.online'), away: t('common.away'), offline: t('common.offline') },
};

const project = query.get('project') || '';
const $ = (id) => document.getElementById(id);

function render(me) {
  const p = me.project;
  if (!p) return;
  const c = $('counter');
  c.dataset.online = String(p.onlineCount > 0);
  $('count').textContent = String(p.onlineCount);
  $('count-label').textContent = text.onlineIn(p.onlineCount, p.key);
  const state = p.state || (p.online ? 'online' : 'offline');
  $('me-icon').src = '../static/icons/presence-' + (state === 'online' ? 'online' : 'offline') + '.svg';
  $('me-icon').alt = text.states[state] || '';
  $('me-state').textContent = state === 'offline' ? text.offline(p.key) : text[state](p.key, when(p.since));
  document.documentElement.dataset.state = state;
}

async function refresh() {
  try {
    render(await api('GET', 'api/v1/me?project=' + encodeURIComponent(project)));
  } catch { /* keep what is shown */ }
}

$('open').addEventListener('click', () => openDialog('presence-dialog'));
initPage();
await refresh();
live({ refresh, project, onPresence: refresh });
