// Per-token cost of the sampler on a 262,144-token vocabulary (Gemma 3's), for several
// settings. Compare with a decode step of the 270m shape (bench/RESULTS.md: ~13 ms here).
//   node bench/sampling.mjs [--json]
import { samplingParams } from '../dist/sampling/options.js';
import { Sampler } from '../dist/sampling/sampler.js';
import { Rng } from '../dist/sampling/rng.js';

const V = 262144;
const rng = new Rng(1);
// logits shaped like a trained model's: mostly small, a few large
const base = Float32Array.from({ length: V }, () => {
  const u = rng.next() || 1e-12;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next()) * 2.5;
});
const history = Array.from({ length: 1000 }, (_, i) => (i * 7919) % V);

const configs = {
  greedy: { temperature: 0 },
  'top_k 40 + top_p 0.95 + min_p 0.05 + penalties': {
    temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repetitionPenalty: 1.1, presencePenalty: 0.5, frequencyPenalty: 0.5, seed: 1,
  },
  'top_p 0.95 only (no top_k), peaked distribution': { temperature: 0.8, topP: 0.95, seed: 1, peaked: true },
  'top_p 0.95 only (no top_k), flat distribution': { temperature: 0.8, topP: 0.95, seed: 1 },
  'temperature only (whole vocabulary)': { temperature: 0.8, seed: 1 },
  'greedy + logprobs (top 5)': { temperature: 0, logprobs: true, topLogprobs: 5 },
};

const results = {};
for (const [name, opts] of Object.entries(configs)) {
  const { peaked, ...options } = opts;
  const s = new Sampler(samplingParams(options, V), history);
  const row = new Float32Array(V);
  const times = [];
  for (let i = 0; i < 300; i++) {
    row.set(base);
    row[(i * 104729) % V] += 12; // a clear favourite that moves, as in real decoding
    // peaked: a few strong candidates, as a trained model usually gives (most mass in ~10 tokens)
    if (peaked) for (let j = 1; j <= 10; j++) row[(i * 104729 + j * 7919) % V] += 15 - j * 0.3;
    const t0 = performance.now();
    s.sample(row);
    if (i >= 50) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  results[name] = { median_ms: +times[times.length >> 1].toFixed(3), p90_ms: +times[Math.floor(times.length * 0.9)].toFixed(3) };
}
if (process.argv.includes('--json')) console.log(JSON.stringify(results));
else for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(52)} median ${v.median_ms} ms  p90 ${v.p90_ms} ms`);
