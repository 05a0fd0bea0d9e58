// Shared by the pages: Connect tokens, the app's API, Jira users, live
// updates, theme, the user's locale and a tiny DOM builder. No framework,
// no build step. Wording and formatting for the locale are in i18n.js (a
// cycle of imports: i18n.js reads locale() from here, only when called).
import { sentence, t } from './i18n.js';

/** The app's base URL: this file is {base}/static/js/connect.js. */
export const BASE = new URL('../../', import.meta.url);

/** The page's query (project=…, serviceDeskId=…). Never log it: it holds the page's jwt. */
export const query = new URLSearchParams(location.search);

/** An error answered by the API: {"error":{"code","message"}}. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    // invalid_field messages start with the field's path: "rules[0].start: …",
    // "translations.pt-BR.online: …".
    const m = code === 'invalid_field' && /^([A-Za-z]+(?:\[\d+\])?(?:\.[A-Za-z][A-Za-z-]*(?:\[\d+\])?)*): (.*)$/s.exec(message);
    this.field = m ? m[1] : '';
    this.detail = m ? m[2] : message;
  }
}

let cached = null;

let userLocale = null;

/**
 * locale is the user's locale as a BCP 47 tag ("en-GB", "pt-BR"): Jira's
 * loc, which Connect puts on every page URL, else AP.user.getLocale, else
 * the browser's. (The Forge host adapter answers the context's locale.)
 */
export function locale() {
  if (!userLocale) {
    userLocale = new Promise((resolve) => {
      const done = (tag) => resolve(String(tag || navigator.language || 'en').replace(/_/g, '-'));
      if (query.get('loc')) { done(query.get('loc')); return; }
      try {
        if (window.AP && AP.user && AP.user.getLocale) {
          // An old host may never answer: the browser's after a second.
          setTimeout(() => done(''), 1000);
          AP.user.getLocale(done);
          return;
        }
      } catch { /* not in Jira */ }
      done('');
    });
  }
  return userLocale;
}

/** token returns a context token from Jira (AP.context.getToken), reused until shortly before it expires. */
export async function token() {
  if (cached && cached.exp - 30_000 > Date.now()) return cached.token;
  const tok = await new Promise((resolve, reject) => {
    if (!window.AP || !AP.context || !AP.context.getToken) {
      reject(new ApiError(0, 'no_connect', 'The page must be opened from Jira.'));
      return;
    }
    AP.context.getToken(resolve);
  });
  let exp = Date.now() + 60_000;
  try {
    exp = JSON.parse(atob(tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp * 1000;
  } catch { /* keep the short default */ }
  cached = { token: tok, exp };
  return tok;
}

/** api calls the app's API with a fresh context token and returns the decoded answer. */
export async function api(method, path, body) {
  const data = await request(method, path, body, {});
  if (method !== 'GET' && /^\/?api\/v1\/me\/status/.test(path)) statusChannel().postMessage('changed');
  return data;
}

let channel = null;
// statusChannel links the app's frames in this browser (the dialog and the
// background script are frames of one origin): a change made in one is
// told to the others.
function statusChannel() {
  if (!channel) channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('agent-presence:status') : { postMessage() {}, addEventListener() {} };
  return channel;
}

/** onStatusChanged calls fn when another of the app's frames changed the user's status. */
export function onStatusChanged(fn) {
  statusChannel().addEventListener('message', () => fn());
}

const flagActions = new Map(); // action identifier → onClick
let flagEvents = false;

/**
 * flag shows a Jira flag (AP.flag.create) until it is closed:
 * {id, title, description, type, actions: [{text, onClick}]}; it returns
 * {close()}. Jira tells the action clicked by its identifier, which names
 * the flag and the action.
 */
export function flag({ id, title = '', description = '', type = 'info', actions = [] }) {
  const ids = {};
  actions.forEach((a, i) => {
    const key = id + '-' + i;
    ids[key] = a.text;
    flagActions.set(key, a.onClick);
  });
  let f = null;
  try {
    if (!flagEvents) {
      flagEvents = true;
      AP.events.on('flag.action', (d) => { const fn = d && flagActions.get(d.actionIdentifier); if (fn) fn(); });
    }
    f = AP.flag.create({ title, body: description, type, close: 'manual', actions: ids });
  } catch { /* not in Jira */ }
  return {
    close() {
      for (const key of Object.keys(ids)) flagActions.delete(key);
      try { if (f) f.close(); } catch { /* gone */ }
    },
  };
}

/**
 * apiRevalidated reads an answer that is the same for everyone and carries
 * an ETag (GET /api/v1/timezones): the browser keeps it and asks again
 * with If-None-Match, which costs a 304.
 */
export async function apiRevalidated(path) {
  return request('GET', path, undefined, { cache: 'no-cache' });
}

/** apiBlob fetches a file (the CSV export) with a token in a header, never in the URL. */
export async function apiBlob(path) {
  return (await request('GET', path, undefined, { raw: true })).blob();
}

const tags = new Map(); // path → {etag, data}, for apiIfChanged

/**
 * apiIfChanged polls path with the ETag of its last answer and returns
 * {data, changed}: changed is false when the server answered 304.
 */
export async function apiIfChanged(path) {
  const last = tags.get(path);
  const headers = last ? { 'If-None-Match': last.etag } : {};
  const res = await request('GET', path, undefined, { headers, raw: true });
  // date is the service's clock (its Date header), against which the
  // deadlines of an answer are read.
  const date = Date.parse(res.headers.get('Date') || '') || 0;
  if (res.status === 304 && last) return { data: last.data, changed: false, date };
  const data = await res.json();
  const etag = res.headers.get('ETag');
  if (etag) tags.set(path, { etag, data });
  return { data, changed: true, date };
}

async function request(method, path, body, { cache = 'no-store', headers: extra = {}, raw = false }, retried = false) {
  // The server words its messages in the user's language.
  const headers = { Authorization: 'JWT ' + (await token()), Accept: 'application/json', 'Accept-Language': await locale(), ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(new URL(path, BASE), {
      method, headers, cache, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The app cannot be reached. Check the connection and try again.');
  }
  if (res.status === 401 && !retried) {
    // The token expired on the way (a sleeping laptop): once more with a new one.
    cached = null;
    return request(method, path, body, { cache, headers: extra, raw }, true);
  }
  if (raw && (res.ok || res.status === 304)) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw licenseNotice(new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText || 'Request failed'));
  }
  return data;
}

/**
 * licenseNotice puts the server's sentence in place of the page when the
 * site's subscription is not active (402 license_inactive): nothing on the
 * page works until it is renewed, so the page says so and how, with a link
 * to Manage apps when the site is known (Connect's xdm_e, Forge's
 * siteUrl). It returns e, for the caller to throw.
 */
export function licenseNotice(e, site = query.get('xdm_e') || '') {
  if (!e || e.code !== 'license_inactive' || document.getElementById('license-notice')) return e;
  const main = document.querySelector('main') || document.body;
  const manage = /^https?:\/\/[^/]+/.exec(site);
  main.prepend(h('section', { id: 'license-notice', class: 'stack', role: 'alert' },
    h('h1', { text: t('license.title') }),
    h('p', { text: sentence(e) }),
    manage ? h('p', {}, h('a', { id: 'manage-apps', href: manage[0] + '/plugins/servlet/upm', target: '_top', text: t('license.manage') })) : null));
  document.documentElement.dataset.license = 'inactive';
  resize();
  return e;
}

// closed-account stands for every person whose account Atlassian reported
// closed: their data was erased, and the log's events name nobody.
const people = new Map([['closed-account', { name: 'Closed account', avatar: '', unknown: true }]]);

/**
 * users resolves account ids to {name, avatar} through Jira
 * (AP.request /rest/api/3/user/bulk), ten ids per request: Jira's page
 * size. Unknown or unreachable users keep their id as name.
 */
export async function users(ids) {
  const missing = [...new Set(ids)].filter((id) => !people.has(id));
  for (let i = 0; i < missing.length; i += 10) {
    const chunk = missing.slice(i, i + 10);
    const q = chunk.map((id) => 'accountId=' + encodeURIComponent(id)).join('&');
    try {
      const res = await AP.request({ url: '/rest/api/3/user/bulk?maxResults=10&' + q, type: 'GET' });
      const page = JSON.parse(typeof res === 'string' ? res : res.body);
      for (const u of page.values || []) {
        const a = u.avatarUrls || {};
        people.set(u.accountId, { name: u.displayName || u.accountId, avatar: a['48x48'] || a['32x32'] || a['24x24'] || '' });
      }
    } catch { /* names are a nicety; ids will do */ }
    for (const id of chunk) if (!people.has(id)) people.set(id, { name: id, avatar: '', unknown: true });
  }
  return new Map(ids.map((id) => [id, people.get(id)]));
}

/**
 * live keeps a page current: Server-Sent Events from /api/v1/events while
 * they deliver, else polling. onPresence gets each presence event (the
 * counts of the user's projects and of project); refresh is called on each
 * poll. html[data-live] says which is in use.
 *
 * The page keeps what it shows while the stream reconnects. The server
 * sends a keepalive event every 25 s (handlers/sse.go): a stream silent for
 * longer than watchMs (a proxy that holds it) is given up. A stream that
 * ends comes back by itself (EventSource, with Last-Event-ID); one that is
 * refused or fails is opened again at once when /healthz says the app is
 * back (a restart behind a proxy that answered 502), else later and later
 * (429: too many streams; 404: not offered), with a fresh token.
 */
export function live({ onPresence, refresh, project = '', pollMs = 15_000, watchMs = 35_000 }) {
  let source = null;
  let streaming = false; // events arrive
  let lastSeen = 0;
  let pollTimer = 0;
  let watchTimer = 0;
  let retryTimer = 0;
  let refused = 0; // streams in a row refused while the app answered
  let attempt = 0; // the current connection attempt; older ones stop
  const mark = (how) => { document.documentElement.dataset.live = how; };
  // spread scales ms by [0.5, 1.5), so that pages do not come back at once.
  const spread = (ms) => Math.min(ms, 15 * 60_000) * (0.5 + Math.random());
  const poll = () => {
    clearInterval(pollTimer);
    mark('poll');
    pollTimer = setInterval(() => { if (!document.hidden) refresh(); }, pollMs);
  };
  const seen = () => {
    lastSeen = Date.now();
    refused = 0;
    if (!streaming) {
      streaming = true;
      clearInterval(pollTimer);
      mark('sse');
    }
  };
  const stop = () => {
    clearTimeout(watchTimer);
    clearTimeout(retryTimer);
    if (source) source.close();
    source = null;
    streaming = false;
  };
  const watch = () => {
    clearTimeout(watchTimer);
    const idle = Date.now() - lastSeen;
    if (idle >= watchMs) broken();
    else watchTimer = setTimeout(watch, watchMs - idle);
  };
  // broken: refused (401 with an old token, 429, 404, a proxy's 502),
  // failed, or silent. Poll meanwhile and find out whether the app is up.
  const broken = async () => {
    stop();
    const mine = ++attempt;
    poll();
    refresh();
    cached = null; // a new token for the next try
    let down = 0;
    for (;;) {
      let up = false;
      try {
        up = (await fetch(new URL('healthz', BASE), { cache: 'no-store' })).ok;
      } catch { /* unreachable */ }
      if (mine !== attempt) return;
      if (up) break;
      // Every second or two at first (a restart takes seconds), then less.
      await new Promise((r) => { retryTimer = setTimeout(r, spread(Math.min(1000 * 1.2 ** down++, 30_000))); });
    }
    // Back after being down: at once. Up all along: the stream was refused;
    // the first retry is at once too (for a token that had just expired,
    // or a new install), then later and later.
    const wait = down > 0 || refused === 0 ? spread(500) : spread(4000 * 4 ** (refused - 1));
    refused++;
    retryTimer = setTimeout(connect, wait);
  };
  const connect = async () => {
    stop();
    const mine = ++attempt;
    let tok;
    try { tok = await token(); } catch { poll(); return; }
    if (mine !== attempt) return;
    const q = new URLSearchParams({ jwt: tok });
    if (project) q.set('project', project);
    const src = source = new EventSource(new URL('api/v1/events?' + q, BASE));
    lastSeen = Date.now();
    watch();
    src.addEventListener('presence', (ev) => {
      if (src !== source) return;
      seen();
      try { onPresence(JSON.parse(ev.data)); } catch { /* a bad event is skipped */ }
    });
    src.addEventListener('keepalive', () => { if (src === source) seen(); });
    src.addEventListener('error', () => {
      if (src !== source) return;
      if (src.readyState === EventSource.CLOSED) { broken(); return; }
      // Ended: EventSource reconnects by itself, with Last-Event-ID.
      if (streaming) {
        streaming = false;
        poll();
      }
    });
  };
  poll();
  connect();
}

/** heartbeat tells the app the user is active, every minute while the page is visible. */
export function heartbeat() {
  const beat = () => { if (!document.hidden) api('POST', 'api/v1/me/heartbeat').catch(() => {}); };
  beat();
  setInterval(beat, 60_000);
  document.addEventListener('visibilitychange', beat);
}

/** initPage asks Jira for its colour mode (AP.theming) and for a fitting height. */
export function initPage() {
  try { window.AP && AP.theming && AP.theming.initializeTheming(); } catch { /* light it is */ }
  resize();
}

/** closeDialog closes the Jira dialog the page is in (AP.dialog.close). */
export function closeDialog() {
  try { window.AP && AP.dialog && AP.dialog.close(); } catch { /* not in a dialog */ }
}

/** openDialog opens one of the app's dialog modules by key (AP.dialog.create). */
export function openDialog(key) {
  try { window.AP && AP.dialog && AP.dialog.create({ key, chrome: true }); } catch { /* not in Jira */ }
}

/**
 * closeOnEscape lets Escape close the dialog from inside the frame, where
 * Jira's own handler does not hear it. handled(event) returns true when
 * the page used that Escape itself (closing a list or a confirmation).
 */
export function closeOnEscape(handled = () => false) {
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented) return;
    if (handled(e)) { e.preventDefault(); return; }
    closeDialog();
  });
}

/**
 * busy runs action while the buttons say they are busy. They are marked
 * aria-disabled rather than disabled, so that the one that was clicked
 * keeps the keyboard focus (a disabled button drops it to the page body);
 * clicks on a busy button are ignored. If the focus fell to the body all
 * the same (the button was removed), it goes to fallback.
 */
export async function busy(buttons, action, fallback) {
  const list = [].concat(buttons).filter(Boolean);
  if (list.some((b) => b.dataset.busy)) return undefined;
  for (const b of list) { b.dataset.busy = 'true'; b.setAttribute('aria-disabled', 'true'); }
  const had = document.activeElement;
  try {
    return await action();
  } finally {
    for (const b of list) { delete b.dataset.busy; b.removeAttribute('aria-disabled'); }
    if (!document.activeElement || document.activeElement === document.body) {
      const shown = (el) => el && el.isConnected && el.getClientRects().length > 0 && !el.disabled;
      const to = [had, fallback, ...list].find(shown);
      if (to) to.focus();
    }
  }
}

/** resize asks Jira to fit the iframe to the content. */
export function resize() {
  try { window.AP && AP.resize && AP.resize(); } catch { /* not framed */ }
}

/**
 * h builds an element: h('li', {class: 'x', onclick: fn, 'aria-label': 'y'}, child…).
 * Text is always set as text, never parsed as HTML.
 */
export function h(tag, props, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else if (k === 'class') n.className = v;
    else if (k === 'text') n.textContent = v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) if (kid != null && kid !== false) n.append(kid);
  return n;
}

/** icon returns one of the trusted inline SVG icons below, coloured by currentColor. */
export function icon(name) {
  const t = document.createElement('template');
  t.innerHTML = ICONS[name];
  const svg = t.content.firstElementChild;
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  return svg;
}

const ICONS = {
  door: '<svg viewBox="0 0 16 16"><path fill="currentColor" d="M3 1h7a1 1 0 0 1 1 1v2H9.5V2.5h-5v11h5V12H11v2a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V2a1 1 0 0 1 1-1Zm9.3 4.3 2.7 2.7-2.7 2.7-1-1 1-1H7V6.7h5.3l-1-1 1-1.4Z"/></svg>',
  close: '<svg viewBox="0 0 16 16"><path fill="currentColor" d="m4 3 4 4 4-4 1 1-4 4 4 4-1 1-4-4-4 4-1-1 4-4-4-4z"/></svg>',
  plus: '<svg viewBox="0 0 16 16"><path fill="currentColor" d="M7 3h2v4h4v2H9v4H7V9H3V7h4z"/></svg>',
};

/** show puts a message into a banner element; kind is '', 'error', 'success' or 'warning'. */
export function show(el, text, kind = '') {
  el.className = 'banner' + (kind ? ' ' + kind : '');
  el.textContent = text || '';
}
