// The portal footer: widget.js draws the chat status into #app; this keeps
// Jira's iframe as tall as the content (through connect.js, which holds
// every call to Jira's AP).
import { resize } from './connect.js';

if (window.ResizeObserver) new ResizeObserver(resize).observe(document.documentElement);
resize();
