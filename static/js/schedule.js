// The schedule editor: weekly windows per day (overnight allowed, copied
// from one day to others), the time zone (searched in the server's own
// zone list), holidays and other exceptions over date ranges, and a
// preview of the next two weeks' switches computed by the server from the
// schedule as edited. The server validates; its messages are shown next
// to the input they name.
import {
  api, apiRevalidated, initPage, resize, h, icon, show, busy, closeOnEscape,
} from './connect.js';
import { loadText, t, list as joinList, clock, dayName, dateTime, sentence } from './i18n.js';

await loadText();

// Every string people read, in one place: the words of the user's
// language (static/i18n/<lang>.json), with their values.
const text = {
  days: {
    mon: t('schedule.mon'), tue: t('schedule.tue'), wed: t('schedule.wed'), thu: t('schedule.thu'),
    fri: t('schedule.fri'), sat: t('schedule.sat'), sun: t('schedule.sun'),
  },
  addHours: t('schedule.addHours'),
  copyTo: t('schedule.copyTo'),
  copyToLabel: (day) => t('schedule.copyToLabel', { day }),
  copy: t('schedule.copy'),
  cancel: t('common.cancel'),
  copied: (from, to) => t('schedule.copied', { from, to }),
  copyNone: t('schedule.copyNone'),
  hours: (day, n, which) => t(which === 'start' ? 'schedule.hoursStart' : 'schedule.hoursEnd', { day, n }),
  remove: (day, n) => t('schedule.removeHours', { day, n }),
  // Windows in words, on a 24-hour clock.
  window: (s, e) => (e === '24:00' ? t('schedule.windowToMidnight', { start: s }) : t('schedule.window', { start: s, end: e })),
  overnight: (s, e) => t('schedule.overnight', { start: s, end: e }),
  dayHours: (day, hours) => t('schedule.dayHours', { day, hours: joinList(hours) }),
  dayRange: (first, last) => t('schedule.dayRange', { first, last }),
  noHours: (days) => t('schedule.noHours', { days }),
  and: joinList,
  zoneNow: (z) => t('schedule.zoneNow', { offset: 'UTC' + z.offset }) + (z.countries ? ' · ' + z.countries : ''),
  zoneRenamed: (old, cur) => t('schedule.zoneRenamed', { old, cur }),
  zoneNoMatch: t('schedule.zoneNoMatch'),
  from: t('schedule.from'),
  to: t('schedule.toOptional'),
  kind: t('schedule.kind'),
  offAllDay: t('schedule.offAllDay'),
  otherHours: t('schedule.otherHours'),
  start: t('schedule.start'),
  end: t('schedule.end'),
  removeException: t('schedule.removeException'),
  toBeforeFrom: t('schedule.toBeforeFrom'),
  noDate: t('schedule.noDate'),
  tooManyDays: (n) => t('schedule.tooManyDays', { n }),
  correct: t('schedule.correct'),
  savedOff: t('schedule.savedOff'),
  savedInside: (next) => t('schedule.savedInside', { next }),
  savedOutside: (next) => t('schedule.savedOutside', { next }),
  savedAlwaysOn: t('schedule.savedAlwaysOn'),
  savedNever: t('schedule.savedNever'),
  previewOff: t('schedule.previewOff'),
  previewNone: t('schedule.previewNone'),
  previewNow: (online) => t(online ? 'schedule.previewNowOnline' : 'schedule.previewNowOffline'),
  previewWaiting: t('schedule.previewWaiting'),
  previewMore: t('schedule.previewMore'),
  previewLine: (when, online) => t(online ? 'schedule.previewLineOnline' : 'schedule.previewLineOffline', { when }),
  at: (iso, tz) => {
    const d = new Date(iso);
    const same = (a, b) => a.toLocaleDateString('en-CA', { timeZone: tz }) === b.toLocaleDateString('en-CA', { timeZone: tz });
    const time = clock(iso, tz);
    if (same(d, new Date())) return t('schedule.atToday', { time });
    if (same(d, new Date(Date.now() + 86_400_000))) return t('schedule.atTomorrow', { time });
    return t('schedule.atDay', { day: dayName(iso, tz), time });
  },
  previewWhen: dateTime,
  unavailable: t('schedule.unavailable'),
  fieldLabels: { timezone: t('schedule.labelTimezone'), enabled: t('schedule.labelEnabled') },
};

const DAYS = Object.keys(text.days);
const $ = (id) => document.getElementById(id);
const uid = () => Math.random().toString(36).slice(2, 9);
// ruleInputs[i] holds the .window rows that make rules[i] of the last collect().
let ruleInputs = [];
// exceptionRows[i] is the range row that made exceptions[i] of the last collect().
let exceptionRows = [];

// --- time zones -------------------------------------------------------

let zones = []; // [{name, offset, offsetMinutes, countries, aliases}] from the server
let chosen = ''; // the zone name the schedule is kept in
let active = -1; // the highlighted option
let shownZones = [];

const fold = (s) => s.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/_/g, ' ');

// matches finds zones by name, old name, country or offset ("kyiv",
// "kiev", "ukraine", "+02", "utc+5:30").
function matches(query) {
  const q = fold(query.trim());
  if (!q) return zones;
  const words = q.split(/\s+/);
  const off = /^(?:utc|gmt)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(q.replace(/\s/g, ''));
  if (off) {
    const m = (off[1] === '-' ? -1 : 1) * (Number(off[2]) * 60 + Number(off[3] || 0));
    return zones.filter((z) => z.offsetMinutes === m);
  }
  // Best first: the name itself, then a city that starts so, then the
  // rest (old names, countries, "utc+02:00").
  const rank = (z) => {
    const name = fold(z.name);
    const city = name.slice(name.lastIndexOf('/') + 1);
    if (name === q || city === q) return 0;
    if (city.startsWith(q)) return 1;
    if (name.includes(q)) return 2;
    return 3;
  };
  return zones.filter((z) => {
    const hay = fold([z.name, ...(z.aliases || []), z.countries || '', 'utc' + z.offset].join(' '));
    return words.every((w) => hay.includes(w));
  }).map((z) => [rank(z), z]).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
}

function zoneByName(name) {
  return zones.find((z) => z.name === name) || zones.find((z) => (z.aliases || []).includes(name));
}

function renderList() {
  const input = $('timezone');
  shownZones = matches(input.value).slice(0, 100);
  const list = $('tz-list');
  if (!shownZones.length) {
    list.replaceChildren(h('li', { role: 'option', 'aria-disabled': 'true', 'aria-selected': 'false', id: 'tz-none', text: text.zoneNoMatch }));
  } else {
    list.replaceChildren(...shownZones.map((z, i) => {
      const li = h('li', { role: 'option', id: 'tz-opt-' + i, 'aria-selected': String(i === active), 'data-zone': z.name },
        h('span', { text: z.name.replace(/_/g, ' ') }), h('span', { class: 'off', text: 'UTC' + z.offset }),
        z.countries ? h('span', { class: 'muted small', text: z.countries }) : null);
      // mousedown keeps the focus in the input.
      li.addEventListener('mousedown', (e) => { e.preventDefault(); choose(z.name); });
      return li;
    }));
  }
  list.hidden = false;
  input.setAttribute('aria-expanded', 'true');
  if (active >= 0 && shownZones.length) {
    input.setAttribute('aria-activedescendant', 'tz-opt-' + active);
    $('tz-opt-' + active).scrollIntoView({ block: 'nearest' });
  } else {
    input.removeAttribute('aria-activedescendant');
  }
}

function closeList() {
  $('tz-list').hidden = true;
  $('timezone').setAttribute('aria-expanded', 'false');
  $('timezone').removeAttribute('aria-activedescendant');
  active = -1;
}

function choose(name, note = '') {
  chosen = name;
  const z = zoneByName(name);
  $('timezone').value = name;
  $('timezone-hint').textContent = note || (z ? text.zoneNow(z) : '');
  closeList();
  previewSoon();
}

function setZone(saved) {
  const z = zoneByName(saved);
  if (!z) {
    // Not in the list (a fixed offset such as Etc/GMT+5): kept as it is.
    chosen = saved;
    $('timezone').value = saved;
    $('timezone-hint').textContent = '';
    return;
  }
  choose(z.name, z.name !== saved ? text.zoneRenamed(saved, z.name) : '');
}

function zoneKeys(e) {
  const open = !$('tz-list').hidden;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    if (!open) { active = -1; renderList(); }
    const n = shownZones.length;
    if (!n) return;
    active = e.key === 'ArrowDown' ? (active + 1) % n : (active - 1 + n) % n;
    renderList();
  } else if (e.key === 'Enter' && open) {
    e.preventDefault(); // not a submit
    const pick = shownZones[active >= 0 ? active : 0];
    if (pick) choose(pick.name);
  } else if (e.key === 'Escape' && open) {
    e.preventDefault(); // the list closes, not the dialog
    closeList();
    $('timezone').value = chosen;
  }
}

// --- weekly hours ----------------------------------------------------

const norm = (v) => v.trim().replace(/^(\d):/, '0$1:');
const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;
const END = /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/;

// readable tells whether a window can be read: two times, apart.
function readable(start, end) {
  const a = norm(start);
  const b = norm(end);
  return CLOCK.test(a) && END.test(b) && a !== b;
}

// overnight: an end before the start runs into the next day.
function overnight(start, end) {
  const b = norm(end);
  return readable(start, end) && b !== '24:00' && b < norm(start);
}

// inWords says a window in words: "09:00–17:00", "from 22:00 to 06:00
// the next day"; '' while it cannot be read.
function inWords(start, end) {
  if (!readable(start, end)) return '';
  return overnight(start, end) ? text.overnight(norm(start), norm(end)) : text.window(norm(start), norm(end));
}

function windowRow(day, label, start = '', end = '') {
  const n = day.querySelectorAll('.window').length + 1;
  const err = h('span', { class: 'field-error', id: 'err-' + uid() });
  const hint = h('span', { class: 'muted small', 'data-role': 'words' });
  const input = (which, value) => h('input', {
    type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: which === 'start' ? '09:00' : '17:00',
    maxlength: 5, 'data-role': which, 'aria-label': text.hours(label, n, which), 'aria-describedby': err.id, value,
  });
  const s = input('start', start);
  const e = input('end', end);
  const words = () => {
    // Only overnight windows need saying: the others read as typed.
    hint.textContent = overnight(s.value, e.value) ? inWords(s.value, e.value) : '';
  };
  s.addEventListener('input', words);
  e.addEventListener('input', words);
  words();
  const row = h('div', { class: 'window' }, s, h('span', { 'aria-hidden': 'true', text: '–' }), e, hint,
    h('button', {
      type: 'button', class: 'subtle icon', 'aria-label': text.remove(label, n),
      onclick: () => {
        // The focus goes to the day's "Add hours", not to the page.
        const add = row.closest('.day').querySelector('[data-action="add"]');
        row.remove();
        add.focus();
        changed();
      },
    }, icon('close')),
    err);
  return row;
}

function addWindow(windows, label, start, end) {
  const r = windowRow(windows, label, start, end);
  windows.append(r);
  return r;
}

function copyPanel(day) {
  const key = day.dataset.day;
  const label = text.days[key];
  const boxes = DAYS.filter((d) => d !== key).map((d) => {
    const box = h('input', { type: 'checkbox', value: d });
    return { d, box, el: h('label', { class: 'check' }, box, text.days[d]) };
  });
  const error = h('span', { class: 'field-error', id: 'copy-err-' + key });
  const opener = day.querySelector('[data-action="copy"]');
  const close = () => { panel.remove(); opener.setAttribute('aria-expanded', 'false'); opener.focus(); resize(); };
  const apply = () => {
    const to = boxes.filter((b) => b.box.checked).map((b) => b.d);
    if (!to.length) { error.textContent = text.copyNone; boxes[0].box.focus(); return; }
    const hours = [...day.querySelectorAll('.window')].map((w) => [w.querySelector('[data-role=start]').value, w.querySelector('[data-role=end]').value]);
    for (const d of to) {
      const target = $('days').querySelector('.day[data-day="' + d + '"] .windows');
      target.replaceChildren();
      for (const [s, e] of hours) addWindow(target, text.days[d], s, e);
    }
    close();
    show($('banner'), text.copied(label, text.and(to.map((d) => text.days[d]))), 'success');
    changed();
  };
  const panel = h('div', { class: 'copy', role: 'group', 'aria-label': text.copyToLabel(label), 'data-role': 'copy' },
    h('span', { text: text.copyToLabel(label) + ':' }), boxes.map((b) => b.el),
    h('button', { type: 'button', class: 'primary', 'data-action': 'copy-apply', onclick: apply }, text.copy),
    h('button', { type: 'button', 'data-action': 'copy-cancel', onclick: close }, text.cancel), error);
  panel.close = close;
  return panel;
}

function renderDays(rules) {
  $('days').replaceChildren(...DAYS.map((key) => {
    const label = text.days[key];
    const windows = h('div', { class: 'windows' });
    const day = h('div', { class: 'day', 'data-day': key }, h('span', { class: 'name', text: label }), windows,
      h('div', { class: 'row' },
        h('button', {
          type: 'button', 'data-action': 'add',
          onclick: () => { addWindow(windows, label).querySelector('input').focus(); resize(); },
        }, icon('plus'), text.addHours),
        h('button', {
          type: 'button', 'data-action': 'copy', 'aria-expanded': 'false',
          onclick: (e) => {
            const open = day.querySelector('.copy');
            if (open) { open.close(); return; }
            const panel = copyPanel(day);
            day.append(panel);
            e.currentTarget.setAttribute('aria-expanded', 'true');
            panel.querySelector('input').focus();
            resize();
          },
        }, text.copyTo)));
    for (const r of rules) if (r.days.includes(key)) addWindow(windows, label, r.start, r.end);
    return day;
  }));
}

// summary says the week in words: "Monday 09:00–17:00; Tuesday from 22:00
// to 06:00 the next day. No hours on Saturday and Sunday."
function summary() {
  const parts = [];
  const none = [];
  // Days in a row with the same hours are said once: "Monday to Friday 09:00–17:00".
  let run = null;
  const flush = () => {
    if (run) parts.push(text.dayHours(run.first === run.last ? run.first : text.dayRange(run.first, run.last), run.list));
    run = null;
  };
  for (const day of $('days').querySelectorAll('.day')) {
    const label = text.days[day.dataset.day];
    const list = [...day.querySelectorAll('.window')]
      .map((w) => inWords(w.querySelector('[data-role=start]').value, w.querySelector('[data-role=end]').value)).filter(Boolean);
    if (!list.length) { flush(); none.push(label); continue; }
    if (run && run.list.join('|') === list.join('|')) { run.last = label; continue; }
    flush();
    run = { first: label, last: label, list };
  }
  flush();
  const s = (parts.length ? parts.join('; ') + t('common.fullStop') + ' ' : '') + (none.length && parts.length ? text.noHours(text.and(none)) : '');
  if ($('summary').textContent !== s.trim()) $('summary').textContent = s.trim();
}

// --- exceptions over date ranges ------------------------------------

const addDay = (date, n) => {
  const d = new Date(date + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
};

function exceptionRow(x = { from: '', to: '', off: true, start: '', end: '' }) {
  const id = uid();
  const err = h('span', { class: 'field-error', id: 'xerr-' + id });
  const field = (label, input) => h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input);
  const from = h('input', { type: 'date', id: 'xfrom-' + id, 'data-role': 'date', 'aria-describedby': err.id, value: x.from });
  const to = h('input', { type: 'date', id: 'xto-' + id, 'data-role': 'to', 'aria-describedby': err.id, value: x.to && x.to !== x.from ? x.to : '' });
  const kind = h('select', { id: 'xkind-' + id, 'data-role': 'kind' },
    h('option', { value: 'off', text: text.offAllDay }), h('option', { value: 'window', text: text.otherHours }));
  kind.value = x.off ? 'off' : 'window';
  const time = (which, value) => h('input', {
    type: 'text', id: 'x' + which + '-' + id, inputmode: 'numeric', maxlength: 5, placeholder: which === 'start' ? '09:00' : '17:00',
    'data-role': which, 'aria-describedby': err.id, value: value || '',
  });
  const start = time('start', x.start);
  const end = time('end', x.end);
  const times = h('div', { class: 'row' }, field(text.start, start), field(text.end, end));
  const sync = () => { times.hidden = kind.value === 'off'; resize(); };
  kind.addEventListener('change', sync);
  sync();
  const row = h('div', { class: 'exception', 'data-role': 'exception' },
    field(text.from, from), field(text.to, to), field(text.kind, kind), times,
    h('button', {
      type: 'button', class: 'subtle icon', 'aria-label': text.removeException,
      onclick: () => { row.remove(); $('add-exception').focus(); changed(); },
    }, icon('close')), err);
  return row;
}

// groupExceptions turns the stored one-per-day exceptions into ranges of
// consecutive days that are alike.
function groupExceptions(list) {
  const sorted = [...list].sort((a, b) => a.date.localeCompare(b.date));
  const out = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last && addDay(last.to, 1) === x.date && last.off === x.off && (last.start || '') === (x.start || '') && (last.end || '') === (x.end || '')) {
      last.to = x.date;
    } else {
      out.push({ from: x.date, to: x.date, off: x.off, start: x.start || '', end: x.end || '' });
    }
  }
  return out;
}

// --- reading the form ------------------------------------------------

class FormError extends Error {
  constructor(input, row, message) {
    super(message);
    this.input = input;
    this.row = row;
  }
}

// collect reads the form into the API's shape. Ranges become one
// exception per day, as the schedule stores them.
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
  const exceptions = [];
  exceptionRows = [];
  for (const row of $('exceptions').children) {
    const from = row.querySelector('[data-role=date]').value;
    const to = row.querySelector('[data-role=to]').value || from;
    const off = row.querySelector('[data-role=kind]').value === 'off';
    if (!from) throw new FormError(row.querySelector('[data-role=date]'), row, text.noDate);
    if (to < from) throw new FormError(row.querySelector('[data-role=to]'), row, text.toBeforeFrom);
    for (let d = from; d <= to; d = addDay(d, 1)) {
      const x = { date: d, off };
      if (!off) Object.assign(x, { start: norm(row.querySelector('[data-role=start]').value), end: norm(row.querySelector('[data-role=end]').value) });
      exceptions.push(x);
      exceptionRows.push(row);
      if (exceptions.length > 366) {
        let n = exceptions.length;
        for (let e = addDay(d, 1); e <= to; e = addDay(e, 1)) n++;
        throw new FormError(row.querySelector('[data-role=to]'), row, text.tooManyDays(n));
      }
    }
  }
  return {
    timezone: chosen, enabled: $('enabled').checked,
    rules: [...groups.values()].map((g) => g.rule), exceptions,
  };
}

function clearErrors() {
  for (const n of document.querySelectorAll('[aria-invalid]')) n.removeAttribute('aria-invalid');
  for (const n of document.querySelectorAll('.field-error')) n.textContent = '';
}

function markRow(row, input, message) {
  input.setAttribute('aria-invalid', 'true');
  row.querySelector('.field-error').textContent = message;
  input.focus();
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
    markRow(rows[0], rows[0].querySelector('[data-role=' + role + ']'), message);
    return true;
  }
  if ((m = /^exceptions\[(\d+)\](?:\.(date|start|end))?$/.exec(field)) && exceptionRows[Number(m[1])]) {
    const row = exceptionRows[Number(m[1])];
    markRow(row, row.querySelector('[data-role=' + (m[2] || 'date') + ']'), message);
    return true;
  }
  return false;
}

// --- preview ---------------------------------------------------------

let previewTimer = 0;
let previewSeq = 0;
let lastPreview = null;

// Until the preview follows the latest edit it is marked aria-busy: it
// still shows the switches of the edits before.
function previewSoon() {
  clearTimeout(previewTimer);
  $('preview').setAttribute('aria-busy', 'true');
  previewTimer = setTimeout(preview, 400);
}

function changed() {
  summary();
  previewSoon();
}

async function preview() {
  // Called directly (saving), it reads the latest edits: none is pending.
  clearTimeout(previewTimer);
  previewTimer = 0;
  let body;
  try {
    body = collect();
  } catch {
    return renderPreview(null);
  }
  if (!body.timezone) return renderPreview(null);
  const seq = ++previewSeq;
  try {
    const p = await api('POST', 'api/v1/me/schedule/preview?days=14', body);
    if (seq === previewSeq) renderPreview(p);
    return p;
  } catch {
    if (seq === previewSeq) renderPreview(null);
    return null;
  }
}

function renderPreview(p) {
  lastPreview = p;
  $('preview').hidden = false;
  if (!previewTimer) $('preview').removeAttribute('aria-busy');
  const tz = p ? p.timezone : chosen;
  if (!p) {
    $('preview-note').textContent = text.previewWaiting;
    $('switches').replaceChildren();
    $('no-switches').hidden = true;
    return;
  }
  $('preview-note').textContent = p.enabled ? text.previewNow(p.onlineNow) + (p.truncated ? ' ' + text.previewMore : '') : '';
  $('no-switches').hidden = p.switches.length > 0;
  $('no-switches').textContent = p.enabled ? text.previewNone : text.previewOff;
  $('switches').replaceChildren(...p.switches.map((s) => h('li', { 'data-online': String(s.online), text: text.previewLine(text.previewWhen(s.at, tz), s.online) })));
  resize();
}

// savedMessage says what saving changed now: nothing. The schedule acts
// from its next switch (SaveSchedule plans it and switches nobody).
function savedMessage(p) {
  if (!p || !p.enabled) return text.savedOff;
  const next = p.switches[0];
  if (!next) return p.onlineNow ? text.savedAlwaysOn : text.savedNever;
  const at = text.at(next.at, p.timezone);
  return p.onlineNow ? text.savedInside(at) : text.savedOutside(at);
}

function render(s) {
  setZone(s.timezone);
  $('enabled').checked = Boolean(s.enabled);
  renderDays(s.rules || []);
  $('exceptions').replaceChildren(...groupExceptions(s.exceptions || []).map(exceptionRow));
  summary();
}

// --- wiring ------------------------------------------------------------

$('timezone').addEventListener('input', () => { active = -1; renderList(); });
$('timezone').addEventListener('focus', () => $('timezone').select());
$('timezone').addEventListener('keydown', zoneKeys);
$('timezone').addEventListener('blur', () => {
  // Leaving the field keeps a zone typed in full, else the one chosen.
  const typed = zoneByName($('timezone').value.trim().replace(/ /g, '_'));
  if (typed && typed.name !== chosen) choose(typed.name);
  else { $('timezone').value = chosen; closeList(); }
});
$('form').addEventListener('input', (e) => { if (e.target.id !== 'timezone') changed(); });
$('form').addEventListener('change', (e) => { if (e.target.id !== 'timezone') changed(); });
$('add-exception').addEventListener('click', () => {
  const row = exceptionRow();
  $('exceptions').append(row);
  row.querySelector('input').focus();
  resize();
});
$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  show($('banner'), '');
  let body;
  try {
    body = collect();
  } catch (e) {
    if (!(e instanceof FormError)) throw e;
    markRow(e.row, e.input, e.message);
    show($('banner'), text.correct, 'error');
    return;
  }
  await busy($('save'), async () => {
    try {
      const saved = await api('PUT', 'api/v1/me/schedule', body);
      render(saved);
      show($('banner'), savedMessage(await preview()), 'success');
    } catch (e) {
      if (e.field && showFieldError(e.field, sentence({ message: e.detail }))) show($('banner'), text.correct, 'error');
      else show($('banner'), sentence(e, text.fieldLabels), 'error');
    }
  });
});
// Escape closes an open list or copy panel first, then the dialog.
closeOnEscape((e) => {
  if (!$('tz-list').hidden) { closeList(); $('timezone').value = chosen; return true; }
  const panel = e.target.closest && e.target.closest('.copy');
  if (panel) { panel.close(); return true; }
  return false;
});

initPage();
try {
  // Someone without a schedule is offered one in their Jira time zone, else
  // in this browser's (handlers.Schedules.Get).
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  const [list, s] = await Promise.all([apiRevalidated('api/v1/timezones'), api('GET', 'api/v1/me/schedule?tz=' + encodeURIComponent(here))]);
  zones = list.zones;
  render(s);
  $('form').hidden = false;
  await preview();
} catch (e) {
  if (e.status === 404 && e.code === 'not_found') {
    document.body.dataset.unavailable = 'true';
    show($('banner'), text.unavailable, 'warning');
  } else {
    show($('banner'), sentence(e, text.fieldLabels), 'error');
  }
}
resize();
