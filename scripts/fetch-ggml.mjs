#!/usr/bin/env node
// Extracts ggml's source (plus gguf-py, used by the tiny-model generator, and the vendored
// nlohmann/json header, used by the safetensors and config.json readers) from the llama.cpp
// release that node-llama-cpp@3.21.1 ships as a git bundle. The bundle's hash is checked, so the
// source we build is exactly the pinned release. `--full` extracts the whole llama.cpp tree
// (the benchmark builds llama-bench from it).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NLC_VERSION = '3.21.1';
const BUNDLE_SHA256 = '9336d8aab8f8e6a8919380f3641fe92e57b02fb55df1b6bd083b82491a6293b8';
const COMMIT = '80fb11ac73e66d89eae2c6a91d8a77428fa733ed';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dest = path.join(root, 'deps', 'llama.cpp');
const full = process.argv.includes('--full');
const wanted = full ? ['.'] : ['ggml', 'gguf-py', 'vendor/nlohmann'];
const marker = path.join(dest, full ? '.extracted-full' : '.extracted');

function sha256(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return h.digest('hex');
}

function findBundle() {
  // node-llama-cpp's exports hide package.json, so look along node's module paths ourselves.
  const require = createRequire(path.join(root, 'package.json'));
  for (const dir of require.resolve.paths('node-llama-cpp') ?? []) {
    const pkgJson = path.join(dir, 'node-llama-cpp', 'package.json');
    const bundle = path.join(dir, 'node-llama-cpp', 'llama', 'gitRelease.bundle');
    if (!fs.existsSync(pkgJson) || !fs.existsSync(bundle)) continue;
    if (JSON.parse(fs.readFileSync(pkgJson, 'utf8')).version === NLC_VERSION) return bundle;
  }
  // Not installed (a user install without devDependencies): fetch the tarball from the registry.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-nlc-'));
  console.log(`fetch-ggml: downloading node-llama-cpp@${NLC_VERSION} from the npm registry`);
  const out = execFileSync('npm', ['pack', `node-llama-cpp@${NLC_VERSION}`, '--silent'], { cwd: tmp, encoding: 'utf8' });
  const tgz = path.join(tmp, out.trim().split('\n').pop());
  execFileSync('tar', ['-xzf', tgz, '-C', tmp, 'package/llama/gitRelease.bundle']);
  return path.join(tmp, 'package', 'llama', 'gitRelease.bundle');
}

// A tree extracted by an older version of this script may lack a path added since: extract again.
const complete = wanted.every((p) => fs.existsSync(path.join(dest, p)));
if (complete && fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').trim() === COMMIT) {
  process.exit(0);
}
const bundle = findBundle();
const got = sha256(bundle);
if (got !== BUNDLE_SHA256) {
  console.error(`fetch-ggml: ${bundle} has sha256 ${got}, expected ${BUNDLE_SHA256}; reinstall node-llama-cpp@${NLC_VERSION}`);
  process.exit(1);
}
const gitDir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-git-'));
execFileSync('git', ['clone', '--quiet', '--bare', bundle, gitDir]);
const head = execFileSync('git', ['--git-dir', gitDir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
if (head !== COMMIT) {
  console.error(`fetch-ggml: bundle HEAD is ${head}, expected ${COMMIT}`);
  process.exit(1);
}
fs.mkdirSync(dest, { recursive: true });
const tar = execFileSync('git', ['--git-dir', gitDir, 'archive', '--format=tar', COMMIT, ...wanted], { maxBuffer: 1 << 30 });
execFileSync('tar', ['-x', '-C', dest], { input: tar, maxBuffer: 1 << 30 });
fs.rmSync(gitDir, { recursive: true, force: true });
fs.writeFileSync(marker, COMMIT + '\n');
console.log(`fetch-ggml: extracted ${wanted.join(', ')} of llama.cpp ${COMMIT.slice(0, 7)} into ${path.relative(root, dest)}`);
