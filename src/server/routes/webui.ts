// The chat page (webui/, built by Vite into dist/webui) at the server's root: read once at start,
// served from memory. Every URL in the page is relative, so the app works mounted under a prefix.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Hono } from 'hono';

import type { Env } from '../context.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.json': 'application/json',
};

/** dist/webui: beside this module's dist/server, or from src/server (tests run the sources) the
 * package's dist/webui. Absent in a checkout that has not built it (npm run build:webui). */
const here = path.dirname(fileURLToPath(import.meta.url));
export const webuiDir = [path.join(here, '..', '..', 'webui'), path.join(here, '..', '..', '..', 'dist', 'webui')]
  .find((d) => fs.existsSync(path.join(d, 'index.html'))) ?? path.join(here, '..', '..', 'webui');

interface Asset {
  body: Buffer;
  type: string;
}

function readAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (d: string, rel: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full, `${rel}${entry.name}/`);
      else out.set(`/${rel}${entry.name}`, { body: fs.readFileSync(full), type: TYPES[path.extname(entry.name)] ?? 'application/octet-stream' });
    }
  };
  if (fs.existsSync(path.join(dir, 'index.html'))) walk(dir, '');
  return out;
}

/** Registers GET / and the page's assets; false when the page was not built (nothing registered). */
export function webuiRoute(app: Hono<Env>, dir: string = webuiDir): boolean {
  const assets = readAssets(dir);
  const index = assets.get('/index.html');
  if (!index) return false;
  // a strict policy: the page's own script and styles only, requests only to this server
  const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'";
  const page = (cache: string, a: Asset) => new Response(new Uint8Array(a.body), {
    headers: { 'content-type': a.type, 'cache-control': cache, 'content-security-policy': csp, 'x-content-type-options': 'nosniff' },
  });
  // mounted under a prefix, '/' is '/prefix', where the page's relative URLs would miss it: there
  // it moves to '/prefix/index.html'
  app.get('/', (c) => (c.req.path.endsWith('/') ? page('no-cache', index) : c.redirect(`${c.req.path}/index.html`, 302)));
  app.get('/index.html', () => page('no-cache', index));
  app.get('/assets/*', (c) => {
    const a = assets.get(c.req.path.slice(c.req.path.indexOf('/assets/')));
    return a ? page('public, max-age=31536000, immutable', a) : c.notFound();
  });
  return true;
}
