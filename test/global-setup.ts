import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import {
  embeddingGemmaModelDir, embeddingGemmaModels, encoderModelDir, encoderModels, families,
  gemma3VocabHfDir, gemma3VocabHfTwin, gemma3VocabModel, hfModel, hfModelDir, hfModels, hfTwin,
  modelDir, rerankerModelDir, rerankerModels, root, xlmrReranker, tinyModel, variantHfDir, variantModel, variants, weightTypes, type Variant,
} from './helpers/models.js';

// Generates the tiny models the tests use (seconds; deterministic from the seed).
export default async function setup(): Promise<void> {
  execFileSync('node', [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit' });
  fs.mkdirSync(modelDir, { recursive: true });
  for (const family of families) {
    for (const type of weightTypes) {
      const out = tinyModel(family, type);
      if (fs.existsSync(out)) continue;
      execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', family, '--preset', 'tiny',
        '--type', type, '--seed', '1', '--out', out + '.tmp'], { stdio: 'inherit' });
      fs.renameSync(out + '.tmp', out);
    }
  }
  // the real Gemma 3 vocabulary in a tiny model (tokenizer tests); q8_0 keeps it near 25 MB
  if (!fs.existsSync(gemma3VocabModel)) {
    execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', 'gemma3', '--preset', 'tiny',
      '--type', 'q8_0', '--vocab', 'gemma3', '--seed', '1', '--out', gemma3VocabModel + '.tmp'], { stdio: 'inherit' });
    fs.renameSync(gemma3VocabModel + '.tmp', gemma3VocabModel);
  }
  await makeHfModels();
  await makeEncoderModels();
  await makeEmbeddingGemmaModels();
  makeVariants();
  // an HF directory with the real vocabulary and its GGUF twin (engine tests: both paths agree)
  if (!fs.existsSync(gemma3VocabHfDir) || !fs.existsSync(gemma3VocabHfTwin)) {
    for (const p of [gemma3VocabHfDir + '.tmp', gemma3VocabHfTwin + '.tmp']) fs.rmSync(p, { recursive: true, force: true });
    execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', 'gemma3', '--preset', 'tiny', '--type', 'bf16',
      '--vocab', 'gemma3', '--seed', '1', '--hf-out', gemma3VocabHfDir + '.tmp', '--out', gemma3VocabHfTwin + '.tmp'], { stdio: 'inherit' });
    for (const p of [gemma3VocabHfDir, gemma3VocabHfTwin]) {
      fs.rmSync(p, { recursive: true, force: true });
      fs.renameSync(p + '.tmp', p);
    }
  }
}

// Hub-shaped and odd-but-valid models (helpers/models.ts variants), seed 1.
function makeVariants(): void {
  const gen = path.join(root, 'scripts', 'make-tiny-gemma');
  fs.mkdirSync(path.join(modelDir, 'variants'), { recursive: true });
  for (const [name, flags] of Object.entries(variants) as Array<[Variant, readonly string[]]>) {
    const gguf = variantModel(name), hf = variantHfDir(name);
    if (fs.existsSync(gguf) && (!hf || fs.existsSync(hf))) continue;
    for (const p of [gguf + '.tmp', ...(hf ? [hf + '.tmp'] : [])]) fs.rmSync(p, { recursive: true, force: true });
    execFileSync('python3', [gen, '--preset', 'tiny', '--seed', '1', ...flags, '--out', gguf + '.tmp', ...(hf ? ['--hf-out', hf + '.tmp'] : [])], { stdio: 'inherit' });
    if (hf) {
      fs.rmSync(hf, { recursive: true, force: true });
      fs.renameSync(hf + '.tmp', hf);
    }
    fs.renameSync(gguf + '.tmp', gguf);
  }
}

// Generator runs that write OUT.tmp for each of outs, renamed to OUT when the run succeeds; two at a time.
async function runGenerators(script: string, jobs: Array<{ outs: string[]; args: string[] }>): Promise<void> {
  const run = promisify(execFile);
  const gen = path.join(root, 'scripts', script);
  const next = async (): Promise<void> => {
    for (let job = jobs.shift(); job; job = jobs.shift()) {
      for (const out of job.outs) fs.rmSync(out + '.tmp', { recursive: true, force: true });
      await run('python3', [gen, ...job.args]);
      for (const out of job.outs) {
        fs.rmSync(out, { recursive: true, force: true });
        fs.renameSync(out + '.tmp', out);
      }
    }
  };
  await Promise.all([next(), next()]);
}

// HF directories with their GGUF twins, and sharded copies (about 0.7 s per generator run).
async function makeHfModels(): Promise<void> {
  const jobs: Array<{ outs: string[]; args: string[] }> = [];
  for (const { family, type } of hfModels) {
    const base = ['--arch', family, '--preset', 'tiny', '--type', type, '--seed', '1'];
    const dir = hfModel(family, type), twin = hfTwin(family, type), sharded = hfModel(family, type, true);
    if (!fs.existsSync(dir) || !fs.existsSync(twin)) jobs.push({ outs: [dir, twin], args: [...base, '--hf-out', dir + '.tmp', '--out', twin + '.tmp'] });
    if (!fs.existsSync(sharded)) jobs.push({ outs: [sharded], args: [...base, '--hf-out', sharded + '.tmp', '--shards', '3'] });
  }
  fs.mkdirSync(hfModelDir, { recursive: true });
  await runGenerators('make-tiny-gemma', jobs);
}

// Encoder models (embedding models, rerankers): a GGUF and its HF directory from one
// make-tiny-encoder run each (about a second); an --as-converted reranker shares its HF directory
// with the default one, so its run writes the GGUF alone.
async function makeEncoderModels(): Promise<void> {
  fs.mkdirSync(encoderModelDir, { recursive: true });
  fs.mkdirSync(rerankerModelDir, { recursive: true });
  const jobs = encoderModels
    .filter((m) => !fs.existsSync(m.gguf) || !fs.existsSync(m.hfDir))
    .map((m) => ({ outs: [m.gguf, m.hfDir], args: [...m.args, '--out', m.gguf + '.tmp', '--hf-dir', m.hfDir + '.tmp'] }));
  for (const m of rerankerModels) {
    if (m.asConverted) {
      if (!fs.existsSync(m.gguf)) jobs.push({ outs: [m.gguf], args: [...m.args, '--out', m.gguf + '.tmp'] });
    } else if (!fs.existsSync(m.gguf) || !fs.existsSync(m.hfDir)) {
      jobs.push({ outs: [m.gguf, m.hfDir], args: [...m.args, '--out', m.gguf + '.tmp', '--hf-dir', m.hfDir + '.tmp'] });
    }
  }
  await runGenerators('make-tiny-encoder', jobs);
  if (!fs.existsSync(xlmrReranker.gguf) || !fs.existsSync(xlmrReranker.hfDir)) {
    await runGenerators('make-tiny-xlmr-reranker', [{ outs: [xlmrReranker.gguf, xlmrReranker.hfDir],
      args: [...xlmrReranker.args, '--out', xlmrReranker.gguf + '.tmp', '--hf-dir', xlmrReranker.hfDir + '.tmp'] }]);
  }
}

// EmbeddingGemma: a GGUF and its HF directory from one make-tiny-gemma run, and the GGUF without
// the Dense layers from another (each a few seconds: the real Gemma 3 vocabulary).
async function makeEmbeddingGemmaModels(): Promise<void> {
  fs.mkdirSync(embeddingGemmaModelDir, { recursive: true });
  const jobs: Array<{ outs: string[]; args: string[] }> = [];
  for (const m of embeddingGemmaModels) {
    if (!fs.existsSync(m.gguf) || !fs.existsSync(m.hfDir)) {
      jobs.push({ outs: [m.gguf, m.hfDir], args: [...m.args, '--out', m.gguf + '.tmp', '--hf-out', m.hfDir + '.tmp'] });
    }
    if (!fs.existsSync(m.ggufNoDense)) jobs.push({ outs: [m.ggufNoDense], args: [...m.args, '--no-dense', '--out', m.ggufNoDense + '.tmp'] });
  }
  await runGenerators('make-tiny-gemma', jobs);
}
