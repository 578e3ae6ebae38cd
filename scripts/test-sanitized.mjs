#!/usr/bin/env node
// Our native code under AddressSanitizer and UndefinedBehaviorSanitizer (ggml is built as usual,
// so the oracle tests compare the same kernels' logits; the preloaded ASan runtime still checks
// every malloc/free/memcpy in the process): builds the addon into build-sanitize/ and runs the
// tests that feed it files, arguments and
// logits from outside (hostile GGUF / safetensors / config.json, the oracle suites, the
// sampling kernels' property tests, lifecycle misuse). Any sanitizer report ends the process,
// so the run fails instead of passing silently. Node itself is not instrumented, so the ASan
// runtime is preloaded; leak checking is off (V8 keeps memory until exit by design).
//
//   node scripts/test-sanitized.mjs [vitest args...]    (npm run test:sanitize)
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const out = path.join(root, 'build-sanitize');

const TESTS = [
  'test/gguf.test.ts', 'test/safetensors.test.ts', 'test/oracle.test.ts', 'test/oracle-files.test.ts',
  'test/sequences.test.ts', 'test/sampling.test.ts', 'test/sampling-hostile.test.ts', 'test/lifecycle.test.ts',
  'test/hostile-sweep.test.ts', 'test/encoder.test.ts', 'test/embedding-gemma.test.ts', 'test/reranker-xlmr.test.ts',
  'test/swa-cache.test.ts', 'test/swa-engine.test.ts',
];

const started = Date.now();
execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit', cwd: root });
execFileSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--out', out, '--CDPOTRON_NATIVE_CPU=ON', '--CDPOTRON_SANITIZE=ON'],
  { stdio: 'inherit', cwd: root });
const addon = path.join(out, 'Release', 'predict_otron_native.node');
if (!fs.existsSync(addon)) throw new Error(`the sanitizer build left no ${addon}`);
const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
const libubsan = execFileSync('gcc', ['-print-file-name=libubsan.so'], { encoding: 'utf8' }).trim();
console.log(`test-sanitized: built in ${((Date.now() - started) / 1000).toFixed(0)} s; running ${TESTS.length} test files`);

const args = process.argv.slice(2);
const r = spawnSync(process.execPath, [path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs'), 'run', ...(args.length ? args : TESTS)], {
  stdio: 'inherit',
  cwd: root,
  env: {
    ...process.env,
    POTRON_ADDON: addon,
    LD_PRELOAD: [libasan, libubsan, process.env.LD_PRELOAD].filter(Boolean).join(' '),
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_odr_violation=0:allocator_may_return_null=1',
    UBSAN_OPTIONS: 'halt_on_error=1:abort_on_error=1:print_stacktrace=1',
  },
});
console.log(`test-sanitized: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(r.status ?? 1);
