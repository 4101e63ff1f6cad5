/**
 * Builds the dashboard into dist/dashboard (served by src/http/dashboard-routes.ts): Preact's JSX
 * through Vite's own transform, hashed file names under assets/, the chart library in its own
 * chunk, loaded by the page that draws charts.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/dashboard',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  // `npm run dev:dashboard` beside a running server (`npm run dev`): the API is passed through.
  server: { proxy: { '/api': 'http://127.0.0.1:8787' } },
});
