#!/usr/bin/env node
// Prints, as one JSON line, the log-probabilities the addon gives for a fixed 40-token prompt:
//   node scripts/logits-digest.mjs MODEL [--no-repack] [--threads N]
// POTRON_ADDON picks the addon file. scripts/windows-check.sh runs it on Linux and, under Wine,
// with the Windows build, and compares the two.
import { Batch, Model } from '../dist/runtime/index.js';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node scripts/logits-digest.mjs MODEL [--no-repack] [--threads N]');
  process.exit(2);
}
const threads = Number(args[args.indexOf('--threads') + 1]) || 2;
const model = await Model.open(file, { threads, repack: !args.includes('--no-repack') });
const ctx = await model.createContext({ nCtx: 256 });
const tokens = Array.from({ length: 40 }, (_, i) => 2 + ((i * 37 + 11) % 300));
const row = (await ctx.decode(new Batch().addSequence(tokens, 0, 0, true))).row(0);
let max = -Infinity;
for (const x of row) max = Math.max(max, x);
let sum = 0;
for (const x of row) sum += Math.exp(x - max);
const lse = max + Math.log(sum);
console.log(JSON.stringify({
  platform: process.platform, model: file.split(/[\\/]/).pop(), repackedBytes: model.info.repackedBytes,
  argmax: row.indexOf(max), logprobs: Array.from(row, (x) => x - lse),
}));
await ctx.close();
await model.close();
