// Builds the Custom UI resources of manifest.yml from the service's own
// static/ pages: one folder per resource under build/, each with an
// index.html, its scripts bundled by esbuild (Forge serves static files
// only, and @forge/bridge is a CommonJS package that needs a bundler), its
// inline styles moved to a file (Forge's CSP forbids inline styles), and
// copies of the shared CSS and icons. The Connect pages stay as they are,
// build-free: this only reads static/.
//
// Usage: node build.mjs   (from anywhere; writes forge/build/)
import { build } from 'esbuild';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const out = join(here, 'build');
const config = JSON.parse(await readFile(join(here, 'pages.json'), 'utf8'));

// Forge hosts Custom UI under its own origin; Atlassian's Connect script
// has no place there (the next change adds the host adapter that uses
// @forge/bridge instead of AP).
const connectScript = /<script src="https:\/\/connect-cdn\.atl-paas\.net\/all\.js"><\/script>\n?/g;
const inlineStyle = /<style>([\s\S]*?)<\/style>\n?/g;
const scriptTag = /<script\b([^>]*)><\/script>/g;
const inlineScript = /<script\b(?![^>]*\bsrc=)[^>]*>/;

await rm(out, { recursive: true, force: true });
const problems = [];
for (const [name, page] of Object.entries(config.pages)) {
  const dir = join(out, name);
  await mkdir(dir, { recursive: true });
  if (page.todo) {
    // A resource folder must exist for the manifest to validate; this one
    // says plainly that it is not built yet.
    await writeFile(join(dir, 'index.html'),
      `<!doctype html>\n<html lang="en"><meta charset="utf-8"><title>${name}</title>\n<p>Not built yet: ${escapeHTML(page.todo)}.</p></html>\n`);
    console.log(`forge build: ${name}: placeholder (todo: ${page.todo})`);
    continue;
  }
  let html = await readFile(join(root, page.html), 'utf8');
  html = html.replace(connectScript, '');
  let css = '';
  html = html.replace(inlineStyle, (_, body) => { css += body.trim() + '\n'; return ''; });
  if (css) {
    await writeFile(join(dir, 'page.css'), css);
    html = html.replace('</head>', '<link rel="stylesheet" href="page.css">\n</head>');
  }
  if (inlineScript.test(html)) problems.push(`${name}: inline <script> (Forge's CSP forbids it)`);
  if (/\{\{[^}]*\}\}/.test(html)) problems.push(`${name}: server template markers {{…}} left in the page`);
  const entries = [];
  html = html.replace(scriptTag, (tag, attrs) => {
    const src = /\bsrc="\.\.\/static\/js\/([\w-]+\.js)"/.exec(attrs);
    if (!src) return tag;
    entries.push(join(root, 'static', 'js', src[1]));
    return `<script type="module" src="${src[1]}"></script>`;
  });
  html = html.replaceAll('../static/css/', 'css/').replaceAll('../static/icons/', 'icons/');
  if (html.includes('../static/')) problems.push(`${name}: a reference to ../static/ the build does not handle`);
  await cp(join(root, 'static', 'css'), join(dir, 'css'), { recursive: true });
  await cp(join(root, 'static', 'icons'), join(dir, 'icons'), { recursive: true });
  if (entries.length) {
    await build({
      entryPoints: entries, outdir: dir, bundle: true, format: 'esm', target: 'es2022',
      minify: true, sourcemap: false, legalComments: 'none', logLevel: 'warning',
      // The next change maps the Connect host adapter onto the Forge one.
      alias: Object.fromEntries(Object.entries(config.alias ?? {}).map(([k, v]) => [k, join(root, v)])),
    });
  }
  await writeFile(join(dir, 'index.html'), html);
  console.log(`forge build: ${name}: ${relative(root, join(root, page.html))} -> ${relative(root, dir)}/ (${entries.length} bundle(s))`);
}
if (problems.length) {
  console.error('forge build failed:\n  ' + problems.join('\n  '));
  process.exit(1);
}

function escapeHTML(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
