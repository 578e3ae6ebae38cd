// The CLI as a user runs it: a child process, JSON on stdout, a message and exit 1 on errors.
import { execFile, execFile as execFileCb } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { Batch, Model } from '../src/runtime/index.js';
import { root, tinyModel } from './helpers/models.js';

const run = promisify(execFile);
const bin = path.join(root, 'bin', 'predict-otron.js');

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [bin, ...args], { maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('predict-otron logits', () => {
  it('prints the logits of every position, equal to the library', async () => {
    const model = tinyModel('gemma2');
    const tokens = [2, 17, 40, 41, 99, 7, 8, 9, 10, 11, 12];
    const res = await cli(['logits', '--model', model, '--tokens', tokens.join(','), '--threads', '1']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { n_vocab: number; logits: number[][] };
    expect(out.n_vocab).toBe(384);
    expect(out.logits).toHaveLength(tokens.length);
    const m = await Model.open(model);
    const ctx = await m.createContext({ nCtx: tokens.length });
    const batch = new Batch();
    tokens.forEach((t, i) => batch.add(t, i, 0, true));
    const l = await ctx.decode(batch);
    for (let p = 0; p < tokens.length; p++) expect(out.logits[p]).toEqual(Array.from(l.row(p)));
    await m.close();
  });

  it('exits 1 with a message for a bad file, a missing file and bad arguments', async () => {
    const bad = await cli(['logits', '--model', path.join(root, 'package.json'), '--tokens', '2']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/package\.json: not a GGUF file/);
    const missing = await cli(['logits', '--model', '/nonexistent.gguf', '--tokens', '2']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nonexistent\.gguf: No such file/);
    const tokens = await cli(['logits', '--model', tinyModel('gemma'), '--tokens', '2,x']);
    expect(tokens.code).toBe(1);
    expect(tokens.stderr).toMatch(/'x' is not a token id/);
    const range = await cli(['logits', '--model', tinyModel('gemma'), '--tokens', '2,5000']);
    expect(range.code).toBe(1);
    expect(range.stderr).toMatch(/outside the vocabulary/);
  });
});

describe('predict-otron bench', () => {
  it('--json prints prefill and decode rates and peak RSS', async () => {
    const res = await cli(['bench', '--model', tinyModel('gemma3', 'q8_0'), '--prompt', '32', '--gen', '8', '--reps', '1', '--json']);
    expect(res.code).toBe(0);
    const r = JSON.parse(res.stdout) as Record<string, number>;
    expect(r.prefill_tokens_per_s).toBeGreaterThan(0);
    expect(r.decode_tokens_per_s).toBeGreaterThan(0);
    expect(r.peak_rss_bytes).toBeGreaterThan(10 * 2 ** 20);
    expect(r.n_prompt).toBe(32);
    expect(r.n_gen).toBe(8);
  });
});

describe('predict-otron embed', () => {
  it('prints one JSON line per text (arguments or stdin lines), the library\'s normalized vectors', async () => {
    const { loadEmbedder } = await import('../src/engine/embedder.js');
    const { encoderModel } = await import('./helpers/models.js');
    const file = encoderModel('bert', { vocab: 'bert', pooling: 'mean' }).gguf;
    const res = await cli(['embed', '--model', file, '--threads', '1', 'hello world', 'a second text']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; tokens: number; embedding: number[] });
    expect(lines.map((l) => [l.index, l.tokens])).toEqual([[0, 4], [1, 5]]); // [CLS] hello world [SEP]; [CLS] a second text [SEP]
    const e = await loadEmbedder(file, { threads: 1 });
    const ref = await e.embed(['hello world', 'a second text']);
    await e.close();
    lines.forEach((l, i) => expect(l.embedding).toEqual(Array.from(ref.vectors[i]!)));
    const piped = await new Promise<string>((resolve, reject) => {
      const child = execFileCb('node', [bin, 'embed', '--model', file, '--threads', '1'], (err, stdout) => (err ? reject(err) : resolve(stdout)));
      child.stdin!.end('hello world\n\na second text\n');
    });
    expect(piped.trim().split('\n').map((l) => (JSON.parse(l) as { embedding: number[] }).embedding)).toEqual(lines.map((l) => l.embedding));
    const bad = await cli(['embed', '--model', file, '--task', 'query', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no known task prefixes/);
  });
});
