#!/usr/bin/env node
// npm run demo: generates a tiny RANDOM-WEIGHT Gemma 3 (no download, works offline), runs it
// through the native runtime and prints what it predicts after each token. The "predictions"
// are noise — the point is to see the whole path working.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Batch, Model } from '../dist/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'test', '.models', 'demo-gemma3-tiny-random.gguf');
if (!fs.existsSync(file)) {
  execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit' });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', 'gemma3', '--preset', 'tiny',
    '--type', 'q8_0', '--seed', '7', '--out', file], { stdio: 'inherit' });
}

const model = await Model.open(file);
const vocab = model.metadata()['tokenizer.ggml.tokens'];
const { arch, nVocab, weightType, hparams } = model.info;
console.log(`demo model: ${path.relative(root, file)} — RANDOM WEIGHTS, not a trained model`);
console.log(`  ${arch}, ${hparams.nLayer} layers, hidden ${hparams.nEmbd}, vocabulary ${nVocab}, ${weightType}, ` +
  `sliding window ${hparams.slidingWindow} on layers ${hparams.layerIsSwa.map((s, i) => (s ? i : null)).filter((i) => i !== null).join(',')}`);

const ctx = await model.createContext({ nCtx: 64, nSeqMax: 2 });
const tokens = [2, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310];
const batch = new Batch();
tokens.forEach((t, i) => batch.add(t, i, 0, true));
const logits = await ctx.decode(batch);
for (let p = 0; p < tokens.length; p++) {
  const row = logits.row(p);
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  console.log(`  after ${JSON.stringify(vocab[tokens[p]]).padEnd(8)} most likely next: ${JSON.stringify(vocab[best]).padEnd(8)} (logit ${row[best].toFixed(3)})`);
}
await model.close();
console.log('try: npx predict-otron logits --model ' + path.relative(process.cwd(), file) + ' --tokens 2,300,301');
