// Loads the addon: a prebuild from prebuilds/<platform>-<arch>/ or the local build/Release.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { NativeAddon } from './addon.js';

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (!addon) {
    const load = require('node-gyp-build') as (dir: string) => unknown;
    addon = load(packageRoot) as NativeAddon;
  }
  return addon;
}
