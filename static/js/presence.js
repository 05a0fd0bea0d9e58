// The presence dialog: how many agents are online in the current project,
// the user's own state, going online or offline, the schedule's state, and
// who is online (with the admins' door to put someone offline).
import {
  api, users, live, heartbeat, initPage, query, h, icon, when, clock, dayName, show, busy, closeOnEscape, openDialog, sentence,
} from './connect.js';

// Every string people read, in one place for translation.
const text = {
  agents: (n) => (n === 1 ? 'agent' : 'agents'),
  onlineIn: (n, key) => text.agents(n) + ' online in ' + key + (n === 0 ? ': customers must log in or register to chat' : ''),
  projectCount: (n) => n + ' online',
  offlineIn: (key) => 'You are offline in ' + key + '.',
  onlineSince: (key, since) => 'You are online in ' + key + ' since ' + since,
  until: (t) => ' until ' + t,
  viaSource: { schedule: ' (by your schedule)', admin: ' (put online by an admin)', inactivity: '', expiry: '' },
  notAgent: (key) => 'You are not a support agent of ' + key + ', so you have no status here.',
  onlineInKeys: (keys) => 'You are online in ' + keys.join(', ') + '.',
  offlineEverywhere: 'You are offline in all your projects.',
  goOnline: 'Go online',
  changeHowLong: 'Change how long…',
  untilChanged: 'until you change it',
  extendAsk: (now, next) => 'You are online ' + now + '. Stay online ' + next + ' instead?',
  extendYes: (next) => 'Stay online ' + next,
  extendSame: (now) => 'You are online ' + now + ' already.',
  customError: 'Enter whole minutes from 1 to 1440.',
  you: ' (you)',
  since: (t) => 'since ' + t,
  untilMeta: (t) => ' · until ' + t,
  sourceMeta: { schedule: ' · by schedule', admin: ' · by an admin', inactivity: '', expiry: '', manual: '' },
  door: (name) => 'Put ' + name + ' offline',
  doorAsk: (name, key) => 'Put ' + name + ' offline in ' + key + '?',
  reason: 'Reason (optional, kept in the log)',
  allProjects: 'In all projects where you are an administrator',
  putOffline: 'Put offline',
  cancel: 'Cancel',
  isOffline: (name, n) => name + ' is offline now' + (n > 1 ? ' in ' + n + ' projects.' : '.'),
  scheduleOff: 'Schedule off: it switches nothing.',
  scheduleOn: (next) => 'Schedule on · next: ' + next,
  scheduleNone: 'Schedule on · no switch in the coming weeks.',
  switchTo: (online, at) => (online ? 'online' : 'offline') + ' ' + at,
  at: (iso) => (new Date(iso).toDateString() === new Date().toDateString() ? 'at ' + clock(iso) : dayName(iso) + ' ' + clock(iso)),
  fieldLabels: { durationMinutes: 'The number of minutes', reason: 'The reason' },
};

const project = query.get('project') || '';
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
let me = null;
let confirming = '';
let doorNote = ''; // account whose put-offline #message reports

function renderCounter(count) {
  const c = $('counter');
  if (!me || !me.project) {
    c.hidden = true;
    return;
  }
  c.hidden = false;
  c.dataset.online = String(count > 0);
  const label = text.onlineIn(count, me.project.key);
  // Rewriting an unchanged live region would make screen readers repeat it.
  if ($('count').textContent !== String(count)) $('count').textContent = String(count);
  if ($('count-label').textContent !== label) $('count-label').textContent = label;
}

function stateText(p) {
  if (!p.online) return text.offlineIn(p.key);
  let s = text.onlineSince(p.key, when(p.since));
  if (p.until) s += text.until(when(p.until));
  return s + (text.viaSource[p.source] || '') + '.';
}

// targets are the projects the buttons act on: the current one, or all.
function targets() {
  if ($('all').checked || !me.project) return me.projects;
  return [me.project];
}

function onlineInScope() {
  return targets().some((p) => p.online);
}

function setText(el, t) {
  if (el.textContent !== t) el.textContent = t;
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
    setText($('me-state'), me.isAgent || me.project.online ? stateText(me.project) : text.notAgent(me.project.key));
  } else {
    const on = me.projects.filter((p) => p.online).map((p) => p.key);
    setText($('me-state'), on.length ? text.onlineInKeys(on) : text.offlineEverywhere);
  }
  // The main action comes first and looks primary: going offline while
  // online, going online while offline. Going online again while online
  // is a secondary "change how long", which asks first.
  const inScope = onlineInScope();
  const off = $('go-offline');
  const on = $('go-online');
  off.hidden = !inScope;
  off.className = inScope ? 'primary' : '';
  on.className = inScope ? '' : 'primary';
  setText(on, inScope ? text.changeHowLong : text.goOnline);
  on.disabled = !(all.checked ? me.projects.length > 0 : me.isAgent);
  if (!inScope) $('extend').hidden = true;
  // Someone who is agent nowhere has no status to set, unless a former
  // agent still shows online here and must be able to leave; nor a
  // schedule to keep.
  $('controls').hidden = me.projects.length === 0 && !online;
  $('schedule-section').hidden = me.projects.length === 0;
  // Without a project the list shows every project's count instead.
  const list = $('projects');
  list.hidden = Boolean(me.project);
  list.replaceChildren(...(me.project ? [] : me.projects.map((p) =>
    h('li', { class: 'person' }, h('span', { class: 'who', text: p.name + ' (' + p.key + ')' }),
      h('span', { text: text.projectCount(p.onlineCount) })))));
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
  // The note "X is offline now" goes once X is back online: it would lie.
  if (doorNote && agents.some((a) => a.accountId === doorNote)) {
    show($('message'), '');
    doorNote = '';
  }
  // A live update re-renders the list; whoever had the focus in it keeps
  // it, and a confirmation keeps what was typed into it.
  const active = document.activeElement;
  if (!focusNext && active && $('agents').contains(active) && active.dataset.action) {
    const row = active.closest('[data-account]');
    if (row) focusNext = { account: row.dataset.account, action: active.dataset.action };
  }
  const open = $('agents').querySelector('.confirm');
  const draft = open ? { reason: open.querySelector('textarea').value, all: open.querySelector('input').checked } : null;
  $('agents-empty').hidden = agents.length > 0;
  $('agents').replaceChildren(...agents.map((a) => agentRow(a, names.get(a.accountId), draft)));
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

function agentRow(a, who, draft) {
  const isMe = a.accountId === me.accountId;
  const meta = text.since(when(a.since)) + (a.until ? text.untilMeta(when(a.until)) : '') + (text.sourceMeta[a.source] || '');
  const row = h('li', { class: 'person', 'data-account': a.accountId },
    who.avatar ? h('img', { class: 'avatar', src: who.avatar, alt: '' }) : h('span', { class: 'avatar', 'aria-hidden': 'true' }),
    h('span', { class: 'who' }, h('span', { class: 'name', text: who.name + (isMe ? text.you : '') }), h('br'),
      h('span', { class: 'muted small', text: meta })));
  if (!me.canPutOthersOffline || isMe) return row;
  if (confirming === a.accountId) {
    const id = 'reason-' + a.accountId.replace(/[^A-Za-z0-9-]/g, '-');
    const reason = h('textarea', { id, 'data-role': 'reason', maxlength: 500, rows: 2, 'aria-describedby': id + '-error' });
    reason.value = draft ? draft.reason : '';
    const all = h('input', { type: 'checkbox', 'data-role': 'all' });
    all.checked = Boolean(draft && draft.all);
    const error = h('span', { class: 'field-error', id: id + '-error' });
    const button = h('button', { type: 'button', class: 'danger', 'data-action': 'confirm-offline' }, text.putOffline);
    button.addEventListener('click', () => putOffline(a.accountId, who.name, { reason, all, error, button }));
    row.append(h('div', { class: 'confirm', role: 'group', 'aria-label': text.doorAsk(who.name, me.project.key) },
      h('span', { text: text.doorAsk(who.name, me.project.key) }),
      h('div', { class: 'field' }, h('label', { for: id, text: text.reason }), reason, error),
      h('label', { class: 'check' }, all, text.allProjects),
      button,
      h('button', { type: 'button', 'data-action': 'cancel', onclick: cancelConfirm }, text.cancel)));
  } else {
    row.append(h('button', {
      type: 'button', class: 'subtle icon', 'data-action': 'door', title: text.door(who.name),
      'aria-label': text.door(who.name), onclick: () => confirm(a.accountId),
    }, icon('door')));
  }
  return row;
}

async function putOffline(accountId, name, { reason, all, error, button }) {
  error.textContent = '';
  reason.removeAttribute('aria-invalid');
  const body = { scope: all.checked ? 'all' : 'project' };
  if (reason.value.trim()) body.reason = reason.value.trim();
  await busy(button, async () => {
    try {
      const r = await api('POST', 'api/v1/projects/' + enc(me.project.key) + '/agents/' + enc(accountId) + '/offline', body);
      confirming = '';
      doorNote = accountId;
      show($('message'), text.isOffline(name, r ? r.changed : 1), 'success');
    } catch (e) {
      if (e.field === 'reason') {
        reason.setAttribute('aria-invalid', 'true');
        error.textContent = sentence(e, text.fieldLabels);
        reason.focus();
        return;
      }
      show($('message'), sentence(e, text.fieldLabels), 'error');
    }
    await refresh();
  }, $('online-h'));
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

// readDuration checks the custom minutes beside their field; NaN when wrong.
function readDuration() {
  const custom = $('custom');
  custom.removeAttribute('aria-invalid');
  $('custom-error').textContent = '';
  const minutes = durationMinutes();
  if (Number.isNaN(minutes)) {
    custom.setAttribute('aria-invalid', 'true');
    $('custom-error').textContent = text.customError;
    custom.focus();
  }
  return minutes;
}

async function setStatus(online, minutes) {
  const body = { online, scope: $('all').checked ? 'all' : 'project' };
  if (project) body.project = project;
  if (online && minutes !== undefined) body.durationMinutes = minutes;
  show($('message'), '');
  await busy([$('go-online'), $('go-offline'), $('extend-yes')], async () => {
    try {
      // The new state shows in "Your status" (a live region): no banner
      // that would go stale when the state changes elsewhere.
      me = await api('PUT', 'api/v1/me/status', body);
      $('extend').hidden = true;
      render();
      await loadAgents();
    } catch (e) {
      if (e.field === 'durationMinutes') {
        $('custom').setAttribute('aria-invalid', 'true');
        $('custom-error').textContent = sentence(e, text.fieldLabels);
      }
      show($('message'), sentence(e, text.fieldLabels), 'error');
      render();
    }
  }, $('go-online'));
}

// goOnline goes online; while already online it asks first, since going
// online again restarts the period ("for 1 hour" from now).
function goOnline() {
  const minutes = readDuration();
  if (Number.isNaN(minutes)) return;
  if (!onlineInScope()) {
    setStatus(true, minutes);
    return;
  }
  const current = targets().find((p) => p.online);
  const now = current.until ? 'until ' + when(current.until) : text.untilChanged;
  const next = minutes === undefined ? text.untilChanged : 'until ' + when(new Date(Date.now() + minutes * 60_000).toISOString());
  const same = minutes === undefined && !current.until;
  $('extend-text').textContent = same ? text.extendSame(now) : text.extendAsk(now, next);
  $('extend-yes').hidden = same;
  $('extend-yes').textContent = text.extendYes(next);
  $('extend-yes').onclick = () => setStatus(true, minutes);
  $('extend').hidden = false;
  (same ? $('extend-no') : $('extend-yes')).focus();
}

function closeExtend() {
  $('extend').hidden = true;
  $('go-online').focus();
}

let scheduleAt = 0; // when the schedule state was last read
let scheduleNext = 0; // when its next switch falls

// loadSchedule reads the schedule's state for the line under "Schedule":
// at most once a minute, and again once its next switch has passed.
async function loadSchedule(force = false) {
  if (!me || me.projects.length === 0) return;
  const now = Date.now();
  if (!force && now - scheduleAt < 60_000 && !(scheduleNext && now >= scheduleNext)) return;
  scheduleAt = now;
  let s;
  try {
    s = await api('GET', 'api/v1/me/schedule');
  } catch {
    return; // the line keeps what it said
  }
  const next = (s.nextSwitches || []).find((x) => Date.parse(x.at) > now);
  scheduleNext = next ? Date.parse(next.at) : 0;
  setText($('schedule-state'), !s.enabled ? text.scheduleOff
    : next ? text.scheduleOn(text.switchTo(next.online, text.at(next.at))) : text.scheduleNone);
}

async function refresh() {
  try {
    me = await api('GET', 'api/v1/me' + (project ? '?project=' + enc(project) : ''));
    render();
    await loadAgents();
    loadSchedule();
  } catch (e) {
    show($('message'), sentence(e, text.fieldLabels), 'error');
  }
}

let pending = 0;

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
$('go-online').addEventListener('click', (e) => { if (!e.currentTarget.dataset.busy) goOnline(); });
$('go-offline').addEventListener('click', (e) => { if (!e.currentTarget.dataset.busy) setStatus(false); });
$('extend-no').addEventListener('click', closeExtend);
$('schedule').addEventListener('click', () => openDialog('schedule-dialog'));
// Coming back from the schedule dialog: its state may have changed.
window.addEventListener('focus', () => loadSchedule(true));
// Escape closes what is open inside the dialog first, then the dialog.
closeOnEscape(() => {
  if (confirming) { cancelConfirm(); return true; }
  if (!$('extend').hidden) { closeExtend(); return true; }
  return false;
});

initPage();
await refresh();
loadSchedule(true);
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
