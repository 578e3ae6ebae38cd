#!/usr/bin/env node
// npm run bench: next to llama.cpp on the same GGUF files, threads and machine, built from the
// same pinned llama.cpp source our ggml comes from. Models are random weights with the true
// gemma-3-270m / gemma-3-1b shapes, generated here. Suites:
//   runtime  our runtime (predict-otron bench) vs llama-bench: decode, prefill, peak RSS
//   engine   the library API end to end and under concurrency vs llama-bench / llama-server
//            (bench/engine.mjs)
//   pressure 8 requests in a KV cache far too small for them vs the same with room
//            (bench/pressure.mjs); a 100k-token prompt arriving beside a stream (bench/long-prompt.mjs)
//   embeddings  embeddings/s on the bge-small and nomic-v1.5 shapes vs llama-server --embedding
//            (bench/embeddings.mjs)
//   gateway  what `serve --role gateway` adds to a replica's TTFT and stream rates (bench/gateway.mjs)
//
//   node bench/run.mjs [--suite runtime,engine] [--shapes 270m,1b] [--types f32,bf16,q8_0]
//                      [--threads N] [--rounds 3] [--prompt 512] [--gen 128] [--no-write]
//
// This machine's speed drifts by 10-20% over minutes (shared host), so the two runtimes are
// measured in alternating rounds (llama-bench, ours, llama-bench, ours, ...), one repetition
// each after a warm-up, and each side's rate is the mean over rounds.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { benchModel, llamaTool, log, machine, physicalCores, recordResults, root } from './lib/common.mjs';

const { values } = parseArgs({
  options: {
    suite: { type: 'string', default: 'runtime,engine,pressure,embeddings,gateway,swa' },
    shapes: { type: 'string', default: '270m,1b' },
    types: { type: 'string', default: 'f32,bf16,q8_0' },
    threads: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    prompt: { type: 'string', default: '512' },
    gen: { type: 'string', default: '128' },
    'no-write': { type: 'boolean', default: false },
  },
});

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

const suites = values.suite.split(',');
const threads = Number(values.threads ?? physicalCores());
const rounds = Number(values.rounds);
const prompt = Number(values.prompt);
const gen = Number(values.gen);

if (suites.includes('runtime')) runtimeSuite();
for (const [suite, scripts] of [['engine', ['engine']], ['pressure', ['pressure', 'long-prompt']], ['embeddings', ['embeddings']], ['gateway', ['gateway']], ['swa', ['swa']]]) {
  if (!suites.includes(suite)) continue;
  for (const script of scripts) {
    const args = [path.join(root, 'bench', `${script}.mjs`), '--threads', String(threads)];
    if (values['no-write']) args.push('--no-write');
    execFileSync(process.execPath, args, { stdio: 'inherit' });
  }
}

function runtimeSuite() {
  const exe = llamaTool('llama-bench');
  const results = [];
  for (const shape of values.shapes.split(',')) {
    for (const type of values.types.split(',')) {
      const file = benchModel(shape, type);
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
    `### ${date} — runtime, ${machine()}, ${threads} threads, pp${prompt} / tg${gen}, mean of ${rounds} alternating rounds`,
    '',
    '| model | type | decode tok/s ours | llama.cpp | ratio | prefill tok/s ours | llama.cpp | ratio | peak RSS MiB ours | llama.cpp | ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map((r) => `| gemma-3-${r.shape} shape | ${r.type} | ${r.ours.tg.toFixed(1)} | ${r.theirs.tg.toFixed(1)} | ` +
      `**${r.ratio.tg.toFixed(2)}×** | ${r.ours.pp.toFixed(1)} | ${r.theirs.pp.toFixed(1)} | **${r.ratio.pp.toFixed(2)}×** | ` +
      `${mib(r.ours.rss)} | ${mib(r.theirs.rss)} | **${r.ratio.rss.toFixed(2)}×** |`),
    '',
  ].join('\n');
  process.stdout.write(table + '\n');

  if (!values['no-write']) recordResults(table);
}
