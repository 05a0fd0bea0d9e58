// The Forge portal footer (jiraServiceManagement:portalFooter): the chat
// icon online or offline and, while offline, the project's message and
// the portal's login link. The Connect footer is filled in by the server
// and runs widget.js; a Forge page is static, so it asks the app for its
// portal's facts through the bridge (requestRemote, FIT only: visitors may
// be anonymous) and polls with the ETag of the last answer.
import { request, query, initPage } from './forge.js';

// Every string people read, in one place for translation.
const text = {
  online: 'Chat online',
  offline: 'Chat offline',
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
  chat.hidden = false;
  chat.dataset.online = String(s.online);
  $('chat-icon').src = '../static/icons/presence-' + (s.online ? 'online' : 'offline') + '.svg';
  $('chat-state').textContent = s.online ? text.online : text.offline;
  $('chat-message').textContent = s.message || '';
  const login = $('chat-login');
  login.hidden = !s.requiresLogin || !/^https?:\/\//.test(s.loginUrl || '');
  login.href = login.hidden ? '#' : s.loginUrl;
  login.textContent = text.login;
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
