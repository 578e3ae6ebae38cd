#!/usr/bin/env node
// npm run bench: our runtime next to llama.cpp's llama-bench on the same GGUF files, threads and
// machine. llama-bench is built from the same pinned llama.cpp source our ggml comes from.
// Models are random weights with the true gemma-3-270m / gemma-3-1b shapes, generated here.
//
//   node bench/run.mjs [--shapes 270m,1b] [--types f32,bf16,q8_0] [--threads N] [--rounds 3]
//                      [--prompt 512] [--gen 128] [--no-write]
//
// This machine's speed drifts by 10-20% over minutes (shared host), so the two runtimes are
// measured in alternating rounds (llama-bench, ours, llama-bench, ours, ...), one repetition
// each after a warm-up, and each side's rate is the mean over rounds.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = path.join(root, 'bench', '.work');
const { values } = parseArgs({
  options: {
    shapes: { type: 'string', default: '270m,1b' },
    types: { type: 'string', default: 'f32,bf16,q8_0' },
    threads: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    prompt: { type: 'string', default: '512' },
    gen: { type: 'string', default: '128' },
    'no-write': { type: 'boolean', default: false },
  },
});

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

function buildLlamaBench() {
  const exe = path.join(work, 'llama-build', 'bin', 'llama-bench');
  if (fs.existsSync(exe)) return exe;
  execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs'), '--full'], { stdio: 'inherit' });
  const src = path.join(root, 'deps', 'llama.cpp');
  const build = path.join(work, 'llama-build');
  log('building llama-bench from the pinned llama.cpp source (several minutes on 2 cores)');
  execFileSync('cmake', ['-S', src, '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DGGML_NATIVE=ON', '-DLLAMA_CURL=OFF',
    '-DLLAMA_OPENSSL=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_BUILD_SERVER=OFF',
    '-DBUILD_SHARED_LIBS=OFF'], { stdio: 'inherit' });
  execFileSync('cmake', ['--build', build, '--target', 'llama-bench', '-j', String(os.cpus().length)], { stdio: 'inherit' });
  return exe;
}

function model(shape, type) {
  const file = path.join(work, 'models', `gemma3-${shape}-${type}.gguf`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    log(`generating ${path.basename(file)}`);
    execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', 'gemma3', '--preset', shape,
      '--type', type, '--seed', '1', '--out', file + '.tmp'], { stdio: 'inherit' });
    fs.renameSync(file + '.tmp', file);
  }
  return file;
}

// Runs a command and returns its stdout and its peak RSS (ru_maxrss of the child), measured the
// same way for both runtimes.
function measured(cmd, args) {
  const wrapper = 'import resource, subprocess, sys\n' +
    'r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n' +
    'sys.stdout.buffer.write(r.stdout)\n' +
    'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n' +
    'sys.exit(r.returncode)\n';
  const r = spawnSync('python3', ['-c', wrapper, cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  return { stdout: r.stdout, peakRss: Number(lines[lines.length - 1]) * 1024 };
}

function runOurs(file, threads, reps, prompt, gen) {
  const { stdout, peakRss } = measured(process.execPath, [path.join(root, 'bin', 'predict-otron.js'), 'bench', '--model',
    file, '--threads', String(threads), '--prompt', String(prompt), '--gen', String(gen), '--reps', String(reps), '--json']);
  const r = JSON.parse(stdout);
  return { pp: r.prefill_tokens_per_s, tg: r.decode_tokens_per_s, rss: peakRss };
}

function runLlama(exe, file, threads, reps, prompt, gen) {
  const { stdout, peakRss } = measured(exe, ['-m', file, '-t', String(threads), '-p', String(prompt), '-n', String(gen),
    '-r', String(reps), '-o', 'json']);
  const rows = JSON.parse(stdout);
  const pp = rows.find((x) => x.n_prompt > 0 && x.n_gen === 0);
  const tg = rows.find((x) => x.n_gen > 0 && x.n_prompt === 0);
  return { pp: pp.avg_ts, tg: tg.avg_ts, rss: peakRss };
}

const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? os.cpus()[0]?.model;
const flags = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/flags\s*:\s*(.*)/)?.[1] ?? '';
const isa = ['avx512f', 'avx2'].find((f) => flags.split(' ').includes(f)) ?? 'baseline';
const physical = JSON.parse(execFileSync(process.execPath, ['-e',
  `const n=require(${JSON.stringify(root)}+'/node_modules/node-gyp-build')(${JSON.stringify(root)}); console.log(n.physicalCores())`],
  { encoding: 'utf8' }));
const threads = Number(values.threads ?? physical);
const rounds = Number(values.rounds);
const prompt = Number(values.prompt);
const gen = Number(values.gen);

const exe = buildLlamaBench();
const results = [];
for (const shape of values.shapes.split(',')) {
  for (const type of values.types.split(',')) {
    const file = model(shape, type);
    const runs = { ours: [], theirs: [] };
    for (let r = 0; r < rounds; r++) {
      log(`${shape} ${type}: round ${r + 1}/${rounds}`);
      runs.theirs.push(runLlama(exe, file, threads, 1, prompt, gen));
      runs.ours.push(runOurs(file, threads, 1, prompt, gen));
    }
    const summary = (xs) => ({
      pp: xs.reduce((a, x) => a + x.pp, 0) / xs.length,
      tg: xs.reduce((a, x) => a + x.tg, 0) / xs.length,
      rss: Math.max(...xs.map((x) => x.rss)),
    });
    const ours = summary(runs.ours);
    const theirs = summary(runs.theirs);
    const row = { shape, type, ours, theirs, ratio: { pp: ours.pp / theirs.pp, tg: ours.tg / theirs.tg, rss: ours.rss / theirs.rss } };
    results.push(row);
    log(`${shape} ${type}: decode ${ours.tg.toFixed(1)} vs ${theirs.tg.toFixed(1)} (${row.ratio.tg.toFixed(2)}x), ` +
      `prefill ${ours.pp.toFixed(1)} vs ${theirs.pp.toFixed(1)} (${row.ratio.pp.toFixed(2)}x), ` +
      `RSS ${(ours.rss / 2 ** 20).toFixed(0)} vs ${(theirs.rss / 2 ** 20).toFixed(0)} MiB (${row.ratio.rss.toFixed(2)}x)`);
  }
}

const mib = (b) => (b / 2 ** 20).toFixed(0);
const date = new Date().toISOString().slice(0, 10);
const table = [
  `### ${date} — ${cpu}, ${os.cpus().length} CPUs (${isa}), ${threads} threads, pp${prompt} / tg${gen}, mean of ${rounds} alternating rounds`,
  '',
  '| model | type | decode tok/s ours | llama.cpp | ratio | prefill tok/s ours | llama.cpp | ratio | peak RSS MiB ours | llama.cpp | ratio |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map((r) => `| gemma-3-${r.shape} shape | ${r.type} | ${r.ours.tg.toFixed(1)} | ${r.theirs.tg.toFixed(1)} | ` +
    `**${r.ratio.tg.toFixed(2)}×** | ${r.ours.pp.toFixed(1)} | ${r.theirs.pp.toFixed(1)} | **${r.ratio.pp.toFixed(2)}×** | ` +
    `${mib(r.ours.rss)} | ${mib(r.theirs.rss)} | **${r.ratio.rss.toFixed(2)}×** |`),
  '',
].join('\n');
process.stdout.write(table + '\n');

if (!values['no-write']) {
  const file = path.join(root, 'bench', 'RESULTS.md');
  const head = '# Benchmark results\n\nWritten by `npm run bench` (bench/run.mjs). Random weights with the true shapes; ' +
    'llama.cpp is llama-bench built from the same pinned source (node-llama-cpp@3.21.1, llama.cpp 80fb11a), ' +
    'same GGUF file, same threads, its defaults (F16 KV cache, flash attention auto = on on CPU), as are ours. ' +
    'Peak RSS is ru_maxrss of each process (ours includes Node.js itself, about 45 MiB). ' +
    'Ratios are ours / llama.cpp (RSS: lower is better). Runs vary by ±5–10%: compare within one run.\n\n';
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').replace(head, '') : '';
  fs.writeFileSync(file, head + table + '\n' + old);
  log(`wrote ${path.relative(root, file)}`);
}
