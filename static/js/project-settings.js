// The project settings tab: widget on/off, the offline message, the sites
// allowed to show the widget, the widget id (rotation) and the snippet.
import { api, initPage, resize, query, show, busy, sentence, BASE } from './connect.js';

// Every string people read, in one place for translation.
const text = {
  forProject: (key) => ' for ' + key,
  defaultHelp: (m) => 'Leave empty for the default: “' + m + '”',
  readOnly: (key) => 'Only administrators of project ' + key + ' can change these settings; you see them as they are. Ask one of them (Project settings → People) for a change.',
  saved: 'Saved.',
  correct: 'Please correct the field marked below.',
  line: (n) => 'Line ' + n + ': ',
  rotated: 'The widget has a new id. Update the snippet on every site.',
  copied: 'Copied.',
  selected: 'Selected: press Ctrl+C (⌘C) to copy.',
  fieldLabels: { unavailableMessage: 'The message', allowedOrigins: 'The site', widgetEnabled: 'The on/off switch' },
};

const $ = (id) => document.getElementById(id);
const key = query.get('project') || '';
const path = 'api/v1/projects/' + encodeURIComponent(key);
let lines = [];

function render(s) {
  $('enabled').checked = s.widgetEnabled;
  $('message').value = s.unavailableMessage;
  $('message-help').textContent = text.defaultHelp(s.defaultMessage);
  $('origins').value = s.allowedOrigins.join('\n');
  $('widget-id').textContent = s.widgetId;
  $('snippet').value = '<script src="' + new URL('static/widget.js', BASE).href + '" data-widget="' + s.widgetId + '" async></' + 'script>';
  // Agents who are not its administrators see the settings, read-only,
  // and who may change them.
  const ro = s.canEdit === false;
  $('readonly').hidden = !ro;
  $('readonly').textContent = ro ? text.readOnly(key) : '';
  $('enabled').disabled = ro;
  $('message').readOnly = ro;
  $('origins').readOnly = ro;
  $('save-row').hidden = ro;
  $('rotate-row').hidden = ro;
  resize();
}

function clearErrors() {
  for (const f of ['message', 'origins']) {
    $(f).removeAttribute('aria-invalid');
    $(f + '-error').textContent = '';
  }
}

function fieldError(e) {
  const m = /^(unavailableMessage|allowedOrigins)(?:\[(\d+)\])?$/.exec(e.field);
  if (!m) return false;
  const f = m[1] === 'unavailableMessage' ? 'message' : 'origins';
  const where = m[2] !== undefined ? text.line(lines[Number(m[2])] + 1) : '';
  $(f).setAttribute('aria-invalid', 'true');
  $(f + '-error').textContent = where + sentence({ message: e.detail });
  $(f).focus();
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
