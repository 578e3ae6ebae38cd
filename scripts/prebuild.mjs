#!/usr/bin/env node
// npm run prebuild: a portable addon for prebuilds/<platform>-<arch>/, named as prebuildify names
// them so node-gyp-build picks by platform, arch and libc: node.napi.node (macOS, Windows) or
// node.napi.glibc.node / node.napi.musl.node (Linux). ggml is built as shared libraries with all
// CPU variants (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS); at run time ggml scores each variant
// against the CPU and loads the best, so one prebuild runs on any x86-64 and still uses AVX2 /
// AVX-512 where present. On Linux the libraries go into a folder per libc (glibc/, musl/: the two
// addons share the platform folder, their libraries cannot), found through RPATH and by the
// backend loader (native/runtime/backend.cpp); elsewhere they sit next to the addon.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const build = path.join(root, 'build-portable');
const out = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

/** Linux: the C library this Node runs on (prebuildify's --tag-libc); elsewhere none. */
function libc() {
  if (process.platform !== 'linux') return null;
  return process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';
}

const tag = libc();
const addonName = tag ? `node.napi.${tag}.node` : 'node.napi.node';
const libDir = tag ? path.join(out, tag) : out;
// Metal on macOS (Apple silicon's GPU): ggml's Metal backend, compiled into libggml
const metal = process.platform === 'darwin' ? ['--CDPOTRON_METAL=ON'] : [];
const libPattern = process.platform === 'darwin' ? /^libggml.*\.dylib$/ : process.platform === 'win32' ? /^ggml.*\.dll$/ : /^libggml(-base)?\.so\.0$|^libggml-(cpu-.*|rpc)\.so$/;

execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit' });
execFileSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '-O', build, '--CDPOTRON_NATIVE_CPU=OFF',
  ...(tag ? [`--CDPOTRON_LIBC=${tag}`] : []), ...metal], { stdio: 'inherit', cwd: root });

// this libc's files only: the other libc's addon and libraries, from another build machine, stay
fs.rmSync(path.join(out, addonName), { force: true });
if (tag) fs.rmSync(libDir, { recursive: true, force: true });
fs.mkdirSync(libDir, { recursive: true });
fs.copyFileSync(path.join(build, 'Release', 'predict_otron_native.node'), path.join(out, addonName));
// libggml and libggml-base under their sonames (what the addon's NEEDED entries name), and every
// CPU variant and the RPC backend, which ggml_backend_load_all_from_path() looks for
const libs = [];
for (const dir of ['Release', 'bin']) {
  const from = path.join(build, dir);
  if (!fs.existsSync(from)) continue;
  for (const f of fs.readdirSync(from)) if (libPattern.test(f) && !libs.some((l) => path.basename(l) === f)) libs.push(path.join(from, f));
}
for (const lib of libs) fs.copyFileSync(lib, path.join(libDir, path.basename(lib)));
console.log(`prebuild: ${path.relative(root, out)}: ${addonName} + ${libs.length} ggml libraries in ${path.relative(root, libDir)} (${libs.map((l) => path.basename(l)).join(', ')})`);
