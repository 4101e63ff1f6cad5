/**
 * Builds the browser snippet into dist/sdk (served by src/http/sdk-routes.ts): `nudge.js`, one
 * self-contained script that installs `window.nudge`, and `nudge-sw.js`, the web push service
 * worker. Both are IIFEs without exports (so no global but `nudge` is written), without
 * dependencies, minified, for browsers that run ES2020.
 *
 *   vite build --app --config sdk/vite.config.ts     (part of `npm run build`)
 */
import path from 'node:path';
import { defineConfig, type UserConfig } from 'vite';

export const defaultSdkOutDir = path.resolve(import.meta.dirname, '../dist/sdk');

/** The two scripts: what `npm run build` writes to dist/sdk, and tests and the bench to a folder of their own. */
export function sdkBuildConfig(outDir: string = defaultSdkOutDir): UserConfig {
  const script = (entry: string, fileName: string, emptyOutDir: boolean) => ({
    consumer: 'client' as const,
    build: {
      outDir,
      emptyOutDir,
      target: 'es2020',
      copyPublicDir: false,
      reportCompressedSize: false,
      lib: { entry: path.resolve(import.meta.dirname, entry), formats: ['iife' as const], name: 'nudge', fileName: () => fileName },
    },
  });
  return {
    root: import.meta.dirname,
    logLevel: 'warn',
    environments: {
      snippet: script('src/main.ts', 'nudge.js', true),
      serviceWorker: script('src/sw.ts', 'nudge-sw.js', false),
    },
    builder: {
      // Only these two, in order: the snippet's build empties the folder first.
      buildApp: async (builder) => {
        await builder.build(builder.environments['snippet']!);
        await builder.build(builder.environments['serviceWorker']!);
      },
    },
  };
}

export default defineConfig(sdkBuildConfig());
