/*
 * A local stand-in for Atlassian's Connect JavaScript API (all.js), served
 * by the demo host only. It implements what the app's pages use:
 * AP.context.getToken (a fresh context token for the page's user, from the
 * demo host), AP.request (to the simulated Jira, signed by the demo host as
 * the app), AP.dialog.create/close, AP.resize, AP.theming and
 * AP.user.getCurrentUser and getLocale, AP.flag.create and AP.events.on
 * (flag.action). The user is the one Jira signed the
 * page URL for.
 */
(function () {
  'use strict';
  var base = new URL('..', document.currentScript.src);
  var params = new URLSearchParams(location.search);
  var enc = encodeURIComponent;
  var account = '';
  try {
    var claims = (params.get('jwt') || '').split('.')[1];
    account = JSON.parse(atob(claims.replace(/-/g, '+').replace(/_/g, '/'))).sub || '';
  } catch (e) { account = ''; }

  function post(msg) {
    // Nothing secret travels this way: dialog keys, heights, theme requests.
    if (window.parent !== window) window.parent.postMessage(msg, '*');
  }

  function later(promise, cb) {
    if (cb) promise.then(cb, function () { cb(null); });
    return promise;
  }

  var AP = {
    context: {
      getToken: function (cb) {
        var p = fetch(new URL('demo/api/token?accountId=' + enc(account), base), { cache: 'no-store' })
          .then(function (r) { if (!r.ok) throw new Error('no token for this page'); return r.json(); })
          .then(function (b) { return b.token; });
        return later(p, cb);
      },
      getContext: function (cb) {
        return later(Promise.resolve({ jira: { project: { key: params.get('project') || '' } } }), cb);
      },
    },
    request: function (opts, more) {
      if (typeof opts === 'string') opts = Object.assign({ url: opts }, more || {});
      var p = fetch(new URL('demo/api/jira?accountId=' + enc(account) + '&path=' + enc(opts.url), base), { cache: 'no-store' })
        .then(function (r) {
          return r.text().then(function (body) {
            var xhr = { status: r.status, responseText: body };
            if (!r.ok) { var err = new Error('AP.request: ' + r.status); err.xhr = xhr; throw err; }
            return { body: body, xhr: xhr };
          });
        });
      if (opts.success || opts.error) {
        p.then(function (res) { if (opts.success) opts.success(res.body, 'success', res.xhr); },
          function (e) { if (opts.error) opts.error(e.xhr, 'error', e); });
      }
      return p;
    },
    dialog: {
      create: function (o) { post({ apDemo: 'dialog.create', key: o && o.key }); return { on: function () {} }; },
      close: function () { post({ apDemo: 'dialog.close' }); },
      getCustomData: function (cb) { return later(Promise.resolve({}), cb); },
    },
    resize: function () {
      post({ apDemo: 'resize', height: Math.ceil(document.documentElement.getBoundingClientRect().height) });
    },
    sizeToParent: function () {},
    theming: { initializeTheming: function () { post({ apDemo: 'theme?' }); } },
    user: {
      getCurrentUser: function (cb) { return later(Promise.resolve({ atlassianAccountId: account }), cb); },
      // Jira answers the user's locale; the demo, the one it signed the
      // page URL with (loc), else the browser's.
      getLocale: function (cb) {
        return later(Promise.resolve((params.get('loc') || navigator.language || 'en').replace(/_/g, '-')), cb);
      },
    },
    // Jira's flags: the host page shows them; a click on an action comes
    // back as the flag.action event, to this frame only.
    flag: {
      create: function (o) {
        var id = 'ap-flag-' + (++flagSeq);
        post({ apDemo: 'flag', id: id, title: o.title || '', body: o.body || '', type: o.type || 'info', actions: o.actions || {} });
        return { _id: id, close: function () { post({ apDemo: 'flag.close', id: id }); } };
      },
    },
    events: {
      on: function (name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
      off: function (name, fn) { handlers[name] = (handlers[name] || []).filter(function (f) { return f !== fn; }); },
      emit: function () {},
    },
  };
  var flagSeq = 0;
  var handlers = {};
  window.addEventListener('message', function (ev) {
    var m = ev.data;
    if (ev.source !== window.parent || !m || m.apDemo !== 'event') return;
    (handlers[m.name] || []).forEach(function (fn) { try { fn(m.data); } catch (e) { /* the page's own error */ } });
  });

  window.addEventListener('message', function (ev) {
    var m = ev.data;
    if (ev.source !== window.parent || !m || m.apDemo !== 'theme') return;
    if (m.mode === 'light' || m.mode === 'dark') {
      document.documentElement.setAttribute('data-color-mode', m.mode);
      document.documentElement.setAttribute('data-theme', 'dark:dark light:light');
    }
  });
  window.AP = AP;
})();
