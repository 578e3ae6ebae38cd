#!/usr/bin/env node
// KV-cache pressure: 8 concurrent requests (40 prompt + 60 generated tokens each, 800 cells of
// work) in a 384-cell context, against the same 8 with room (1024 cells), on the gemma-3-270m
// shape (Q8_0). Before admission by free cells, the squeezed run took about 6x as long: a
// prefilling request took every free cell, was preempted at the next step and admitted again.
// Target: the squeezed run within 1.5x of the roomy one; also run without swap (swapMiB 0) for
// comparison. Alternating rounds (the machine drifts).
//
//   node bench/pressure.mjs [--threads N] [--rounds 3] [--no-write]
import path from 'node:path';
import { parseArgs } from 'node:util';

import { benchModel, log, machine, physicalCores, recordResults, root } from './lib/common.mjs';

const { values } = parseArgs({
  options: { threads: { type: 'string' }, rounds: { type: 'string', default: '3' }, 'no-write': { type: 'boolean', default: false } },
});
const threads = Number(values.threads ?? physicalCores());
const rounds = Number(values.rounds);
const { loadModel } = await import(path.join(root, 'dist', 'index.js'));
const file = benchModel('270m', 'q8_0');

const prompts = Array.from({ length: 8 }, (_, i) => [2, ...Array.from({ length: 39 }, (_, j) => 300 + ((i * 977 + j * 31) % 20000))]);
const opts = { temperature: 0, maxTokens: 60, logitBias: { 1: -100, 106: -100 } };

async function run(contextSize, extra = {}) {
  const m = await loadModel(file, { contextSize, parallel: 8, threads, ...extra });
  try {
    await m.complete([2, 300, 301], { maxTokens: 2 }); // warm-up
    const t0 = performance.now();
    const results = await Promise.all(prompts.map((p) => m.complete(p, opts)));
    const seconds = (performance.now() - t0) / 1000;
    const s = m.stats();
    if (!results.every((r) => r.usage.completionTokens === 60)) throw new Error('a request stopped early');
    return { seconds, preemptions: s.preemptions, recomputed: s.recomputedTokens, swapped: s.swappedTokens };
  } finally {
    await m.close();
  }
}

const runs = { tight: [], roomy: [], recompute: [] };
for (let r = 0; r < rounds; r++) {
  runs.roomy.push(await run(1024));
  runs.tight.push(await run(384));
  runs.recompute.push(await run(384, { swapMiB: 0 }));
  log(`round ${r + 1}/${rounds}: roomy ${runs.roomy.at(-1).seconds.toFixed(2)} s, squeezed ${runs.tight.at(-1).seconds.toFixed(2)} s ` +
    `(${runs.tight.at(-1).preemptions} preemptions, ${runs.tight.at(-1).swapped} cells copied back, ${runs.tight.at(-1).recomputed} recomputed), ` +
    `squeezed without swap ${runs.recompute.at(-1).seconds.toFixed(2)} s`);
}
const mean = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
const roomy = mean(runs.roomy, 'seconds'), tight = mean(runs.tight, 'seconds');
const date = new Date().toISOString().slice(0, 10);
const table = [
  `### ${date} — KV pressure, ${machine()}, ${threads} threads, gemma-3-270m shape Q8_0, mean of ${rounds} alternating rounds`,
  '',
  '8 concurrent requests of 40 prompt + 60 generated tokens (800 cells of work).',
  '',
  '| context | wall s | preemptions | cells copied back | cells recomputed |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...[['1024 cells (room)', runs.roomy], ['384 cells', runs.tight], ['384 cells, swapMiB 0 (recompute only)', runs.recompute]].map(([name, xs]) =>
    `| ${name} | ${mean(xs, 'seconds').toFixed(2)} | ${mean(xs, 'preemptions').toFixed(0)} | ${mean(xs, 'swapped').toFixed(0)} | ${mean(xs, 'recomputed').toFixed(0)} |`),
  '',
  `Squeezed / roomy: **${(tight / roomy).toFixed(2)}×** (target ≤ 1.5×); without swap ${(mean(runs.recompute, 'seconds') / roomy).toFixed(2)}×.`,
  '',
  'A preempted request keeps its cells as an idle cache; what others trim off its tail is saved',
  'first (up to swapMiB, by default as much as the KV cache) and copied back on its return.',
  '',
].join('\n');
process.stdout.write(table + '\n');
if (!values['no-write']) recordResults(table);
