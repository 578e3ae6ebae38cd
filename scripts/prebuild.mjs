#!/usr/bin/env node
// npm run prebuild: a portable addon for prebuilds/<platform>-<arch>/. ggml is built as shared
// libraries with all CPU variants (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS); at run time ggml
// scores each variant against the CPU and loads the best, so one prebuild runs on any x86-64
// and still uses AVX2 / AVX-512 where present. The addon finds the libraries through
// RPATH=$ORIGIN, so they sit next to it; node-gyp-build picks node.napi.node.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const build = path.join(root, 'build-portable');
const out = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit' });
execFileSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '-O', build, '--CDPOTRON_NATIVE_CPU=OFF'],
  { stdio: 'inherit', cwd: root });

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
fs.copyFileSync(path.join(build, 'Release', 'predict_otron_native.node'), path.join(out, 'node.napi.node'));
// libggml and libggml-base under their sonames (what the addon's NEEDED entries name), and
// every CPU variant (and the RPC backend) that ggml_backend_load_all_from_path() looks for next to the addon
const libs = [
  ...fs.readdirSync(path.join(build, 'Release')).filter((f) => /^libggml(-base)?\.so\.0$/.test(f)).map((f) => path.join('Release', f)),
  ...fs.readdirSync(path.join(build, 'bin')).filter((f) => /^libggml-(cpu-.*|rpc)\.so$/.test(f)).map((f) => path.join('bin', f)),
];
for (const lib of libs) fs.copyFileSync(path.join(build, lib), path.join(out, path.basename(lib)));
console.log(`prebuild: ${path.relative(root, out)}: node.napi.node + ${libs.length} ggml libraries (${libs.map((l) => path.basename(l)).join(', ')})`);
