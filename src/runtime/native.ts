// Loads the addon: a prebuild from prebuilds/<platform>-<arch>/ or the local build/Release.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { NativeAddon } from './addon.js';
import { RuntimeError } from './errors.js';

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The surface version this TypeScript expects (native/napi/addon.cpp kSurfaceVersion). */
export const SURFACE_VERSION = 12;

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (!addon) {
    // POTRON_ADDON: an addon file to load instead (the sanitizer build: scripts/test-sanitized.mjs)
    const override = process.env.POTRON_ADDON;
    const load = require('node-gyp-build') as (dir: string) => unknown;
    const loaded = (override ? require(path.resolve(override)) : load(packageRoot)) as NativeAddon;
    if (loaded.surfaceVersion !== SURFACE_VERSION) {
      throw new RuntimeError('ERR_ADDON_VERSION',
        `the native addon is out of date (surface ${loaded.surfaceVersion ?? 1}, this code needs ${SURFACE_VERSION}); ` +
          'rebuild it: POTRON_FORCE_BUILD=1 npm rebuild predict-otron-9000 (or npm run build:native in a checkout)');
    }
    addon = loaded;
  }
  return addon;
}
