// The project settings tab: widget on/off, the offline message, the sites
// allowed to show the widget, the widget id (rotation) and the snippet.
import { api, initPage, resize, query, show, BASE } from './connect.js';

const $ = (id) => document.getElementById(id);
const key = query.get('project') || '';
const path = 'api/v1/projects/' + encodeURIComponent(key);
let lines = [];

function render(s) {
  $('enabled').checked = s.widgetEnabled;
  $('message').value = s.unavailableMessage;
  $('message-help').textContent = 'Leave empty for the default: “' + s.defaultMessage + '”';
  $('origins').value = s.allowedOrigins.join('\n');
  $('widget-id').textContent = s.widgetId;
  $('snippet').value = '<script src="' + new URL('static/widget.js', BASE).href + '" data-widget="' + s.widgetId + '" async></' + 'script>';
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
  const where = m[2] !== undefined ? 'Line ' + (lines[Number(m[2])] + 1) + ': ' : '';
  $(f).setAttribute('aria-invalid', 'true');
  $(f + '-error').textContent = where + e.detail;
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
  $('save').disabled = true;
  try {
    render(await api('PUT', path + '/settings', {
      widgetEnabled: $('enabled').checked, unavailableMessage: $('message').value, allowedOrigins: origins,
    }));
    show($('banner'), 'Saved.', 'success');
  } catch (e) {
    show($('banner'), fieldError(e) ? 'Please correct the field marked below.' : e.message, 'error');
  } finally {
    $('save').disabled = false;
  }
});

$('rotate').addEventListener('click', () => {
  $('rotate-confirm').hidden = false;
  $('rotate-no').focus();
});
$('rotate-no').addEventListener('click', () => {
  $('rotate-confirm').hidden = true;
  $('rotate').focus();
});
$('rotate-yes').addEventListener('click', async () => {
  try {
    render(await api('POST', path + '/widget/rotate'));
    show($('banner'), 'The widget has a new id. Update the snippet on every site.', 'warning');
  } catch (e) {
    show($('banner'), e.message, 'error');
  }
  $('rotate-confirm').hidden = true;
  $('rotate').focus();
});

$('copy').addEventListener('click', async () => {
  const box = $('snippet');
  try {
    await navigator.clipboard.writeText(box.value);
    $('copied').textContent = 'Copied.';
  } catch {
    box.focus();
    box.select();
    $('copied').textContent = document.execCommand && document.execCommand('copy') ? 'Copied.' : 'Selected: press Ctrl+C (⌘C) to copy.';
  }
});

initPage();
$('project-key').textContent = key ? ' for ' + key : '';
try {
  render(await api('GET', path + '/settings'));
} catch (e) {
  show($('banner'), e.message, 'error');
  $('form').hidden = true;
}
