// The presence dialog: how many agents are online in the current project,
// the user's own state, going online or offline, the schedule's state, and
// who is online (with the admins' door to put someone offline).
import {
  api, users, live, heartbeat, initPage, query, h, icon, show, busy, closeOnEscape, openDialog,
} from './connect.js';
import { loadText, t, list as joinList, when, clock, dayName, sentence } from './i18n.js';

await loadText();

// Every string people read, in one place: the words of the user's
// language (static/i18n/<lang>.json), with their values.
const text = {
  onlineIn: (n, key) => (n === 0 ? t('presence.onlineInNone', { key }) : t('presence.onlineIn', { n, key })),
  projectCount: (n) => t('presence.projectCount', { n }),
  offlineIn: (key) => t('presence.offlineIn', { key }),
  onlineSince: (key, since, until, source) => t('presence.onlineSince', {
    key, since, until: until ? t('presence.untilPart', { time: until }) : '', via: text.viaSource[source] || '',
  }),
  viaSource: { schedule: t('presence.viaSchedule'), admin: t('presence.viaAdmin') },
  notAgent: (key) => t('presence.notAgent', { key }),
  onlineInKeys: (keys) => t('presence.onlineInKeys', { keys: joinList(keys) }),
  offlineEverywhere: t('presence.offlineEverywhere'),
  goOnline: t('presence.goOnline'),
  changeHowLong: t('presence.changeHowLong'),
  untilChanged: t('presence.untilChanged'),
  untilTime: (time) => t('presence.untilTime', { time }),
  extendAsk: (now, next) => t('presence.extendAsk', { now, next }),
  extendYes: (next) => t('presence.extendYes', { next }),
  extendSame: (now) => t('presence.extendSame', { now }),
  customError: t('presence.customError'),
  you: (name) => t('presence.you', { name }),
  since: (time) => t('presence.since', { time }),
  untilMeta: (time) => t('presence.untilMeta', { time }),
  sourceMeta: { schedule: t('presence.bySchedule'), admin: t('presence.byAdmin') },
  door: (name) => t('presence.door', { name }),
  doorAsk: (name, key) => t('presence.doorAsk', { name, key }),
  reason: t('presence.reason'),
  allProjects: t('presence.allProjects'),
  putOffline: t('presence.putOffline'),
  cancel: t('common.cancel'),
  isOffline: (name, n) => (n > 1 ? t('presence.isOfflineIn', { name, n }) : t('presence.isOffline', { name })),
  scheduleOff: t('presence.scheduleOff'),
  scheduleOn: (next) => t('presence.scheduleOn', { next }),
  scheduleNone: t('presence.scheduleNone'),
  switchTo: (online, at) => t(online ? 'presence.switchOnline' : 'presence.switchOffline', { at }),
  at: (iso) => (new Date(iso).toDateString() === new Date().toDateString()
    ? t('presence.atToday', { time: clock(iso) }) : t('presence.atDay', { day: dayName(iso), time: clock(iso) })),
  online: t('common.online'),
  offline: t('common.offline'),
  away: t('common.away'),
  awaySince: (key, since, reason) => t('presence.awaySince', { key, since, reason: reason ? t('presence.reasonPart', { reason }) : '' }),
  lastChange: (time, cause) => t('presence.lastChange', { time, cause }),
  cause: {
    manual: () => t('presence.causeManual'),
    schedule: () => t('presence.causeSchedule'),
    expiry: () => t('presence.causeExpiry'),
    inactivity: () => t('presence.causeInactivity'),
    admin: (name, reason) => (reason ? t('presence.causeAdminReason', { name, reason }) : t('presence.causeAdmin', { name })),
  },
  fieldLabels: { durationMinutes: t('presence.labelMinutes'), reason: t('presence.labelReason') },
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
  if (p.state === 'away') return text.awaySince(p.key, when(p.since), p.awayReason || '');
  if (!p.online) return text.offlineIn(p.key);
  return text.onlineSince(p.key, when(p.since), p.until ? when(p.until) : '', p.source);
}

// renderChange says the last change of the current project's status and
// its cause (who, with what reason, or which rule), so that a change made
// elsewhere explains itself here.
async function renderChange() {
  const el = $('me-change');
  const p = me.project;
  if (!p || !p.since || !p.source) {
    el.hidden = true;
    return;
  }
  let cause;
  if (p.source === 'admin') {
    const name = p.changedBy ? (await users([p.changedBy])).get(p.changedBy).name : '';
    cause = text.cause.admin(name, p.changeReason || '');
  } else {
    cause = (text.cause[p.source] || text.cause.manual)();
  }
  setText(el, text.lastChange(when(p.since), cause));
  el.hidden = false;
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
  $('all-list').textContent = mine.length ? ' (' + joinList(mine) + ')' : '';
  const all = $('all');
  if (!me.project) {
    all.checked = true;
    all.disabled = true;
  }
  const online = me.project ? me.project.online : me.projects.some((p) => p.online);
  const away = !online && (me.project ? me.project.state === 'away' : me.projects.some((p) => p.state === 'away'));
  $('me-icon').src = '../static/icons/presence-' + (online ? 'online' : 'offline') + '.svg';
  $('me-icon').alt = online ? text.online : away ? text.away : text.offline;
  renderChange();
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
  // Away, one can go offline too.
  off.hidden = !inScope && !targets().some((p) => p.state === 'away');
  off.className = inScope ? 'primary' : '';
  on.className = inScope ? '' : 'primary';
  setText(on, inScope ? text.changeHowLong : text.goOnline);
  on.disabled = !(all.checked ? me.projects.length > 0 : me.isAgent);
  $('go-away').disabled = on.disabled;
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
let awayAgents = [];

// renderAway lists who is away, with their reasons: not online for
// customers, but at hand for colleagues.
function renderAway() {
  $('away-section').hidden = awayAgents.length === 0;
  $('away-agents').replaceChildren(...awayAgents.map((a) => {
    const who = names.get(a.accountId);
    const meta = text.since(when(a.since)) + (a.awayReason ? ' · ' + a.awayReason : '');
    return h('li', { class: 'person', 'data-account': a.accountId, 'data-state': 'away' },
      who.avatar ? h('img', { class: 'avatar', src: who.avatar, alt: '' }) : h('span', { class: 'avatar', 'aria-hidden': 'true' }),
      h('span', { class: 'who' }, h('span', { class: 'name', text: a.accountId === me.accountId ? text.you(who.name) : who.name }), h('br'),
        h('span', { class: 'muted small', text: meta })));
  }));
}
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
  awayAgents = list.away || [];
  names = await users([...agents, ...awayAgents].map((a) => a.accountId));
  renderAgents();
  renderAway();
}

function renderAgents() {
  if (confirming && !agents.some((a) => a.accountId === confirming)) confirming = '';
  // The note "X is offline now" goes once X is back online: it would lie.
  if (doorNote && agents.some((a) => a.accountId === doorNote)) {
    show($('message'), '');
    doorNote = '';
  }
  // A live update keeps every row whose content is unchanged as it is, so
  // that nothing is replaced under the user (the focus, a reason being
  // typed, a press on a button). A row that does change is rebuilt:
  // whoever had the focus in it keeps it, and a confirmation keeps what
  // was typed into it.
  const active = document.activeElement;
  if (!focusNext && active && $('agents').contains(active) && (active.dataset.action || active.dataset.role)) {
    const row = active.closest('[data-account]');
    if (row) focusNext = { account: row.dataset.account, action: active.dataset.action, role: active.dataset.role };
  }
  const open = $('agents').querySelector('.confirm');
  const draft = open ? { reason: open.querySelector('textarea').value, all: open.querySelector('input').checked } : null;
  $('agents-empty').hidden = agents.length > 0;
  const shown = new Map(Array.from($('agents').children, (row) => [row.dataset.account, row]));
  keepChildren($('agents'), agents.map((a) => {
    const who = names.get(a.accountId);
    const key = rowKey(a, who);
    const row = shown.get(a.accountId);
    return row && row.rowKey === key ? row : Object.assign(agentRow(a, who, draft), { rowKey: key });
  }));
  if (focusNext) {
    const what = focusNext.action ? '[data-action="' + focusNext.action + '"]' : '[data-role="' + focusNext.role + '"]';
    const el = $('agents').querySelector('[data-account="' + CSS.escape(focusNext.account) + '"] ' + what);
    if (el && el !== document.activeElement) el.focus();
    focusNext = null;
  }
}

// rowKey is everything an agent's row shows: the same key, the same row.
function rowKey(a, who) {
  return JSON.stringify([rowMeta(a), who.name, who.avatar, a.accountId === me.accountId,
    me.canPutOthersOffline, confirming === a.accountId, me.project.key]);
}

// keepChildren makes list's children nodes, in that order, without moving
// a node that is already in its place: a node taken out of the document
// loses the focus.
function keepChildren(list, nodes) {
  const wanted = new Set(nodes);
  for (const n of Array.from(list.children)) if (!wanted.has(n)) n.remove();
  let at = list.firstElementChild;
  for (const n of nodes) {
    if (n === at) at = at.nextElementSibling;
    else list.insertBefore(n, at);
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

function rowMeta(a) {
  return text.since(when(a.since)) + (a.until ? text.untilMeta(when(a.until)) : '') + (text.sourceMeta[a.source] || '');
}

function agentRow(a, who, draft) {
  const isMe = a.accountId === me.accountId;
  const meta = rowMeta(a);
  const row = h('li', { class: 'person', 'data-account': a.accountId },
    who.avatar ? h('img', { class: 'avatar', src: who.avatar, alt: '' }) : h('span', { class: 'avatar', 'aria-hidden': 'true' }),
    h('span', { class: 'who' }, h('span', { class: 'name', text: isMe ? text.you(who.name) : who.name }), h('br'),
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

async function setStatus(online, minutes, away = false) {
  const body = away ? { state: 'away', scope: $('all').checked ? 'all' : 'project' } : { online, scope: $('all').checked ? 'all' : 'project' };
  if (project) body.project = project;
  if (away && $('away-reason').value.trim()) body.reason = $('away-reason').value.trim();
  if ((online || away) && minutes !== undefined) body.durationMinutes = minutes;
  show($('message'), '');
  $('away-error').textContent = '';
  $('away-reason').removeAttribute('aria-invalid');
  await busy([$('go-online'), $('go-offline'), $('go-away'), $('extend-yes')], async () => {
    try {
      // The new state shows in "Your status" (a live region): no banner
      // that would go stale when the state changes elsewhere.
      me = await api('PUT', 'api/v1/me/status', body);
      // Hiding the question, or Go offline once offline, must not drop the
      // focus to the body while the list below reloads: it goes to Go
      // online at once.
      const had = document.activeElement;
      const inQuestion = $('extend').contains(had);
      $('extend').hidden = true;
      render();
      if (inQuestion || (had === $('go-offline') && $('go-offline').hidden)) $('go-online').focus();
      await loadAgents();
    } catch (e) {
      if (e.field === 'reason') {
        $('away-reason').setAttribute('aria-invalid', 'true');
        $('away-error').textContent = sentence(e, text.fieldLabels);
      }
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
  const now = current.until ? text.untilTime(when(current.until)) : text.untilChanged;
  const next = minutes === undefined ? text.untilChanged : text.untilTime(when(new Date(Date.now() + minutes * 60_000).toISOString()));
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
$('go-away').addEventListener('click', (e) => {
  if (e.currentTarget.dataset.busy) return;
  const minutes = readDuration();
  if (!Number.isNaN(minutes)) setStatus(false, minutes, true);
});
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
