// The schedule editor: weekly windows per day (overnight allowed), time
// zone, exceptions, and the server's next switches. The server validates;
// its messages are shown next to the input they name.
import { api, initPage, h, icon, show } from './connect.js';

const $ = (id) => document.getElementById(id);
const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
let switches = [];
// ruleInputs[i] holds the {start, end, error} inputs that make rules[i] of the last save.
let ruleInputs = [];

function zones(saved) {
  let list = [];
  try { list = Intl.supportedValuesOf('timeZone'); } catch { /* old browser */ }
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const z of ['UTC', saved, here]) if (z && !list.includes(z)) list.push(z);
  return { list: list.sort(), chosen: saved || here || 'UTC' };
}

const norm = (v) => v.trim().replace(/^(\d):/, '0$1:');

function windowRow(day, label, start = '', end = '') {
  const n = day.querySelectorAll('.window').length + 1;
  const err = h('span', { class: 'field-error', id: 'err-' + label + '-' + n + '-' + Math.random().toString(36).slice(2, 7) });
  const hint = h('span', { class: 'muted small', 'data-role': 'overnight' });
  const input = (which, value) => h('input', {
    type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: which === 'start' ? '09:00' : '17:00',
    maxlength: 5, 'data-role': which, 'aria-label': label + ', hours ' + n + ', ' + which, 'aria-describedby': err.id, value,
  });
  const s = input('start', start);
  const e = input('end', end);
  const clock = /^([01]\d|2[0-3]):[0-5]\d$/;
  const overnight = () => {
    const a = norm(s.value);
    const b = norm(e.value);
    hint.textContent = clock.test(a) && clock.test(b) && b <= a ? 'ends the next day' : '';
  };
  s.addEventListener('input', overnight);
  e.addEventListener('input', overnight);
  overnight();
  const row = h('div', { class: 'window' }, s, h('span', { 'aria-hidden': 'true', text: '–' }), e, hint,
    h('button', { type: 'button', class: 'subtle icon', 'aria-label': 'Remove ' + label + ' hours ' + n, onclick: () => row.remove() }, icon('close')),
    err);
  return row;
}

function renderDays(rules) {
  $('days').replaceChildren(...DAYS.map(([key, label]) => {
    const windows = h('div', { class: 'windows' });
    const day = h('div', { class: 'day', 'data-day': key }, h('span', { class: 'name', text: label }), windows,
      h('button', { type: 'button', 'data-action': 'add', onclick: () => { const r = windowRow(windows, label); windows.append(r); r.querySelector('input').focus(); } }, icon('plus'), 'Add hours'));
    for (const r of rules) if (r.days.includes(key)) windows.append(windowRow(windows, label, r.start, r.end));
    return day;
  }));
}

function exceptionRow(x = { date: '', off: true }) {
  const err = h('span', { class: 'field-error', id: 'xerr-' + Math.random().toString(36).slice(2, 9) });
  const date = h('input', { type: 'date', 'data-role': 'date', 'aria-label': 'Date', 'aria-describedby': err.id, value: x.date });
  const kind = h('select', { 'data-role': 'kind', 'aria-label': 'What happens that day' },
    h('option', { value: 'off', text: 'Offline all day' }), h('option', { value: 'window', text: 'Online from…to' }));
  kind.value = x.off ? 'off' : 'window';
  const start = h('input', { type: 'text', inputmode: 'numeric', maxlength: 5, placeholder: '09:00', 'data-role': 'start', 'aria-label': 'Start', 'aria-describedby': err.id, value: x.start || '' });
  const end = h('input', { type: 'text', inputmode: 'numeric', maxlength: 5, placeholder: '17:00', 'data-role': 'end', 'aria-label': 'End', 'aria-describedby': err.id, value: x.end || '' });
  const times = h('span', { class: 'row' }, start, h('span', { 'aria-hidden': 'true', text: '–' }), end);
  const sync = () => { times.hidden = kind.value === 'off'; };
  kind.addEventListener('change', sync);
  sync();
  const row = h('div', { class: 'window', 'data-role': 'exception' }, date, kind, times,
    h('button', { type: 'button', class: 'subtle icon', 'aria-label': 'Remove this exception', onclick: () => row.remove() }, icon('close')), err);
  return row;
}

function collect() {
  const groups = new Map();
  for (const day of $('days').querySelectorAll('.day')) {
    for (const w of day.querySelectorAll('.window')) {
      const start = norm(w.querySelector('[data-role=start]').value);
      const end = norm(w.querySelector('[data-role=end]').value);
      if (!start && !end) continue;
      const k = start + '-' + end;
      if (!groups.has(k)) groups.set(k, { rule: { days: [], start, end }, inputs: [] });
      const g = groups.get(k);
      g.rule.days.push(day.dataset.day);
      g.inputs.push(w);
    }
  }
  ruleInputs = [...groups.values()].map((g) => g.inputs);
  const exceptions = [...$('exceptions').children].map((row) => {
    const off = row.querySelector('[data-role=kind]').value === 'off';
    const x = { date: row.querySelector('[data-role=date]').value, off };
    if (!off) Object.assign(x, { start: norm(row.querySelector('[data-role=start]').value), end: norm(row.querySelector('[data-role=end]').value) });
    return x;
  });
  return {
    timezone: $('timezone').value, enabled: $('enabled').checked,
    rules: [...groups.values()].map((g) => g.rule), exceptions,
  };
}

function clearErrors() {
  for (const n of document.querySelectorAll('[aria-invalid]')) n.removeAttribute('aria-invalid');
  for (const n of document.querySelectorAll('.field-error')) n.textContent = '';
}

// showFieldError puts the API's message next to the input its field names.
function showFieldError(field, message) {
  let m;
  if (field === 'timezone') {
    $('timezone').setAttribute('aria-invalid', 'true');
    $('timezone-error').textContent = message;
    $('timezone').focus();
    return true;
  }
  if ((m = /^rules\[(\d+)\](?:\.(start|end|days)(?:\[\d+\])?)?$/.exec(field)) && ruleInputs[Number(m[1])]) {
    const rows = ruleInputs[Number(m[1])];
    const role = m[2] === 'end' ? 'end' : 'start';
    for (const w of rows) w.querySelector('[data-role=' + role + ']').setAttribute('aria-invalid', 'true');
    rows[0].querySelector('.field-error').textContent = message;
    rows[0].querySelector('[data-role=' + role + ']').focus();
    return true;
  }
  if ((m = /^exceptions\[(\d+)\](?:\.(date|start|end))?$/.exec(field)) && $('exceptions').children[Number(m[1])]) {
    const row = $('exceptions').children[Number(m[1])];
    const input = row.querySelector('[data-role=' + (m[2] || 'date') + ']');
    input.setAttribute('aria-invalid', 'true');
    row.querySelector('.field-error').textContent = message;
    input.focus();
    return true;
  }
  return false;
}

function renderSwitches() {
  const tz = $('timezone').value;
  const fmt = (iso) => {
    try {
      return new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone: tz, timeZoneName: 'short' }).format(new Date(iso));
    } catch { return new Date(iso).toLocaleString(); }
  };
  $('preview').hidden = false;
  $('no-switches').hidden = switches.length > 0;
  $('switches').replaceChildren(...switches.map((s) => h('li', { text: fmt(s.at) + ' — ' + (s.online ? 'online' : 'offline') })));
}

function render(s) {
  const { list, chosen } = zones(s.timezone);
  $('timezone').replaceChildren(...list.map((z) => h('option', { value: z, text: z.replace(/_/g, ' ') })));
  $('timezone').value = chosen;
  $('enabled').checked = Boolean(s.enabled);
  renderDays(s.rules || []);
  $('exceptions').replaceChildren(...(s.exceptions || []).map(exceptionRow));
  switches = s.nextSwitches || [];
  renderSwitches();
}

$('add-exception').addEventListener('click', () => {
  const row = exceptionRow();
  $('exceptions').append(row);
  row.querySelector('input').focus();
});
$('timezone').addEventListener('change', renderSwitches);
$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  show($('banner'), '');
  $('save').disabled = true;
  try {
    render(await api('PUT', 'api/v1/me/schedule', collect()));
    show($('banner'), 'Schedule saved.', 'success');
  } catch (e) {
    if (e.field && showFieldError(e.field, e.detail)) show($('banner'), 'Please correct the field marked above.', 'error');
    else show($('banner'), e.message, 'error');
  } finally {
    $('save').disabled = false;
  }
});

initPage();
try {
  // Someone without a schedule is offered one in their Jira time zone, else
  // in this browser's (handlers.Schedules.Get).
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  render(await api('GET', 'api/v1/me/schedule?tz=' + encodeURIComponent(here)));
  $('form').hidden = false;
} catch (e) {
  if (e.status === 404 && e.code === 'not_found') {
    document.body.dataset.unavailable = 'true';
    show($('banner'), 'Schedules are not available on this server yet.', 'warning');
  } else {
    show($('banner'), e.message, 'error');
  }
}
