/**
 * A web page, on its own origin, that loads the real @segment/analytics-next browser library.
 * The package's ESM build is bundled once with esbuild (lazily loaded parts included, so nothing
 * is fetched from a CDN) and exposed as `window.AnalyticsBrowser`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '../..');

async function bundleAnalyticsNext(): Promise<string> {
  const result = await build({
    stdin: {
      contents: "import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;",
      resolveDir: root,
      loader: 'js',
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    write: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  return result.outputFiles[0]!.text;
}

const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Pricing — Test Shop</title>
<script src="/analytics.js"></script></head>
<body><h1>Pricing</h1></body></html>`;

export interface AnalyticsPage {
  /** The page's URL, e.g. http://127.0.0.1:PORT/pricing */
  url: string;
  close(): Promise<void>;
}

/** Serves the page at `/pricing` and the bundle at `/analytics.js` on 127.0.0.1. */
export async function serveAnalyticsPage(): Promise<AnalyticsPage> {
  const bundle = await bundleAnalyticsNext();
  const server: Server = createServer((request, response) => {
    const pathname = new URL(request.url ?? '/', 'http://x').pathname;
    if (pathname === '/analytics.js') {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else if (pathname === '/pricing') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/pricing`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
