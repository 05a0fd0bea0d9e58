// The presence dialog: how many agents are online in the current project,
// the user's own state, going online or offline, and who is online.
import { api, users, live, heartbeat, initPage, query, h, icon, when, show } from './connect.js';

const project = query.get('project') || '';
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
let me = null;
let confirming = '';

function plural(n, one, many) { return n === 1 ? one : many; }

function renderCounter(count) {
  const c = $('counter');
  if (!me || !me.project) {
    c.hidden = true;
    return;
  }
  c.hidden = false;
  c.dataset.online = String(count > 0);
  const label = plural(count, 'agent', 'agents') + ' online in ' + me.project.key +
    (count === 0 ? ': customers must log in or register to chat' : '');
  // Rewriting an unchanged live region would make screen readers repeat it.
  if ($('count').textContent !== String(count)) $('count').textContent = String(count);
  if ($('count-label').textContent !== label) $('count-label').textContent = label;
}

function stateText(p) {
  if (!p.online) return 'You are offline in ' + p.key + '.';
  let s = 'You are online in ' + p.key + ' since ' + when(p.since);
  if (p.until) s += ' until ' + when(p.until);
  if (p.source && p.source !== 'manual') s += ' (' + p.source + ')';
  return s + '.';
}

function render() {
  renderCounter(me.project ? me.project.onlineCount : 0);
  const mine = me.projects.map((p) => p.key);
  $('all-list').textContent = mine.length ? ' (' + mine.join(', ') + ')' : '';
  const all = $('all');
  if (!me.project) {
    all.checked = true;
    all.disabled = true;
  }
  const online = me.project ? me.project.online : me.projects.some((p) => p.online);
  $('me-icon').src = '../static/icons/presence-' + (online ? 'online' : 'offline') + '.svg';
  $('me-icon').alt = online ? 'Online' : 'Offline';
  if (me.project) {
    $('me-state').textContent = me.isAgent || me.project.online ? stateText(me.project)
      : 'You are not a support agent of ' + me.project.key + ', so you have no status here.';
  } else {
    const on = me.projects.filter((p) => p.online).map((p) => p.key);
    $('me-state').textContent = on.length ? 'You are online in ' + on.join(', ') + '.' : 'You are offline in all your projects.';
  }
  $('go-online').disabled = !(all.checked ? me.projects.length > 0 : me.isAgent);
  // Someone who is agent nowhere has no status to set, unless a former
  // agent still shows online here and must be able to leave.
  $('controls').hidden = me.projects.length === 0 && !online;
  // Without a project the list shows every project's count instead.
  const list = $('projects');
  list.hidden = Boolean(me.project);
  list.replaceChildren(...(me.project ? [] : me.projects.map((p) =>
    h('li', { class: 'person' }, h('span', { class: 'who', text: p.name + ' (' + p.key + ')' }),
      h('span', { text: p.onlineCount + ' online' })))));
}

let agents = [];
let names = new Map();
let focusNext = null;

async function loadAgents() {
  const section = $('online-section');
  if (!me.project) {
    section.hidden = true;
    return;
  }
  let list;
  try {
    list = await api('GET', 'api/v1/projects/' + enc(me.project.key) + '/agents');
  } catch (e) {
    if (e.status === 403) { section.hidden = true; return; }
    throw e;
  }
  section.hidden = false;
  renderCounter(list.count);
  agents = list.agents;
  names = await users(agents.map((a) => a.accountId));
  renderAgents();
}

function renderAgents() {
  if (confirming && !agents.some((a) => a.accountId === confirming)) confirming = '';
  // A live update re-renders the list; whoever had the focus in it keeps it.
  const active = document.activeElement;
  if (!focusNext && active && $('agents').contains(active) && active.dataset.action) {
    const row = active.closest('[data-account]');
    if (row) focusNext = { account: row.dataset.account, action: active.dataset.action };
  }
  $('agents-empty').hidden = agents.length > 0;
  $('agents').replaceChildren(...agents.map((a) => agentRow(a, names.get(a.accountId))));
  if (focusNext) {
    const sel = '[data-account="' + CSS.escape(focusNext.account) + '"] [data-action="' + focusNext.action + '"]';
    const el = $('agents').querySelector(sel);
    if (el) el.focus();
    focusNext = null;
  }
}

function confirm(accountId) {
  confirming = accountId;
  focusNext = { account: accountId, action: 'cancel' };
  renderAgents();
}

// cancelConfirm closes the open confirmation; the focus goes back to its door.
function cancelConfirm() {
  focusNext = { account: confirming, action: 'door' };
  confirming = '';
  renderAgents();
}

function agentRow(a, who) {
  const isMe = a.accountId === me.accountId;
  const meta = 'since ' + when(a.since) + (a.until ? ' · until ' + when(a.until) : '') + (a.source !== 'manual' ? ' · ' + a.source : '');
  const row = h('li', { class: 'person', 'data-account': a.accountId },
    who.avatar ? h('img', { class: 'avatar', src: who.avatar, alt: '' }) : h('span', { class: 'avatar', 'aria-hidden': 'true' }),
    h('span', { class: 'who' }, h('span', { class: 'name', text: who.name + (isMe ? ' (you)' : '') }), h('br'),
      h('span', { class: 'muted small', text: meta })));
  if (!me.canPutOthersOffline || isMe) return row;
  if (confirming === a.accountId) {
    row.append(h('div', { class: 'confirm', role: 'group', 'aria-label': 'Put ' + who.name + ' offline?' },
      h('span', { text: 'Put ' + who.name + ' offline in ' + me.project.key + '?' }),
      h('button', { type: 'button', class: 'danger', 'data-action': 'confirm-offline', onclick: () => putOffline(a.accountId, who.name) }, 'Put offline'),
      h('button', { type: 'button', 'data-action': 'cancel', onclick: cancelConfirm }, 'Cancel')));
  } else {
    row.append(h('button', {
      type: 'button', class: 'subtle icon', 'data-action': 'door', title: 'Put ' + who.name + ' offline',
      'aria-label': 'Put ' + who.name + ' offline', onclick: () => confirm(a.accountId),
    }, icon('door')));
  }
  return row;
}

async function putOffline(accountId, name) {
  try {
    await api('POST', 'api/v1/projects/' + enc(me.project.key) + '/agents/' + enc(accountId) + '/offline');
    confirming = '';
    show($('message'), name + ' is offline now.', 'success');
  } catch (e) {
    show($('message'), e.message, 'error');
  }
  await refresh();
}

function durationMinutes() {
  const v = $('duration').value;
  if (v === '') return undefined;
  if (v === 'eod') {
    const end = new Date();
    end.setHours(24, 0, 0, 0);
    return Math.max(1, Math.min(1440, Math.ceil((end - Date.now()) / 60_000)));
  }
  if (v === 'custom') {
    const n = Number($('custom').value);
    return Number.isInteger(n) && n >= 1 && n <= 1440 ? n : NaN;
  }
  return Number(v);
}

async function setStatus(online) {
  const body = { online, scope: $('all').checked ? 'all' : 'project' };
  if (project) body.project = project;
  const custom = $('custom');
  custom.removeAttribute('aria-invalid');
  $('custom-error').textContent = '';
  if (online) {
    const minutes = durationMinutes();
    if (Number.isNaN(minutes)) {
      custom.setAttribute('aria-invalid', 'true');
      $('custom-error').textContent = 'Enter whole minutes from 1 to 1440.';
      custom.focus();
      return;
    }
    if (minutes !== undefined) body.durationMinutes = minutes;
  }
  for (const b of [$('go-online'), $('go-offline')]) b.disabled = true;
  try {
    me = await api('PUT', 'api/v1/me/status', body);
    show($('message'), online ? 'You are online.' : 'You are offline.', 'success');
    render();
    await loadAgents();
  } catch (e) {
    if (e.field === 'durationMinutes') {
      custom.setAttribute('aria-invalid', 'true');
      $('custom-error').textContent = e.detail;
    }
    show($('message'), e.message, 'error');
    render();
  } finally {
    $('go-offline').disabled = false;
  }
}

let pending = 0;

async function refresh() {
  try {
    me = await api('GET', 'api/v1/me' + (project ? '?project=' + enc(project) : ''));
    render();
    await loadAgents();
  } catch (e) {
    show($('message'), e.message, 'error');
  }
}

// Several events in a burst cost one refresh.
function refreshSoon() {
  clearTimeout(pending);
  pending = setTimeout(refresh, 250);
}

$('duration').addEventListener('change', () => {
  const custom = $('duration').value === 'custom';
  $('custom-field').hidden = !custom;
  if (custom) $('custom').focus();
});
$('all').addEventListener('change', () => me && render());
$('go-online').addEventListener('click', () => setStatus(true));
$('go-offline').addEventListener('click', () => setStatus(false));
$('schedule').addEventListener('click', () => AP.dialog.create({ key: 'schedule-dialog', chrome: true }));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && confirming) cancelConfirm();
});

initPage();
await refresh();
heartbeat();
live({
  refresh,
  project,
  onPresence(data) {
    const p = (data.projects || []).find((x) => x.key === project);
    if (p) renderCounter(p.onlineCount);
    refreshSoon();
  },
});
