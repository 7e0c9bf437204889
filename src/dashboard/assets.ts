import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** One file the dashboard serves, held in memory with its gzip form and an ETag. */
export interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Where the dashboard's assets are served from. */
export const ASSET_PREFIX = '/ui/';

/** The bare module names the front end imports, and the files the import map sends them to. */
const VENDOR_MODULES: Record<string, string> = { preact: 'preact.mjs', 'preact/hooks': 'hooks.mjs', 'preact/jsx-runtime': 'jsx-runtime.mjs' };

/**
 * The dashboard as files: the compiled front end (dist/web), its stylesheet (web/static), Preact's ES
 * modules and uPlot, read once at start. There is no bundler: the browser resolves `preact` through an
 * import map, whose hash the Content-Security-Policy names so that it is the page's only inline script.
 */
export class DashboardAssets {
  private readonly files = new Map<string, Asset>();
  readonly page: Asset;
  readonly csp: string;

  constructor(root = fileURLToPath(new URL('../../../', import.meta.url))) {
    const web = join(root, 'dist', 'web');
    for (const file of walk(web)) if (file.endsWith('.js')) this.add(relative(web, file).split('\\').join('/'), readFileSync(file));
    for (const file of walk(join(root, 'web', 'static'))) this.add(relative(join(root, 'web', 'static'), file), readFileSync(file));
    for (const [name, file] of Object.entries(VENDOR_MODULES)) this.add(`vendor/${file}`, readFileSync(fileURLToPath(import.meta.resolve(name))));
    this.add('vendor/uPlot.iife.min.js', readFileSync(fileURLToPath(import.meta.resolve('uplot/dist/uPlot.iife.min.js'))));
    this.add('vendor/uPlot.min.css', readFileSync(fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css'))));
    const importMap = JSON.stringify({ imports: Object.fromEntries(Object.entries(VENDOR_MODULES).map(([name, file]) => [name, `${ASSET_PREFIX}vendor/${file}`])) });
    const mapHash = createHash('sha256').update(importMap).digest('base64');
    this.csp = [
      "default-src 'none'",
      `script-src 'self' 'sha256-${mapHash}'`,
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; ');
    this.page = asset(Buffer.from(indexPage(importMap)), TYPES['.html']!);
  }

  /** A file under ASSET_PREFIX, by its path below it. */
  get(path: string): Asset | undefined {
    return this.files.get(path);
  }

  /** The gzipped size of the JavaScript a first visit loads (every module: the front end is small). */
  javascriptGzipBytes(): number {
    let n = 0;
    for (const [path, a] of this.files) if (path.endsWith('.js') || path.endsWith('.mjs')) n += a.gzip.length;
    return n;
  }

  private add(path: string, body: Buffer): void {
    this.files.set(path, asset(body, TYPES[extname(path)] ?? 'application/octet-stream'));
  }
}

function asset(body: Buffer, type: string): Asset {
  return { body, gzip: gzipSync(body, { level: 9 }), type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

function walk(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function indexPage(importMap: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hangar</title>
<link rel="stylesheet" href="${ASSET_PREFIX}vendor/uPlot.min.css">
<link rel="stylesheet" href="${ASSET_PREFIX}style.css">
<script type="importmap">${importMap}</script>
<script src="${ASSET_PREFIX}vendor/uPlot.iife.min.js"></script>
<script type="module" src="${ASSET_PREFIX}main.js"></script>
</head>
<body><div id="root"><noscript>The hangar dashboard needs JavaScript.</noscript></div></body>
</html>
`;
}
