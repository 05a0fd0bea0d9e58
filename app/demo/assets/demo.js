// The demo pages' script: the header item, dialogs, theme and frame sizes,
// as Jira's host page would do them.
(function () {
  'use strict';
  var body = document.body;
  var appOrigin = body.getAttribute('data-app-origin') || location.origin;
  var account = body.getAttribute('data-account') || '';
  var project = body.getAttribute('data-project') || '';
  var lang = body.getAttribute('data-lang') || '';
  var enc = encodeURIComponent;
  var $ = function (id) { return document.getElementById(id); };
  var TITLES = { 'presence-dialog': ['Online status', 480, 600], 'schedule-dialog': ['My online schedule', 720, 640] };
  // Jira names a dialog in the user's language.
  var NAMES = {
    de: ['Online-Status', 'Mein Online-Zeitplan'], fr: ['Statut en ligne', 'Mon planning en ligne'],
    es: ['Estado en línea', 'Mi horario en línea'], pl: ['Status online', 'Mój harmonogram online'],
    'pt-BR': ['Status online', 'Minha agenda online'], ja: ['オンラインステータス', 'オンラインスケジュール'],
  };

  function theme() { return document.documentElement.getAttribute('data-color-mode') || 'light'; }

  function getJSON(url, headers) {
    return fetch(url, { cache: 'no-store', headers: headers || {} }).then(function (r) {
      if (!r.ok) throw new Error(url.split('?')[0] + ': ' + r.status);
      return r.json();
    });
  }

  // Messages from the app's frames (the AP stand-in).
  window.addEventListener('message', function (ev) {
    var m = ev.data;
    if (ev.origin !== appOrigin || !m || typeof m.apDemo !== 'string') return;
    var frame = Array.prototype.find.call(document.querySelectorAll('iframe'), function (f) { return f.contentWindow === ev.source; });
    if (m.apDemo === 'theme?') ev.source.postMessage({ apDemo: 'theme', mode: theme() }, appOrigin);
    if (m.apDemo === 'resize' && frame && !frame.closest('.dialog') && m.height > 0) frame.style.height = Math.ceil(m.height) + 'px';
    if (m.apDemo === 'dialog.create' && TITLES[m.key]) openDialog(m.key);
    if (m.apDemo === 'dialog.close' && frame && frame.closest('.blanket')) closeDialog(frame.closest('.blanket'));
    if (m.apDemo === 'flag') {
      var keys = Object.keys(m.actions || {});
      showFlag({ id: m.id, title: m.title, description: m.body, kind: m.type, actions: keys.map(function (k) { return m.actions[k]; }) }, null,
        function (i) { ev.source.postMessage({ apDemo: 'event', name: 'flag.action', data: { flagIdentifier: m.id, actionIdentifier: keys[i] } }, appOrigin); });
    }
    if (m.apDemo === 'flag.close') removeFlag(m.id);
  });

  // Messages from the app's Forge pages (the @forge/bridge stand-in).
  var FORGE_MODALS = { schedule: ['My online schedule', 720, 640, 'schedule'], presence: ['Online status', 480, 600, 'presence'] };
  window.addEventListener('message', function (ev) {
    var m = ev.data;
    if (ev.origin !== appOrigin || !m || typeof m.forgeDemo !== 'string') return;
    var frame = Array.prototype.find.call(document.querySelectorAll('iframe'), function (f) { return f.contentWindow === ev.source; });
    if (!frame) return;
    switch (m.forgeDemo) {
      case 'theme?': ev.source.postMessage({ forgeDemo: 'theme', mode: theme() }, appOrigin); break;
      case 'resize': if (!frame.closest('.dialog') && frame.id !== 'background' && m.height > 0) frame.style.height = Math.ceil(m.height) + 'px'; break;
      case 'modal': if (FORGE_MODALS[m.resource]) openModal(m.resource, FORGE_MODALS[m.resource], Promise.resolve({ url: forgePage(FORGE_MODALS[m.resource][3]) })); break;
      case 'close': if (frame.closest('.blanket')) closeDialog(frame.closest('.blanket')); break;
      case 'flag': showFlag(m, ev.source); break;
      case 'flag-close': removeFlag(m.id); break;
      case 'event':
        Array.prototype.forEach.call(document.querySelectorAll('iframe'), function (f) {
          if (f !== frame && f.contentWindow) f.contentWindow.postMessage({ forgeDemo: 'event', name: m.name, payload: m.payload }, appOrigin);
        });
        break;
    }
  });

  function forgePage(module) {
    var resource = module === 'presence' || module === 'presence-queue' ? 'presence' : module;
    return '/demo/forge/pages/' + resource + '?module=' + enc(module) + '&as=' + enc(account) + (lang ? '&locale=' + enc(lang) : '');
  }

  // Jira's flags, as Forge's showFlag shows them: title, description and
  // actions, until closed.
  function showFlag(m, source, onAction) {
    removeFlag(m.id);
    var box = document.createElement('div');
    box.className = 'flag';
    box.setAttribute('role', 'alert');
    box.setAttribute('data-flag', m.id);
    box.setAttribute('data-kind', m.kind || 'info');
    var title = document.createElement('strong');
    title.textContent = m.title || '';
    var desc = document.createElement('p');
    desc.textContent = m.description || '';
    box.append(title, desc);
    (m.actions || []).forEach(function (text, i) {
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = text;
      b.setAttribute('data-action', String(i));
      b.addEventListener('click', function () {
        if (onAction) onAction(i);
        else source.postMessage({ forgeDemo: 'flag-action', id: m.id, index: i }, appOrigin);
      });
      box.append(b);
    });
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'close';
    close.setAttribute('aria-label', 'Dismiss');
    close.textContent = '×';
    close.addEventListener('click', function () { removeFlag(m.id); });
    box.append(close);
    $('flags').append(box);
  }

  function removeFlag(id) {
    var old = document.querySelector('.flag[data-flag="' + CSS.escape(String(id)) + '"]');
    if (old) old.remove();
  }

  var stack = [];
  function openDialog(key) {
    var spec = TITLES[key].slice();
    if (NAMES[lang]) spec[0] = NAMES[lang][key === 'presence-dialog' ? 0 : 1];
    var q = 'module=' + enc(key) + '&accountId=' + enc(account) + '&project=' + enc(project) + (lang ? '&lang=' + enc(lang) : '');
    openModal(key, spec, getJSON('/demo/api/signed-url?' + q));
  }

  // openModal shows a page in a dialog: spec is [title, width, height].
  function openModal(key, spec, urlPromise) {
    var opener = document.activeElement;
    urlPromise.then(function (r) {
      var blanket = document.createElement('div');
      blanket.className = 'blanket';
      blanket.setAttribute('data-dialog', key);
      var box = document.createElement('div');
      box.className = 'dialog';
      box.setAttribute('role', 'dialog');
      box.setAttribute('aria-modal', 'true');
      box.setAttribute('aria-label', spec[0]);
      box.style.setProperty('--w', spec[1] + 'px');
      box.style.setProperty('--h', spec[2] + 'px');
      var head = document.createElement('header');
      var h2 = document.createElement('h2');
      h2.textContent = spec[0];
      var close = document.createElement('button');
      close.type = 'button';
      close.className = 'close';
      close.setAttribute('aria-label', 'Close');
      close.textContent = '×';
      close.addEventListener('click', function () { closeDialog(blanket); });
      head.append(h2, close);
      var frame = document.createElement('iframe');
      frame.title = spec[0];
      frame.src = r.url;
      frame.addEventListener('load', function () { frame.focus(); });
      box.append(head, frame);
      blanket.append(box);
      blanket.addEventListener('mousedown', function (e) { if (e.target === blanket) closeDialog(blanket); });
      $('dialogs').append(blanket);
      stack.push({ el: blanket, opener: opener });
      close.focus();
    }).catch(function () { /* the demo host is restarting */ });
  }

  function closeDialog(el) {
    var i = stack.findIndex(function (d) { return d.el === el; });
    if (i < 0) return;
    var d = stack.splice(i, 1)[0];
    el.remove();
    if (d.opener && d.opener.focus) d.opener.focus();
    refresh();
  }

  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && stack.length) closeDialog(stack[stack.length - 1].el);
  });

  // The header item: count of online agents in the project and own state.
  var item = $('presence-item');
  var cached = null;
  function token() {
    if (cached && cached.exp > Date.now()) return Promise.resolve(cached.token);
    return getJSON('/demo/api/token?accountId=' + enc(account)).then(function (b) {
      cached = { token: b.token, exp: Date.now() + 120000 };
      return b.token;
    });
  }
  function render(me) {
    var p = me.project;
    if (!p) return;
    var count = $('presence-count');
    count.textContent = String(p.onlineCount);
    count.setAttribute('data-online', String(p.onlineCount > 0));
    $('presence-icon').src = appOrigin + '/static/icons/presence-' + (p.online ? 'online' : 'offline') + '.svg';
    item.setAttribute('data-state', p.online ? 'online' : 'offline');
    $('presence-label').textContent = 'Online status: ' + p.onlineCount + ' online in ' + p.key + '; you are ' + (p.online ? 'online' : 'offline');
  }
  function refresh() {
    if (!item) return;
    token().then(function (t) { return getJSON('/api/v1/me?project=' + enc(project), { Authorization: 'JWT ' + t }); })
      .then(render).catch(function () { /* keep the last state */ });
  }
  if (item) {
    item.addEventListener('click', function () { openDialog('presence-dialog'); });
    $('open-schedule').addEventListener('click', function () { openDialog('schedule-dialog'); });
    refresh();
    var poll = setInterval(function () { if (!document.hidden) refresh(); }, 5000);
    var stream = function () {
      token().then(function (t) {
        var es = new EventSource('/api/v1/events?project=' + enc(project) + '&jwt=' + enc(t));
        var opened = false;
        es.addEventListener('open', function () { opened = true; clearInterval(poll); });
        es.addEventListener('presence', refresh);
        es.addEventListener('error', function () {
          if (es.readyState !== 2) return;
          // Ended or refused (an expired token): poll, and come back with a
          // fresh token if the stream had worked.
          clearInterval(poll);
          poll = setInterval(function () { if (!document.hidden) refresh(); }, 5000);
          if (opened) { cached = null; setTimeout(stream, 2000); }
        });
      }).catch(function () { /* keep polling */ });
    };
    stream();
  }
  for (var id of ['as', 'theme', 'host', 'lic', 'lang', 'customer']) {
    var sel = $(id);
    if (sel) sel.addEventListener('change', function (e) { e.target.form.submit(); });
  }
})();
