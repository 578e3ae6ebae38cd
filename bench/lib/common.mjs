// Shared by the benchmark suites: paths, machine description, model generation, RESULTS.md.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const work = path.join(root, 'bench', '.work');
export const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

/** A random-weight Gemma 3 of a true shape; vocab 'gemma3' puts the real Gemma 3 vocabulary and template in. */
export function benchModel(shape, type, vocab = 'tiny') {
  const file = path.join(work, 'models', `gemma3-${shape}-${type}${vocab === 'gemma3' ? '-vocab' : ''}.gguf`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    log(`generating ${path.basename(file)}`);
    execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit' });
    execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', 'gemma3', '--preset', shape,
      '--type', type, '--vocab', vocab, '--seed', '1', '--out', file + '.tmp'], { stdio: 'inherit' });
    fs.renameSync(file + '.tmp', file);
  }
  return file;
}

/** llama.cpp tools (llama-bench, llama-server) built from the same pinned source as our ggml. */
export function llamaTool(name) {
  const build = path.join(work, 'llama-build');
  const exe = path.join(build, 'bin', name);
  if (fs.existsSync(exe)) return exe;
  execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs'), '--full'], { stdio: 'inherit' });
  log(`building ${name} from the pinned llama.cpp source (several minutes on 2 cores)`);
  // the same GCC 12 AMX fix our own build force-includes (native/compat/gcc12_amx.h): without it
  // llama.cpp's AMX kernels die of SIGILL on CPUs with AMX-INT8
  // and, like our build (CMakeLists.txt, POTRON_F16_ARITH), no AVX512-FP16 arithmetic: with
  // -march=native on Sapphire Rapids ggml would accumulate F16 attention in half precision, which
  // llama.cpp's release builds (its CPU variants) never do; both sides run the same kernels
  const amxFix = `-include ${path.join(root, 'native', 'compat', 'gcc12_amx.h')}${noF16Arith()}`;
  execFileSync('cmake', ['-S', path.join(root, 'deps', 'llama.cpp'), '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DGGML_NATIVE=ON',
    `-DCMAKE_C_FLAGS=${amxFix}`, `-DCMAKE_CXX_FLAGS=${amxFix}`,
    '-DLLAMA_CURL=OFF', '-DLLAMA_OPENSSL=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF',
    '-DLLAMA_BUILD_TOOLS=ON', '-DLLAMA_BUILD_SERVER=ON', '-DBUILD_SHARED_LIBS=OFF'], { stdio: 'inherit' });
  execFileSync('cmake', ['--build', build, '--target', name, '-j', String(os.cpus().length)], { stdio: 'inherit' });
  return exe;
}

// -mno-avx512fp16 where the compiler knows it (GCC 12+, clang 14+), as CMakeLists.txt adds it
function noF16Arith() {
  const r = spawnSync('c++', ['-mno-avx512fp16', '-x', 'c++', '-fsyntax-only', '-'], { input: '', encoding: 'utf8' });
  return r.status === 0 ? ' -mno-avx512fp16' : '';
}

export function machine() {
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = (info.match(/model name\s*:\s*(.*)/) ?? [])[1] ?? os.cpus()[0]?.model;
  const flags = info.match(/flags\s*:\s*(.*)/)?.[1]?.split(' ') ?? [];
  const isa = ['avx512f', 'avx2'].find((f) => flags.includes(f)) ?? 'baseline';
  return `${cpu}, ${os.cpus().length} CPUs (${isa})`;
}

export function physicalCores() {
  return Number(execFileSync(process.execPath, ['-e',
    `const n=require(${JSON.stringify(root)}+'/node_modules/node-gyp-build')(${JSON.stringify(root)}); console.log(n.physicalCores())`],
    { encoding: 'utf8' }));
}

const HEAD = '# Benchmark results\n\nWritten by `npm run bench` (bench/run.mjs). Random weights with the true shapes; ' +
  'llama.cpp is llama-bench / llama-server built from the same pinned source (node-llama-cpp@3.21.1, llama.cpp 80fb11a), ' +
  'same GGUF file, same threads, its defaults (F16 KV cache, flash attention auto = on on CPU), as are ours, and compiled as ours are (-march=native without AVX512-FP16 arithmetic, which llama.cpp\'s release builds do not use either; before 2026-12-02 llama.cpp\'s tools were built with it on this Sapphire Rapids machine, which made their F16 attention faster by accumulating in half precision). ' +
  'Peak RSS is ru_maxrss of each process (ours includes Node.js itself, about 45 MiB). ' +
  'Ratios are ours / llama.cpp (RSS: lower is better). Runs vary by ±5–10%: compare within one run.\n\n';

/** Puts a new section at the top of bench/RESULTS.md (newest first). */
export function recordResults(section) {
  const file = path.join(root, 'bench', 'RESULTS.md');
  // everything from the first section on is kept; the head above it is rewritten
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const old = text.includes('\n### ') ? text.slice(text.indexOf('\n### ') + 1) : '';
  fs.writeFileSync(file, HEAD + section + '\n' + old);
  log(`wrote ${path.relative(root, file)}`);
}
