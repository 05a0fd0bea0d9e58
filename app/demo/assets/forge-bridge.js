/*
 * A local stand-in for Atlassian's @forge/bridge, served by the demo host
 * only, in the place the Forge build puts the real one (forge/bridge.js).
 * It implements what the pages' Forge host adapter (static/js/forge.js)
 * uses. The page's user, module, extension and locale come from its URL
 * (as=, module=, project=, portal=, locale=): Forge knows them from the
 * host page.
 *
 * invokeRemote goes through the demo host, which calls the app as Forge
 * does (a FIT, the system and the user token); requestRemote calls the app
 * straight from the page with a FIT the demo host mints; requestJira goes
 * to the simulated Jira; flags, modals, closing and the theme are asked of
 * the demo page around the frame.
 */
const params = new URLSearchParams(location.search);
const account = params.get('as') || '';
const moduleKey = params.get('module') || '';
const base = new URL('/', location.href);
const enc = encodeURIComponent;

function post(msg) {
  // Nothing secret travels this way: flags, modal keys, heights, theme.
  if (window.parent !== window) window.parent.postMessage({ forgeDemo: msg.type, ...msg }, location.origin);
}

const extension = { type: params.get('type') || '' };
if (params.get('project')) extension.project = { key: params.get('project') };
if (params.get('portal')) extension.portal = { id: Number(params.get('portal')) };

const context = {
  accountId: account || undefined,
  cloudId: 'demo',
  moduleKey,
  siteUrl: new URL('/demo/jira', base).href,
  locale: params.get('locale') || navigator.language || 'en-US',
  timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  extension,
  environmentType: 'DEVELOPMENT',
};

const flagActions = new Map(); // flag id → [onClick]
const listeners = new Map(); // event name → [callback]
let modeWanted = null;

window.addEventListener('message', (ev) => {
  const m = ev.data;
  if (ev.source !== window.parent || ev.origin !== location.origin || !m) return;
  if (m.forgeDemo === 'theme' && (m.mode === 'light' || m.mode === 'dark')) {
    document.documentElement.setAttribute('data-color-mode', m.mode);
    document.documentElement.setAttribute('data-theme', 'dark:dark light:light');
    if (modeWanted) { modeWanted(); modeWanted = null; }
  }
  if (m.forgeDemo === 'event') {
    for (const fn of listeners.get(m.name) || []) fn(m.payload);
  }
  if (m.forgeDemo === 'flag-action') {
    const fn = (flagActions.get(m.id) || [])[m.index];
    if (fn) fn();
  }
});

// Forge fits Custom UI frames to their content; so does the stand-in.
if (window.ResizeObserver && window.parent !== window) {
  new ResizeObserver(() => post({ type: 'resize', height: Math.ceil(document.documentElement.getBoundingClientRect().height) }))
    .observe(document.documentElement);
}

export const view = {
  getContext: async () => context,
  theme: {
    enable: () => new Promise((resolve) => {
      modeWanted = resolve;
      post({ type: 'theme?' });
      setTimeout(resolve, 500); // not framed by the demo page: light
    }),
  },
  close: async () => post({ type: 'close' }),
  refresh: async () => location.reload(),
};

export async function invokeRemote({ path, method, headers, body }) {
  const r = await fetch(new URL('demo/api/forge/invoke', base), {
    method: 'POST', cache: 'no-store', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ accountId: account, module: moduleKey, path, method, headers: headers || {}, body }),
  });
  if (!r.ok) throw new Error('invokeRemote: ' + r.status);
  return r.json();
}

export async function requestRemote(remoteKey, { path, method = 'GET', headers = {}, body } = {}) {
  if (remoteKey !== 'service') throw new Error('unknown remote ' + remoteKey);
  const t = await fetch(new URL('demo/api/forge/fit?accountId=' + enc(account) + '&module=' + enc(moduleKey), base), { cache: 'no-store' });
  if (!t.ok) throw new Error('requestRemote: no FIT');
  const { token } = await t.json();
  return fetch(new URL(path.replace(/^\//, ''), base), {
    method, body, cache: 'no-store', headers: { ...headers, Authorization: 'Bearer ' + token },
  });
}

export async function requestJira(path) {
  return fetch(new URL('demo/api/jira?accountId=' + enc(account) + '&path=' + enc(path), base), { cache: 'no-store' });
}

export function showFlag({ id, title = '', description = '', type = 'info', appearance, actions = [] }) {
  const key = String(id);
  flagActions.set(key, actions.map((a) => a.onClick));
  post({ type: 'flag', id: key, title, description, kind: appearance || type, actions: actions.map((a) => a.text) });
  return { close: async () => { flagActions.delete(key); post({ type: 'flag-close', id: key }); return true; } };
}

// Events between the app's modules: the demo page passes them on to
// every other frame of the app, as Forge does between an app's modules.
export const events = {
  emit: async (name, payload) => post({ type: 'event', name, payload }),
  on: async (name, fn) => {
    listeners.set(name, [...(listeners.get(name) || []), fn]);
    return { unsubscribe: () => listeners.set(name, (listeners.get(name) || []).filter((f) => f !== fn)) };
  },
};

export class Modal {
  constructor(opts = {}) { this.resource = opts.resource || ''; this.onClose = opts.onClose || (() => {}); }

  async open() { post({ type: 'modal', resource: this.resource }); }
}

/** remoteBase is the app's base URL: the demo serves it on this origin. */
export function remoteBase() {
  return base.href;
}
