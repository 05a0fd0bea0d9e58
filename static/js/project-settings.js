// The project settings tab: widget on/off, the offline and online
// messages, the chat link, the messages in other languages, the sites
// allowed to show the widget, the widget id (rotation) and the snippet.
import { api, initPage, resize, query, h, show, busy, BASE } from './connect.js';
import { loadText, t, language, sentence } from './i18n.js';

await loadText();

// Every string people read, in one place: the words of the user's
// language (static/i18n/<lang>.json), with their values.
const text = {
  forProject: (key) => t('settings.forProject', { key }),
  defaultHelp: (m) => t('settings.defaultHelp', { message: m }),
  chatUrlHelp: (url) => (url ? t('settings.chatUrlHelp', { url }) : t('settings.chatUrlHelpNoForm')),
  languageName: (tag) => {
    let name = tag;
    try { name = new Intl.DisplayNames([language()], { type: 'language' }).of(tag) || tag; } catch { /* the tag will do */ }
    return name.charAt(0).toLocaleUpperCase(language()) + name.slice(1);
  },
  languageSummary: (name, n) => (n ? t('settings.languageSet', { language: name, n }) : name),
  unavailableIn: t('settings.unavailableIn'),
  onlineIn: t('settings.onlineIn'),
  readOnly: (key) => t('settings.readOnly', { key }),
  saved: t('settings.saved'),
  correct: t('settings.correct'),
  line: (n) => t('settings.line', { n }),
  rotated: t('settings.rotated'),
  copied: t('settings.copied'),
  selected: t('settings.selected'),
  fieldLabels: {
    unavailableMessage: t('settings.labelMessage'), onlineMessage: t('settings.labelOnlineMessage'), chatUrl: t('settings.labelChatUrl'),
    allowedOrigins: t('settings.labelSite'), widgetEnabled: t('settings.labelEnabled'), translations: t('settings.labelTranslations'),
  },
};

const $ = (id) => document.getElementById(id);
const key = query.get('project') || '';
const path = 'api/v1/projects/' + encodeURIComponent(key);
let lines = [];
let languages = [];

// translationFields builds, per language, its two messages in a
// disclosure that says how many are set.
function translationFields(s) {
  languages = s.languages || [];
  $('translations').replaceChildren(...languages.map((tag) => {
    const tr = (s.translations || {})[tag] || {};
    const id = 'tr-' + tag;
    const area = (which, value, label) => {
      const el = h('textarea', { id: id + '-' + which, maxlength: 1000, rows: 2, lang: tag, 'data-lang': tag, 'data-which': which,
        'aria-describedby': id + '-' + which + '-error' });
      el.value = value || '';
      return h('div', { class: 'field' }, h('label', { for: el.id, text: label }), el,
        h('span', { id: id + '-' + which + '-error', class: 'field-error' }));
    };
    const n = [tr.unavailable, tr.online].filter(Boolean).length;
    const name = text.languageName(tag);
    return h('details', { 'data-lang': tag, open: n > 0 },
      h('summary', { text: text.languageSummary(name, n) }),
      h('div', { class: 'stack' }, area('unavailable', tr.unavailable, text.unavailableIn), area('online', tr.online, text.onlineIn)));
  }));
}

function readTranslations() {
  const out = {};
  for (const el of $('translations').querySelectorAll('textarea')) {
    const tag = el.dataset.lang;
    out[tag] = out[tag] || { unavailable: '', online: '' };
    out[tag][el.dataset.which] = el.value;
  }
  return out;
}

function render(s) {
  $('enabled').checked = s.widgetEnabled;
  $('message').value = s.unavailableMessage;
  $('message-help').textContent = text.defaultHelp(s.defaultMessage);
  $('online-message').value = s.onlineMessage || '';
  $('online-message-help').textContent = text.defaultHelp(s.defaultOnlineMessage || '');
  $('chat-url').value = s.chatUrl || '';
  $('chat-url-help').textContent = text.chatUrlHelp(s.defaultChatUrl);
  translationFields(s);
  $('origins').value = s.allowedOrigins.join('\n');
  $('widget-id').textContent = s.widgetId;
  $('snippet').value = '<script src="' + new URL('static/widget.js', BASE).href + '" data-widget="' + s.widgetId + '" async></' + 'script>';
  // Agents who are not its administrators see the settings, read-only,
  // and who may change them.
  const ro = s.canEdit === false;
  $('readonly').hidden = !ro;
  $('readonly').textContent = ro ? text.readOnly(key) : '';
  $('enabled').disabled = ro;
  for (const el of [$('message'), $('online-message'), $('chat-url'), $('origins'), ...$('translations').querySelectorAll('textarea')]) el.readOnly = ro;
  $('save-row').hidden = ro;
  $('rotate-row').hidden = ro;
  // Shown once the settings are in: Save on an empty form would store it
  // over them.
  $('form').hidden = false;
  $('widget').hidden = false;
  resize();
}

function clearErrors() {
  for (const el of document.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of document.querySelectorAll('.field-error')) el.textContent = '';
}

function mark(input, message) {
  const details = input.closest('details');
  if (details) details.open = true;
  input.setAttribute('aria-invalid', 'true');
  $(input.getAttribute('aria-describedby').split(' ').pop()).textContent = message;
  input.focus();
  resize();
}

// fieldError puts the API's message beside the input its field names.
function fieldError(e) {
  const plain = { unavailableMessage: 'message', onlineMessage: 'online-message', chatUrl: 'chat-url' }[e.field];
  if (plain) {
    mark($(plain), sentence({ message: e.detail }));
    return true;
  }
  const tr = /^translations\.([A-Za-z-]+)\.(unavailable|online)$/.exec(e.field || '');
  if (tr && $('tr-' + tr[1] + '-' + tr[2])) {
    mark($('tr-' + tr[1] + '-' + tr[2]), sentence({ message: e.detail }));
    return true;
  }
  const m = /^allowedOrigins(?:\[(\d+)\])?$/.exec(e.field || '');
  if (!m) return false;
  const where = m[1] !== undefined ? text.line(lines[Number(m[1])] + 1) : '';
  mark($('origins'), where + sentence({ message: e.detail }));
  return true;
}

$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  const raw = $('origins').value.split('\n');
  const origins = [];
  lines = [];
  raw.forEach((l, i) => { if (l.trim()) { origins.push(l.trim()); lines.push(i); } });
  await busy($('save'), async () => {
    try {
      render(await api('PUT', path + '/settings', {
        widgetEnabled: $('enabled').checked, unavailableMessage: $('message').value, allowedOrigins: origins,
        onlineMessage: $('online-message').value, chatUrl: $('chat-url').value, translations: readTranslations(),
      }));
      show($('banner'), text.saved, 'success');
    } catch (e) {
      show($('banner'), fieldError(e) ? text.correct : sentence(e, text.fieldLabels), 'error');
    }
  });
});

$('rotate').addEventListener('click', () => {
  $('rotate-confirm').hidden = false;
  $('rotate-no').focus();
});
$('rotate-no').addEventListener('click', () => {
  $('rotate-confirm').hidden = true;
  $('rotate').focus();
});
$('rotate-yes').addEventListener('click', () => busy($('rotate-yes'), async () => {
  try {
    render(await api('POST', path + '/widget/rotate'));
    show($('banner'), text.rotated, 'warning');
  } catch (e) {
    show($('banner'), sentence(e, text.fieldLabels), 'error');
  }
  $('rotate-confirm').hidden = true;
  $('rotate').focus();
}));

$('copy').addEventListener('click', async () => {
  const box = $('snippet');
  try {
    await navigator.clipboard.writeText(box.value);
    $('copied').textContent = text.copied;
  } catch {
    box.focus();
    box.select();
    $('copied').textContent = document.execCommand && document.execCommand('copy') ? text.copied : text.selected;
  }
});

initPage();
$('project-key').textContent = key ? text.forProject(key) : '';
try {
  render(await api('GET', path + '/settings'));
} catch (e) {
  show($('banner'), sentence(e, text.fieldLabels), 'error');
  $('form').hidden = true;
}
