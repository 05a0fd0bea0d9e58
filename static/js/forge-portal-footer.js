// The Forge portal footer (jiraServiceManagement:portalFooter): the chat
// icon online or offline, in the visitor's language; while online the
// project's online text and chat link, while offline its message and, for
// an anonymous visitor, the portal's login link. The Connect footer is filled in by the server
// and runs widget.js; a Forge page is static, so it asks the app for its
// portal's facts through the bridge (requestRemote, FIT only: visitors may
// be anonymous) and polls with the ETag of the last answer.
import { request, query, initPage } from './forge.js';
import { loadText } from './i18n.js';

await loadText();

// The words are the server's, in the visitor's language (the answer's
// labels, as widget.js shows them); these stand in for an older answer.
const text = {
  online: 'Chat online',
  offline: 'Chat offline',
  chat: 'Start a chat',
  login: 'Log in or register to chat',
};

const pollMs = 10_000;
const $ = (id) => document.getElementById(id);
const desk = query.get('serviceDeskId') || '';

function render(s) {
  const chat = $('chat');
  if (!s || !s.widgetId) {
    chat.hidden = true; // no project, or its widget is switched off
    return;
  }
  const labels = s.labels || {};
  chat.hidden = false;
  chat.dataset.online = String(s.online);
  if (s.lang) chat.lang = s.lang;
  $('chat-icon').src = '../static/icons/presence-' + (s.online ? 'online' : 'offline') + '.svg';
  $('chat-state').textContent = (s.online ? labels.online : labels.offline) || (s.online ? text.online : text.offline);
  $('chat-message').textContent = s.message || '';
  // Offline: when agents are next due online, in the visitor's zone.
  const back = s.online ? '' : backAt(s.nextOnlineAt, labels, s.lang);
  $('chat-back').textContent = back;
  $('chat-back').hidden = !back;
  // Online: the chat link (the project's, or the portal's request form).
  const link = $('chat-link');
  link.hidden = !s.online || !/^https?:\/\//.test(s.chatUrl || '');
  link.href = link.hidden ? '#' : s.chatUrl;
  link.textContent = labels.chat || text.chat;
  // Offline: the login prompt, for anonymous visitors only.
  const login = $('chat-login');
  login.hidden = !s.requiresLogin || !/^https?:\/\//.test(s.loginUrl || '');
  login.href = login.hidden ? '#' : s.loginUrl;
  login.textContent = labels.login || text.login;
}

// backAt words nextOnlineAt as widget.js does: "Back at 09:00", "Back
// Monday at 09:00", on a 24-hour clock.
function backAt(iso, labels, lang) {
  const at = new Date(iso || '');
  if (Number.isNaN(at.getTime()) || !labels.backAt) return '';
  const time = new Intl.DateTimeFormat(lang || undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
  const day = new Intl.DateTimeFormat(lang || undefined, { weekday: 'long' }).format(at);
  return (at.toDateString() === new Date().toDateString() ? labels.backAt : labels.backOn).replace('{time}', time).replace('{day}', day);
}

async function poll() {
  if (document.hidden || !desk) return;
  try {
    const { data, changed } = await request('GET', 'forge/portal-footer?serviceDeskId=' + encodeURIComponent(desk));
    if (changed) render(data);
  } catch { /* keep what is shown; the next poll tells */ }
}

initPage();
await poll();
setInterval(poll, pollMs);
document.addEventListener('visibilitychange', poll);
