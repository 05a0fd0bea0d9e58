// The Forge host adapter: what connect.js does with Atlassian Connect's AP,
// done with Forge's bridge, so that the same pages run inside Forge (as
// Custom UI resources) unchanged. Pages import './connect.js'; the Forge
// build (forge/build.mjs) and the demo's Forge host resolve that import to
// this file, and this file's './forge-bridge.js' to @forge/bridge (the
// build: forge/bridge.js) or to the demo's stand-in. The Connect pages
// never load it. Everything that is not about the host (h, busy, when…)
// comes from connect.js itself: the exports below replace its host calls.
//
// Calls to the service: invokeRemote (through Forge, with the FIT and the
// app's OAuth tokens, which the service's permission checks of the user
// need) for everything a person does; requestRemote (straight from the
// page, FIT only) for the heartbeat. Live updates: Forge Realtime cannot
// be published from a remote, and the bridge cannot hold an event stream,
// so pages poll, sending the ETag of the last answer (a 304 costs a few
// bytes).
import { view, invokeRemote, requestRemote, requestJira, showFlag, Modal, events, remoteBase } from './forge-bridge.js';
import { ApiError, licenseNotice } from './connect.js';

export * from './connect.js';

/** The Forge context of the page: the user, the site, the module and its extension (project, portal…). */
export const context = await view.getContext().catch(() => ({ extension: {} }));

/** The service's public URL (BASE_URL), which the page cannot learn from its own location. */
export const BASE = new URL(remoteBase());

/** The page's parameters, as Connect passes them in the URL: project=KEY, serviceDeskId=N. */
export const query = (() => {
  const ext = (context && context.extension) || {};
  const q = new URLSearchParams();
  const key = ext.project && ext.project.key;
  if (typeof key === 'string' && key) q.set('project', key);
  const portal = (ext.portal && ext.portal.id) || (ext.request && ext.request.portalId);
  if (portal != null && /^\d{1,18}$/.test(String(portal))) q.set('serviceDeskId', String(portal));
  return q;
})();

/** The remote key of the service in forge/manifest.yml. */
const REMOTE = 'service';

/**
 * locale is the user's locale from the Forge context ("pt-BR", "ja-JP"):
 * the FIT carries none, so every call sends it as Accept-Language.
 */
export async function locale() {
  return String((context && context.locale) || navigator.language || 'en').replace(/_/g, '-');
}

/** token: Forge pages hold no token; the bridge adds the FIT to each call. */
export async function token() {
  throw new ApiError(0, 'no_token', 'Forge pages call the app through the bridge.');
}

const tags = new Map(); // path → {etag, data}: the last answer of each GET

/** The bridge event that tells the app's other pages (the background script) that the user changed their status. */
export const STATUS_CHANGED = 'agent-presence:status-changed';

/** api calls the app's API through invokeRemote and returns the decoded answer. */
export async function api(method, path, body) {
  const { data } = await invoke(method, path, body);
  if (method !== 'GET' && /^\/?api\/v1\/me\/status/.test(path)) events.emit(STATUS_CHANGED, {}).catch(() => {});
  return data;
}

/** onStatusChanged calls fn when one of the app's pages changed the user's status. */
export function onStatusChanged(fn) {
  events.on(STATUS_CHANGED, () => fn()).catch(() => {});
}

/** apiRevalidated reads an answer the same for everyone (GET /api/v1/timezones). */
export async function apiRevalidated(path) {
  return api('GET', path);
}

/** apiIfChanged polls path with the ETag of its last answer: {data, changed}. */
export async function apiIfChanged(path) {
  const { data, changed, date } = await invoke('GET', path);
  return { data, changed, date };
}

/** apiBlob fetches a file (the CSV export) through invokeRemote. */
export async function apiBlob(path) {
  const res = await callRemote('GET', path, undefined, { Accept: 'text/csv, application/json', 'Accept-Language': await locale() });
  if (res.status < 200 || res.status > 299) throw failure(res);
  const b = res.body;
  return new Blob([typeof b === 'string' ? b : JSON.stringify(b)], { type: header(res, 'content-type') || 'text/csv' });
}

async function invoke(method, path, body) {
  const last = method === 'GET' ? tags.get(path) : undefined;
  const headers = { Accept: 'application/json', 'Accept-Language': await locale() };
  if (last) headers['If-None-Match'] = last.etag;
  const res = await callRemote(method, path, body, headers);
  // date: the service's clock (its Date header), for the answer's deadlines.
  const date = Date.parse(header(res, 'date')) || 0;
  if (res.status === 304 && last) return { data: last.data, changed: false, date };
  if (res.status === 204) return { data: null, changed: true, date };
  if (res.status < 200 || res.status > 299) throw failure(res);
  const data = typeof res.body === 'string' && /json/.test(header(res, 'content-type')) ? JSON.parse(res.body) : res.body;
  const etag = method === 'GET' && header(res, 'etag');
  if (etag) tags.set(path, { etag, data });
  return { data, changed: true, date };
}

async function callRemote(method, path, body, headers) {
  const req = { path: '/' + path.replace(/^\//, ''), method, headers: { ...headers } };
  if (body !== undefined) {
    req.headers['Content-Type'] = 'application/json';
    req.body = body;
  }
  try {
    return await invokeRemote(req);
  } catch {
    throw new ApiError(0, 'network', 'The app cannot be reached. Check the connection and try again.');
  }
}

function header(res, name) {
  const hs = res.headers || {};
  for (const [k, v] of Object.entries(hs)) if (k.toLowerCase() === name) return String(v);
  return '';
}

function failure(res) {
  let b = res.body;
  if (typeof b === 'string') { try { b = JSON.parse(b); } catch { b = null; } }
  const e = (b && b.error) || {};
  return licenseNotice(new ApiError(res.status, e.code || 'http_' + res.status, e.message || 'Request failed'), context.siteUrl || '');
}

/**
 * request sends one requestRemote call straight from the page (the FIT
 * only, no OAuth token), with the ETag of its last answer for GETs.
 */
export async function request(method, path, body) {
  const last = method === 'GET' ? tags.get('remote:' + path) : undefined;
  const headers = { Accept: 'application/json', 'Accept-Language': await locale() };
  if (last) headers['If-None-Match'] = last.etag;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await requestRemote(REMOTE, { path: '/' + path.replace(/^\//, ''), method, headers,
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'The app cannot be reached. Check the connection and try again.');
  }
  if (res.status === 304 && last) return { data: last.data, changed: false };
  if (res.status === 204) return { data: null, changed: true };
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw licenseNotice(new ApiError(res.status, e.code || 'http_' + res.status, e.message || 'Request failed'), context.siteUrl || '');
  }
  const etag = method === 'GET' && res.headers.get('ETag');
  if (etag) tags.set('remote:' + path, { etag, data });
  return { data, changed: true };
}

// closed-account stands for every person whose account Atlassian reported
// closed: their data was erased, and the log's events name nobody.
const people = new Map([['closed-account', { name: 'Closed account', avatar: '', unknown: true }]]);

/** users resolves account ids to {name, avatar} through Jira as the user (requestJira), ten at a time. */
export async function users(ids) {
  const missing = [...new Set(ids)].filter((id) => !people.has(id));
  for (let i = 0; i < missing.length; i += 10) {
    const chunk = missing.slice(i, i + 10);
    const q = chunk.map((id) => 'accountId=' + encodeURIComponent(id)).join('&');
    try {
      const res = await requestJira('/rest/api/3/user/bulk?maxResults=10&' + q, { headers: { Accept: 'application/json' } });
      const page = await res.json();
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
 * live keeps a page current by polling (html[data-live="poll"]): refresh
 * every pollMs while the page is visible, and at once when it becomes
 * visible again. Its GETs send the last ETag, so an unchanged answer is a
 * 304.
 */
export function live({ refresh, pollMs = 15_000 }) {
  document.documentElement.dataset.live = 'poll';
  setInterval(() => { if (!document.hidden) refresh(); }, pollMs);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
}

/** heartbeat tells the app the user is active, at most every minute while the page is visible (requestRemote). */
export function heartbeat() {
  let last = 0;
  const beat = () => {
    if (document.hidden || Date.now() - last < 55_000) return;
    last = Date.now();
    request('POST', 'api/v1/me/heartbeat').catch(() => {});
  };
  beat();
  setInterval(beat, 60_000);
  document.addEventListener('visibilitychange', beat);
}

/** initPage lets Jira's theme (light, dark) reach the page's design tokens. */
export function initPage() {
  view.theme.enable().catch(() => { /* light it is */ });
}

/** resize: Forge fits Custom UI frames to their content by itself. */
export function resize() {}

/** closeDialog closes the modal the page is in (view.close). */
export function closeDialog() {
  view.close().catch(() => { /* not in a modal */ });
}

/** The Connect dialog modules and the Forge resources that play them in a Modal. */
const DIALOGS = { 'schedule-dialog': 'schedule', 'presence-dialog': 'presence' };

/** openDialog opens one of the app's pages in a Forge Modal. */
export function openDialog(key) {
  const resource = DIALOGS[key];
  if (!resource) return;
  new Modal({ resource, size: 'large', context: { from: context.moduleKey || '' } }).open().catch(() => {});
}

/** closeOnEscape: Escape inside the frame closes what the page opened, then the modal. */
export function closeOnEscape(handled = () => false) {
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented) return;
    if (handled(e)) { e.preventDefault(); return; }
    closeDialog();
  });
}

/**
 * flag shows a Jira flag (showFlag): {id, title, description, appearance,
 * actions: [{text, onClick}]}. It stays until closed.
 */
export function flag(opts) {
  return showFlag({ isAutoDismiss: false, ...opts });
}
