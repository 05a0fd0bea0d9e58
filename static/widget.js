/*
 * Agent online status: the chat availability widget.
 *
 *   <script src="https://APP/static/widget.js" data-widget="WIDGET_ID" async></script>
 *
 * Shows the chat icon online or offline: while online the project's online
 * text and its chat link (by default the portal's request form), while
 * offline its message and "Log in or register to chat". The words are the
 * server's, in the visitor's language (the browser's, or data-lang). It
 * lives in a shadow root so the host page's CSS cannot break it, and shows
 * nothing at all when the widget is unknown or switched off, or when this
 * site is not one of the project's allowed sites: the server then answers
 * 404, and the widget stops at that first refusal (no retries, nothing in
 * the console but the browser's own line for the 404).
 *
 * Optional attributes: data-login-url (link of the login prompt),
 * data-lang (the language, e.g. "de"; default: the browser's),
 * data-signed-in="true" (the visitor is logged in: no login prompt),
 * data-target (CSS selector of the element to render into), data-poll
 * (seconds between status checks without live events, 2 to 300).
 *
 * For the site's own chat: the widget's element, <agent-presence-chat>,
 * dispatches "presencechange" (bubbling, so document hears it too) when the
 * state changes, with the state as event.detail: {widgetId, state
 * ("online", "offline" or "unavailable"), online, message, chatUrl,
 * requiresLogin, lang}. The element's data-state attribute and its
 * presence property hold the same; window.AgentPresenceChat.state(widgetId)
 * answers it from anywhere (null before the first answer). A click on the
 * chat link first dispatches "chatopen" (cancelable, same detail): a site
 * that calls preventDefault() opens its own chat instead of the link. It
 * logs nothing and stores nothing.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !script.getAttribute('data-widget') || !window.fetch || !window.URL) return;
  var id = script.getAttribute('data-widget');
  var base = new URL('..', script.src);
  var path = 'public/v1/widgets/' + encodeURIComponent(id) + '/';
  // An explicit language travels as ?lang= (EventSource cannot set
  // Accept-Language); otherwise the browser's Accept-Language chooses.
  var lang = script.getAttribute('data-lang') || '';
  var q = /^[A-Za-z][A-Za-z0-9_-]{1,34}$/.test(lang) ? '?lang=' + encodeURIComponent(lang) : '';
  var statusURL = new URL(path + 'status' + q, base).href;
  var eventsURL = new URL(path + 'events' + q, base).href;
  var login = script.getAttribute('data-login-url') || '';
  if (!/^https?:\/\//i.test(login)) login = '';
  var signedIn = script.getAttribute('data-signed-in') === 'true';
  var registry = window.AgentPresenceChat = window.AgentPresenceChat ||
    { states: {}, state: function (w) { return registry.states[w] || null; } };
  var pollMs = Math.min(300, Math.max(2, Number(script.getAttribute('data-poll')) || 10)) * 1000;
  var targetSel = script.getAttribute('data-target');

  var CSS =
    ':host{all:initial!important;display:block!important;visibility:visible!important;opacity:1!important;' +
    'position:static!important;contain:content!important;color:#172B4D!important;' +
    'font:400 14px/20px ui-sans-serif,-apple-system,BlinkMacSystemFont,"Segoe UI",Ubuntu,system-ui,"Helvetica Neue",sans-serif!important}' +
    ':host([hidden]){display:none!important}' +
    '*{box-sizing:border-box}' +
    '.w{display:flex!important;gap:8px;align-items:flex-start;padding:8px 12px;border-radius:8px;background:#fff;' +
    'border:1px solid #091E4224;box-shadow:0 1px 1px #091E4240,0 0 1px #091E424F;max-width:36em;margin:0;font:inherit;color:inherit}' +
    'svg{display:block!important;width:32px;height:32px;flex:none}' +
    '.t{display:flex!important;flex-direction:column;gap:2px;min-width:0;overflow-wrap:anywhere}' +
    '.s{font-weight:600}' +
    '.m{color:#44546F}' +
    '.b{font-weight:600}' +
    'a{color:#0C66E4;text-decoration:underline;font-weight:500;align-self:flex-start}' +
    'a:focus-visible{outline:2px solid #388BFF;outline-offset:2px;border-radius:2px}' +
    '[hidden]{display:none!important}';

  var host = null;
  var parts = {};
  var shown = false;

  function el(tag, cls, parent) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (parent) parent.appendChild(n);
    return n;
  }

  function build() {
    host = document.createElement('agent-presence-chat');
    host.hidden = true;
    var root = host.attachShadow({ mode: 'open' });
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
      } catch (e) { el('style', '', root).textContent = CSS; }
    } else {
      el('style', '', root).textContent = CSS;
    }
    var w = el('div', 'w', root);
    w.setAttribute('role', 'status');
    w.setAttribute('aria-live', 'polite');
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 32 32');
    svg.setAttribute('aria-hidden', 'true');
    var bubble = document.createElementNS(ns, 'path');
    bubble.setAttribute('d', 'M6 5h20a3 3 0 0 1 3 3v12a3 3 0 0 1-3 3H14l-6 5v-5H6a3 3 0 0 1-3-3V8a3 3 0 0 1 3-3z');
    var dot = document.createElementNS(ns, 'circle');
    dot.setAttribute('cx', '24');
    dot.setAttribute('cy', '8');
    dot.setAttribute('r', '5');
    dot.setAttribute('stroke', '#fff');
    dot.setAttribute('stroke-width', '2');
    svg.appendChild(bubble);
    svg.appendChild(dot);
    w.appendChild(svg);
    var t = el('div', 't', w);
    parts = { bubble: bubble, dot: dot, state: el('span', 's', t), msg: el('span', 'm', t), back: el('span', 'b', t), chat: el('a', 'c', t), login: el(login ? 'a' : 'span', 'l', t) };
    parts.chat.target = '_top';
    parts.chat.rel = 'noopener';
    parts.chat.addEventListener('click', function (e) {
      // The site's own chat may take over: preventDefault() on chatopen.
      if (!host.dispatchEvent(new CustomEvent('chatopen', { bubbles: true, composed: true, cancelable: true, detail: current() }))) e.preventDefault();
    });
    if (login) {
      parts.login.href = login;
      parts.login.target = '_top';
      parts.login.rel = 'noopener';
    }
    var target = null;
    try { target = targetSel ? document.querySelector(targetSel) : null; } catch (e) { target = null; }
    if (target) target.appendChild(host);
    else if (script.parentNode && script.parentNode !== document.head) script.parentNode.insertBefore(host, script.nextSibling);
    else document.body.appendChild(host);
    expose();
  }

  var last = null; // the state last announced

  function str(v) { return typeof v === 'string' ? v : ''; }

  // current is the state as the site sees it (presencechange's detail).
  function current() {
    var c = last || { widgetId: id, state: 'unavailable', online: false, message: '', chatUrl: '', requiresLogin: false, lang: '' };
    return JSON.parse(JSON.stringify(c));
  }

  var waiting = false; // an announcement waits for the document to be parsed

  // announce tells the site, once per change, what the state is now. The
  // site's own deferred scripts run once the document is parsed: until
  // then the event waits, so that their listeners hear the first state.
  function announce(d) {
    var key = JSON.stringify(d);
    if (last && JSON.stringify(last) === key) return;
    last = d;
    registry.states[id] = d;
    if (host) host.setAttribute('data-state', d.state);
    if (parsed()) dispatch();
    else if (!waiting) {
      waiting = true;
      document.addEventListener('DOMContentLoaded', dispatch, { once: true });
    }
  }

  // parsed: DOMContentLoaded has begun, so the deferred scripts have run
  // (readyState is "interactive" already while they still wait to run).
  function parsed() {
    var nav = window.performance && performance.getEntriesByType && performance.getEntriesByType('navigation')[0];
    return document.readyState === 'complete' || !nav || nav.domContentLoadedEventStart > 0;
  }

  function dispatch() {
    waiting = false;
    (host || document).dispatchEvent(new CustomEvent('presencechange', { bubbles: true, composed: true, detail: current() }));
  }

  function apply(s) {
    if (!s || typeof s.online !== 'boolean') return;
    if (!host) build();
    var on = s.online;
    var labels = s.labels || {};
    var chatUrl = /^https?:\/\//i.test(str(s.chatUrl)) ? s.chatUrl : '';
    var needsLogin = Boolean(s.requiresLogin) && !signedIn;
    if (str(s.lang)) host.setAttribute('lang', s.lang);
    parts.bubble.setAttribute('fill', on ? '#1F845A' : '#8590A2');
    parts.dot.setAttribute('fill', on ? '#4BCE97' : '#DCDFE4');
    parts.state.textContent = str(on ? labels.online : labels.offline) || (on ? 'Chat online' : 'Chat offline');
    parts.msg.textContent = str(s.message);
    var back = on ? '' : backAt(s.nextOnlineAt, labels, str(s.lang));
    parts.back.textContent = back;
    parts.back.hidden = !back;
    parts.chat.textContent = str(labels.chat) || 'Start a chat';
    if (chatUrl) parts.chat.href = chatUrl;
    parts.chat.hidden = !on || !chatUrl;
    parts.login.textContent = str(labels.login) || 'Log in or register to chat';
    parts.login.hidden = !needsLogin;
    host.setAttribute('data-online', String(on));
    host.hidden = false;
    shown = true;
    announce({ widgetId: id, state: on ? 'online' : 'offline', online: on, message: str(s.message), chatUrl: chatUrl,
      requiresLogin: needsLogin, lang: str(s.lang), nextOnlineAt: on ? '' : str(s.nextOnlineAt) });
  }

  // backAt words when agents are next due online ("Back at 09:00", "Back
  // Monday at 09:00"), in the visitor's time zone and language, on a
  // 24-hour clock; '' when unknown.
  function backAt(iso, labels, lang) {
    var at = new Date(str(iso));
    if (isNaN(at.getTime()) || !str(labels.backAt)) return '';
    var loc = lang || undefined;
    var time, day;
    try {
      time = new Intl.DateTimeFormat(loc, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
      day = new Intl.DateTimeFormat(loc, { weekday: 'long' }).format(at);
    } catch (e) {
      time = at.toTimeString().slice(0, 5);
      day = at.toDateString().slice(0, 3);
    }
    var today = at.toDateString() === new Date().toDateString();
    return (today ? str(labels.backAt) : str(labels.backOn)).replace('{time}', time).replace('{day}', day);
  }

  function hide() {
    if (host) host.hidden = true;
    shown = false;
  }

  // Expose the state on the element, for a site's own scripts.
  function expose() {
    if (host && !('presence' in host)) Object.defineProperty(host, 'presence', { get: current });
  }

  // Keeping current: the status is fetched first and shown, then a live
  // stream is opened. While the stream does not deliver (not yet open,
  // reconnecting, refused, or silenced by a proxy that holds it), the
  // status is polled with its ETag; the last known state stays shown.
  // The server sends a keepalive event every 25 s (handlers/sse.go), so a
  // stream silent for longer than WATCH_MS is given up and tried again.
  var WATCH_MS = 35000;
  var MAX_MS = 300000;
  var etag = '';
  var pollTimer = 0;
  var failures = 0; // polls in a row that found the server unreachable
  var limited = 0; // polls in a row answered 429
  var es = null;
  var live = false; // the stream delivers events
  var lastSeen = 0;
  var streamTimer = 0;
  var watchTimer = 0;
  var refused = 0; // streams in a row that failed while the server answered

  // spread returns ms scaled by a random factor in [0.5, 1.5), so that the
  // pages of a restarted server do not all come back at once.
  function spread(ms) { return Math.min(ms, MAX_MS) * (0.5 + Math.random()); }

  function later(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, ms);
  }

  var stopped = false; // refused: unknown, switched off, or not allowed here

  function poll() {
    if (live || stopped) return;
    if (document.hidden) { later(pollMs); return; }
    var headers = etag ? { 'If-None-Match': etag } : {};
    fetch(statusURL, { headers: headers, cache: 'no-store', credentials: 'omit', mode: 'cors', referrerPolicy: 'origin' })
      .then(function (r) {
        if (r.status === 304) return true;
        if (r.status === 404) return null;
        if (r.status === 429) return 429;
        if (!r.ok) return false;
        etag = r.headers.get('ETag') || '';
        return r.json().then(function (s) { apply(s); return true; });
      })
      .then(function (ok) {
        if (ok === null) {
          // Unknown, switched off, or this site is not allowed: show
          // nothing and stop asking (a reload starts again).
          stopped = true;
          hide();
          announce({ widgetId: id, state: 'unavailable', online: false, message: '', chatUrl: '', requiresLogin: false, lang: '' });
          stopStream();
          clearTimeout(pollTimer);
          return;
        }
        if (ok === 429) {
          limited++;
          later(spread(pollMs * Math.pow(2, limited)));
          return;
        }
        if (!ok) { unreachable(); return; }
        var back = failures > 0;
        failures = 0;
        limited = 0;
        // First answer, or the server is back (restarted): stream now.
        if (!es && (back || !streamTimer)) startStream(back ? 1000 : 0);
        if (!live) later(pollMs);
      })
      .catch(unreachable);
  }

  // unreachable: a network error or a 5xx (restarting, or this site is not
  // allowed). Ask again soon, then less and less often.
  function unreachable() {
    if (!shown) hide();
    failures++;
    later(spread(1000 * Math.pow(1.5, failures - 1)));
  }

  function stopStream() {
    clearTimeout(streamTimer);
    clearTimeout(watchTimer);
    streamTimer = 0;
    if (es) es.close();
    es = null;
    live = false;
  }

  // startStream opens the stream after up to jitterMs.
  function startStream(jitterMs) {
    stopStream();
    if (!window.EventSource || stopped) return;
    streamTimer = setTimeout(openStream, Math.random() * jitterMs);
  }

  function openStream() {
    var src = es = new EventSource(eventsURL);
    lastSeen = Date.now();
    watch();
    src.addEventListener('status', function (e) {
      if (src !== es) return;
      seen();
      // The id ends with the status's ETag: polls after a break are 304s.
      var tag = /\.([0-9a-f]{16})$/.exec(e.lastEventId || '');
      if (tag) etag = '"' + tag[1] + '"';
      try { apply(JSON.parse(e.data)); } catch (x) { /* skip a bad event */ }
    });
    src.addEventListener('keepalive', function () { if (src === es) seen(); });
    src.addEventListener('error', function () {
      if (src !== es) return;
      if (src.readyState === 2) { broken(); return; }
      // Ended (the server restarts, or ended an old stream): EventSource
      // comes back by itself with Last-Event-ID; poll if it takes long.
      if (live) { live = false; later(pollMs); }
    });
  }

  function seen() {
    lastSeen = Date.now();
    refused = 0;
    if (!live) {
      live = true;
      clearTimeout(pollTimer);
    }
  }

  // watch gives up a stream that has been silent for WATCH_MS.
  function watch() {
    clearTimeout(watchTimer);
    var idle = Date.now() - lastSeen;
    if (idle >= WATCH_MS) { broken(); return; }
    watchTimer = setTimeout(watch, WATCH_MS - idle);
  }

  // broken: the stream was refused (429, a proxy's 502), failed, or
  // stayed silent. Poll now; a poll that finds the server back after a
  // failure opens the stream again at once, otherwise it is tried again
  // later and later.
  function broken() {
    stopStream();
    refused++;
    streamTimer = setTimeout(function () { startStream(0); }, spread(15000 * Math.pow(2, refused - 1)));
    later(0);
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && !live && !stopped) later(0);
  });

  poll();
})();
