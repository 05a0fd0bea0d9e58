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

// The service's public URL, for the pages' links to it (the widget
// snippet): BASE_URL, as forge deploy reads it for the manifest's remote.
const remoteBase = (process.env.BASE_URL || '').replace(/\/*$/, '/');
if (!/^https:\/\/[^/]+\//.test(remoteBase)) {
  console.warn('forge build: BASE_URL is not an https URL; the pages will name https://remote.invalid/ as the service');
}

// The pages import their host adapter as './connect.js'; here it resolves
// to the Forge one, and that one's './forge-bridge.js' to @forge/bridge
// (pages.json "alias": file → file, relative to the repository). The
// Forge adapter's own import of connect.js (the shared helpers) stays.
const redirects = new Map(Object.entries(config.alias ?? {}).map(([from, to]) => [join(root, from), join(root, to)]));
const hostAdapter = {
  name: 'host-adapter',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = redirects.get(join(args.resolveDir, args.path));
      if (!target || target === args.importer) return undefined;
      return { path: target };
    });
    // Icons named in scripts ('../static/icons/x.svg', relative to a
    // Connect page) are copied beside index.html here.
    b.onLoad({ filter: /static[\/]js[\/][\w-]+\.js$/ }, async (args) => ({
      contents: (await readFile(args.path, 'utf8')).replaceAll("'../static/icons/", "'icons/"),
      loader: 'js',
    }));
  },
};

// Forge hosts Custom UI under its own origin; Atlassian's Connect script
// has no place there (static/js/forge.js uses @forge/bridge instead of AP).
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
      plugins: [hostAdapter],
      define: { __REMOTE_BASE_URL__: JSON.stringify(/^https:\/\//.test(remoteBase) ? remoteBase : 'https://remote.invalid/') },
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
