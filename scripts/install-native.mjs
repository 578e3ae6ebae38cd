#!/usr/bin/env node
// npm install hook: use a prebuilt addon when one fits this platform, otherwise build from the
// pinned ggml source (fetched by fetch-ggml.mjs) with cmake-js, tuned for this CPU.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));

// must match src/runtime/native.ts SURFACE_VERSION: an addon of another version is rebuilt
const SURFACE_VERSION = 12;

if (!process.env.POTRON_FORCE_BUILD) {
  try {
    if (require('node-gyp-build')(root).surfaceVersion === SURFACE_VERSION) process.exit(0);
    console.log('predict-otron: the addon found is out of date for this code');
  } catch {
    // no prebuild for this platform and no local build yet
  }
}

const started = Date.now();
console.log('predict-otron: no prebuilt addon fits this platform; building from source (about a minute on 2 cores)');
try {
  execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit', cwd: root });
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  execFileSync(process.execPath, [cmakeJs, 'compile', '--CDPOTRON_NATIVE_CPU=ON'], { stdio: 'inherit', cwd: root });
} catch (err) {
  console.error(
    'predict-otron: the native build failed. It needs cmake (3.18+), a C++17 compiler and git; ' +
      'install them (Debian: apt-get install cmake g++ git) and run `npm rebuild predict-otron-9000`.',
  );
  process.exit(1);
}
console.log(`predict-otron: native addon built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
