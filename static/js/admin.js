// The Jira admin page: auto-offline, who is online across projects, the
// status-change log (filters, CSV export) and the time-online report.
import { api, apiIfChanged, apiBlob, users, initPage, resize, h, show, busy } from './connect.js';
import { loadText, t, when, shortDate, number, sentence } from './i18n.js';
import { stackedBars } from './chart.js';

await loadText();

// Every string people read, in one place: the words of the user's
// language (static/i18n/<lang>.json), with their values.
const text = {
  allAgents: t('admin.allAgents'),
  projectCount: (p) => t('admin.projectCount', { key: p.key, n: p.onlineCount }),
  noUntil: '—',
  state: (on) => t(on ? 'common.online' : 'common.offline'),
  stateName: (st) => t('common.' + (st === 'away' ? 'away' : st === 'online' ? 'online' : 'offline')),
  // The log's change in states ("Online → Away"); older rows without
  // states by their online flags.
  change: (e) => (e.fromState && e.toState ? text.stateName(e.fromState) + ' → ' + text.stateName(e.toState)
    : text.state(e.fromOnline) + ' → ' + text.state(e.toOnline)),
  awayState: (reason) => t('common.away') + (reason ? ' · ' + reason : ''),
  awaySeries: t('admin.awaySeries'),
  awayHours: t('admin.awayHours'),
  source: (s) => t('source.' + s),
  exportFailed: (m) => t('admin.exportFailed', { message: m }),
  nobodyInPeriod: t('admin.nobodyInPeriod'),
  chartTitle: (agents, hours) => t('admin.chartTitle', { n: agents, hours }),
  others: (n) => t('admin.others', { n }),
  agent: t('admin.colAgent'),
  totalHours: t('admin.totalHours'),
  hoursOn: (name, hours, day) => t('admin.hoursOn', { name, hours, day }),
  autoOfflineSaved: (m) => (m === 0 ? t('admin.savedNever') : t('admin.savedAfter', { n: m })),
  minutesNeeded: t('admin.minutesNeeded'),
  fromAfterTo: t('admin.fromAfterTo'),
  adminsOnly: t('admin.adminsOnly'),
  fieldLabels: { autoOfflineMinutes: t('admin.labelMinutes'), from: t('admin.labelFrom'), to: t('admin.labelTo') },
};

const $ = (id) => document.getElementById(id);
const day = (d) => d.toISOString().slice(0, 10); // a UTC day: the report's days are UTC
// A local day, as the log filter's date inputs mean them (filterQuery).
const localDay = (d) => [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((n) => String(n).padStart(2, '0')).join('-');
const addDays = (d, n) => new Date(d.getTime() + n * 86_400_000);
const known = new Set(); // accounts seen anywhere on the page, for the agent filter
let nextBefore = 0;

function person(who) {
  return [who.avatar ? h('img', { class: 'avatar', src: who.avatar, alt: '' }) : null, who.name];
}

async function remember(ids) {
  const fresh = ids.filter((id) => id && !known.has(id));
  for (const id of fresh) known.add(id);
  if (!fresh.length) return;
  const names = await users([...known]);
  const sel = $('f-agent');
  const current = sel.value;
  const opts = [...known].map((id) => ({ id, name: names.get(id).name })).sort((a, b) => a.name.localeCompare(b.name));
  sel.replaceChildren(h('option', { value: '', text: text.allAgents }), ...opts.map((o) => h('option', { value: o.id, text: o.name })));
  sel.value = current;
}

async function loadSettings() {
  const s = await api('GET', 'api/v1/settings');
  showSettings(s.autoOfflineMinutes);
}

// showSettings: 0 is "never", an explicit choice; otherwise the minutes.
function showSettings(minutes) {
  $('auto-off').checked = minutes === 0;
  $('auto-on').checked = minutes !== 0;
  $('auto-offline').value = minutes === 0 ? '' : String(minutes);
}

// loadOnline asks for "Online now" with the ETag of the last answer: a
// change costs one answer, no change a 304 and no redrawing.
async function loadOnline() {
  const { data: r, changed } = await apiIfChanged('api/v1/admin/online');
  if (!changed) return;
  for (const id of ['f-project', 'r-project']) {
    const sel = $(id);
    if (sel.options.length === 1) sel.append(...r.projects.map((p) => h('option', { value: p.key, text: p.name + ' (' + p.key + ')' })));
  }
  $('project-counts').textContent = r.projects.map(text.projectCount).join(' · ');
  // The away are listed after the online, with their state and reason.
  const rows = [...r.online, ...(r.away || [])];
  const names = await users(rows.map((o) => o.accountId));
  await remember(rows.map((o) => o.accountId));
  $('online-empty').hidden = rows.length > 0;
  $('online').replaceChildren(...rows.map((o) => h('tr', { 'data-state': o.state || 'online' },
    h('td', {}, person(names.get(o.accountId))), h('td', { text: o.project }),
    h('td', { text: o.state === 'away' ? text.awayState(o.awayReason) : text.stateName('online') }), h('td', { text: when(o.since) }),
    h('td', { text: o.until ? when(o.until) : text.noUntil }), h('td', { text: text.source(o.source) }))));
  resize();
}

function filterQuery() {
  const q = new URLSearchParams();
  const from = $('f-from').value;
  const to = $('f-to').value;
  if ($('f-project').value) q.set('project', $('f-project').value);
  if ($('f-agent').value) q.set('accountId', $('f-agent').value);
  if ($('f-source').value) q.set('source', $('f-source').value);
  // The dates are the admin's local days.
  if (from) q.set('from', new Date(from + 'T00:00').toISOString());
  if (to) {
    const end = new Date(to + 'T00:00');
    end.setDate(end.getDate() + 1);
    q.set('to', end.toISOString());
  }
  return q;
}

function filterError(e) {
  const field = { from: 'f-from', to: 'f-to' }[e.field];
  if (!field) return false;
  $(field).setAttribute('aria-invalid', 'true');
  $('f-error').textContent = sentence(e, text.fieldLabels);
  return true;
}

async function loadEvents(more) {
  $('f-error').textContent = '';
  for (const id of ['f-from', 'f-to']) $(id).removeAttribute('aria-invalid');
  if ($('f-from').value && $('f-to').value && $('f-from').value > $('f-to').value) {
    for (const id of ['f-from', 'f-to']) $(id).setAttribute('aria-invalid', 'true');
    $('f-error').textContent = text.fromAfterTo;
    $('f-to').focus();
    return;
  }
  const q = filterQuery();
  q.set('limit', '25');
  if (more) q.set('before', String(nextBefore));
  let r;
  try {
    r = await api('GET', 'api/v1/admin/events?' + q);
  } catch (e) {
    if (!filterError(e)) show($('banner'), sentence(e, text.fieldLabels), 'error');
    return;
  }
  const ids = r.events.flatMap((e) => [e.accountId, e.actorAccountId]).filter(Boolean);
  const names = await users(ids);
  await remember(r.events.map((e) => e.accountId));
  const rows = r.events.map((e) => h('tr', {},
    h('td', { text: when(e.at) }), h('td', {}, person(names.get(e.accountId))), h('td', { text: e.project }),
    h('td', { text: text.change(e) }), h('td', { text: text.source(e.source) }),
    h('td', { text: e.actorAccountId ? names.get(e.actorAccountId).name : '' }), h('td', { text: e.reason || '' })));
  if (more) $('events').append(...rows);
  else $('events').replaceChildren(...rows);
  nextBefore = r.nextBefore || 0;
  $('more').hidden = !nextBefore;
  $('events-empty').hidden = $('events').children.length > 0;
  resize();
}

// exportCSV downloads the filtered log; the token goes in a header, never in a URL.
async function exportCSV() {
  const q = filterQuery();
  q.set('format', 'csv');
  try {
    const url = URL.createObjectURL(await apiBlob('api/v1/admin/events?' + q));
    const a = h('a', { href: url, download: 'status-changes.csv', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    show($('banner'), text.exportFailed(e.message), 'error');
  }
}

async function loadReport() {
  const n = Number($('r-days').value);
  const today = new Date(day(new Date()) + 'T00:00:00Z');
  const q = new URLSearchParams({ from: day(addDays(today, 1 - n)), to: day(addDays(today, 1)) });
  if ($('r-project').value) q.set('project', $('r-project').value);
  const r = await api('GET', 'api/v1/admin/report?' + q);
  const names = await users(r.agents.map((a) => a.accountId));
  await remember(r.agents.map((a) => a.accountId));
  const labels = r.days.map(shortDate);
  // Eight colours stay apart; beyond them the smaller agents share "others".
  const ranked = [...r.agents].sort((a, b) => b.totalSeconds - a.totalSeconds);
  const series = ranked.slice(0, 8).map((a) => ({ name: names.get(a.accountId).name, values: a.seconds.map((x) => x / 3600) }));
  if (ranked.length > 8) {
    const rest = ranked.slice(8);
    series.push({ name: text.others(rest.length), values: r.days.map((_, i) => rest.reduce((t, a) => t + a.seconds[i], 0) / 3600), others: true });
  }
  // Away is its own series (every agent's away hours), not online time.
  const away = r.days.map((_, i) => r.agents.reduce((t, a) => t + ((a.awaySeconds || [])[i] || 0), 0) / 3600);
  if (away.some((v) => v > 0)) series.push({ name: text.awaySeries, values: away, away: true, cls: 'c-away' });
  const chart = $('chart');
  if (!series.length) {
    chart.replaceChildren(h('p', { class: 'muted', text: text.nobodyInPeriod }));
  } else {
    const total = r.agents.reduce((a, x) => a + x.totalSeconds, 0) / 3600;
    chart.replaceChildren(
      stackedBars({ labels, series, width: chart.clientWidth, title: text.chartTitle(r.agents.length, number(total)), label: text.hoursOn }),
      h('ul', { class: 'legend' }, series.map((s, k) => h('li', { 'data-series': s.away ? 'away' : 'online' }, h('span', { class: 'swatch ' + (s.cls || 'c' + k), 'aria-hidden': 'true' }), s.name))));
  }
  const fmt = (sec) => number(sec / 3600);
  $('report-table').replaceChildren(
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: text.agent }), labels.map((l) => h('th', { scope: 'col', class: 'num', text: l })), h('th', { scope: 'col', class: 'num', text: text.totalHours }),
      h('th', { scope: 'col', class: 'num', text: text.awayHours }))),
    h('tbody', {}, r.agents.map((a) => h('tr', {}, h('th', { scope: 'row', text: names.get(a.accountId).name }),
      a.seconds.map((x) => h('td', { class: 'num', text: fmt(x) })), h('td', { class: 'num', text: fmt(a.totalSeconds) }),
      h('td', { class: 'num', 'data-col': 'away', text: fmt(a.totalAwaySeconds || 0) })))));
  resize();
}

$('settings').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('auto-offline');
  input.removeAttribute('aria-invalid');
  $('auto-offline-error').textContent = '';
  const bad = (message) => {
    input.setAttribute('aria-invalid', 'true');
    $('auto-offline-error').textContent = message;
    input.focus();
  };
  // An empty field is not "off": off is the explicit "Never".
  let minutes = 0;
  if (!$('auto-off').checked) {
    minutes = Number(input.value);
    if (input.value.trim() === '' || !Number.isInteger(minutes) || minutes < 1 || minutes > 10080) {
      bad(text.minutesNeeded);
      return;
    }
  }
  await busy($('save-settings'), async () => {
    try {
      const s = await api('PUT', 'api/v1/settings', { autoOfflineMinutes: minutes });
      showSettings(s.autoOfflineMinutes);
      show($('banner'), text.autoOfflineSaved(s.autoOfflineMinutes), 'success');
    } catch (e) {
      if (e.field === 'autoOfflineMinutes') bad(sentence(e, text.fieldLabels));
      else show($('banner'), sentence(e, text.fieldLabels), 'error');
    }
  });
});
$('auto-offline').addEventListener('focus', () => { $('auto-on').checked = true; });
$('filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadEvents(false); });
$('more').addEventListener('click', () => loadEvents(true));
$('export').addEventListener('click', exportCSV);
$('r-days').addEventListener('change', loadReport);
$('r-project').addEventListener('change', loadReport);

initPage();
const today = new Date();
const weekAgo = new Date(today);
weekAgo.setDate(today.getDate() - 6); // local calendar days, whatever DST does
$('f-from').value = localDay(weekAgo);
$('f-to').value = localDay(today);
try {
  await loadOnline();
  $('content').hidden = false;
  await Promise.all([loadSettings(), loadEvents(false), loadReport()]);
} catch (e) {
  show($('banner'), e.status === 403 ? text.adminsOnly : sentence(e, text.fieldLabels), 'error');
}
resize();
// "Online now" follows changes: the agents' stream carries only the
// counts of one's own projects, so the page asks every 5 s while it is
// seen, each time with the ETag of the last answer (a 304 when nothing
// changed).
setInterval(() => { if (!document.hidden) loadOnline().catch(() => {}); }, 5_000);
document.addEventListener('visibilitychange', () => { if (!document.hidden) loadOnline().catch(() => {}); });
