#!/usr/bin/env node
// After `npm run prebuild`: loads the addon the way an installed package does (node-gyp-build
// with PREBUILDS_ONLY, so build/Release cannot stand in for it), checks it is this code's
// surface, that ggml found its CPU backend next to it, and runs a tiny model end to end
// (scripts/make-tiny-gemma writes it when python3 with numpy is there; else a load-only check).
// Exits non-zero on any failure; the CI matrix (.github/workflows/prebuilds.yml) runs it on each
// platform it builds.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.env.PREBUILDS_ONLY = '1';
const require = createRequire(path.join(root, 'package.json'));
const addon = require('node-gyp-build')(root);
const expected = Number(/SURFACE_VERSION = (\d+)/.exec(fs.readFileSync(path.join(root, 'scripts', 'install-native.mjs'), 'utf8'))[1]);
if (addon.surfaceVersion !== expected) throw new Error(`prebuild surface ${addon.surfaceVersion}, this code ${expected}`);
const devices = addon.listDevices();
console.log(`prebuild-smoke: ${addon.systemInfo()}; devices: ${devices.map((d) => `${d.name} (${d.backend})`).join(', ')}`);
if (!devices.some((d) => d.kind === 'cpu')) throw new Error('no CPU backend was loaded from the prebuild folder');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-smoke-'));
const model = path.join(dir, 'tiny.gguf');
try {
  execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', 'gemma3', '--seed', '1', '--out', model], { stdio: 'inherit' });
} catch {
  console.log('prebuild-smoke: no python3 with numpy here: loaded and listed devices only');
  process.exit(0);
}
const m = await addon.loadModel(model);
const ctx = await m.createContext({ nCtx: 64, nSeqMax: 1 });
const n = 12;
const logits = await ctx.decode(Int32Array.from({ length: n }, (_, i) => (i ? 6 + i * 7 : 2)), Int32Array.from({ length: n }, (_, i) => i),
  new Int32Array(n), new Uint8Array(n).fill(1));
if (logits.length !== n * m.info().nVocab || !logits.every(Number.isFinite)) throw new Error('the prebuild computed no finite logits');
console.log(`prebuild-smoke: ${n} positions x ${m.info().nVocab} logits, all finite`);
ctx.close();
m.close();
fs.rmSync(dir, { recursive: true, force: true });
