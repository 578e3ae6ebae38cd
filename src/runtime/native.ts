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

/**
 * Optional platform packages carrying a ggml backend built on its own: npm installs the one
 * whose os and cpu fit (optionalDependencies), and it needs the addon from this package's
 * prebuilds (ggml as shared libraries).
 */
export const backendPackages = [{ name: 'predict-otron-9000-linux-x64-cuda', platform: 'linux', arch: 'x64', file: 'libggml-cuda.so' }] as const;
const backendErrors: string[] = [];

/** Why an installed backend package did not load (empty when none is installed or all loaded). */
export function backendLoadErrors(): readonly string[] {
  return backendErrors;
}

/** Loads the backend packages installed next to this one (resolved from `from`), noting failures. */
export function loadBackendPackages(loaded: Pick<NativeAddon, 'loadBackend'>, from = packageRoot): void {
  const resolve = createRequire(path.join(from, 'package.json')).resolve;
  for (const p of backendPackages) {
    if (p.platform !== process.platform || p.arch !== process.arch) continue;
    let dir: string;
    try {
      dir = path.dirname(resolve(`${p.name}/package.json`));
    } catch {
      continue; // not installed
    }
    try {
      loaded.loadBackend(path.join(dir, p.file));
    } catch (err) {
      // the CPU still runs everything; asking for the device says why it is missing
      backendErrors.push(`${p.name} is installed but did not load: ${(err as Error).message}`);
    }
  }
}

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
    loadBackendPackages(loaded);
  }
  return addon;
}
