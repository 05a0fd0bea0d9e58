// The portal footer: widget.js draws the chat status into #app; this keeps
// Jira's iframe as tall as the content.
(function () {
  'use strict';
  var fit = function () { try { if (window.AP && AP.resize) AP.resize(); } catch (e) { /* not framed */ } };
  if (window.ResizeObserver) new ResizeObserver(fit).observe(document.documentElement);
  fit();
})();
