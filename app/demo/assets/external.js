// The external site's own script: it listens to the widget's
// presencechange events, as a site with its own chat would, keeps a log of
// them, and offers its own chat button while someone is online; a click on
// the widget's chat link opens that chat instead (chatopen, cancelled).
(function () {
  'use strict';
  var log = document.getElementById('presence-log');
  var button = document.getElementById('own-chat');
  var state = document.getElementById('own-state');
  var opened = document.getElementById('own-opened');
  window.__presence = [];
  document.addEventListener('presencechange', function (e) {
    var d = e.detail;
    window.__presence.push(d);
    log.textContent += d.widgetId.slice(0, 8) + '… ' + d.state + (d.chatUrl ? ' ' + d.chatUrl : '') + '\n';
    if (d.widgetId !== button.getAttribute('data-widget')) return;
    button.disabled = !d.online;
    state.textContent = d.online ? 'Our chat is open: someone is online.' : 'Our chat is closed: nobody is online.';
  });
  document.addEventListener('chatopen', function (e) {
    if (e.detail.widgetId !== button.getAttribute('data-widget') || !document.getElementById('take-over').checked) return;
    e.preventDefault();
    opened.textContent = 'The site opened its own chat (' + e.detail.lang + ').';
  });
  button.addEventListener('click', function () { opened.textContent = 'The site opened its own chat.'; });
})();
