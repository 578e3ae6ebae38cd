// loadEmbedder(): the two forms of one model (GGUF with its WordPiece vocabulary, HF directory
// with tokenizer.json) tokenize and embed texts alike; options are checked before any work.
import { describe, expect, it } from 'vitest';

import { loadEmbedder } from '../src/engine/embedder.js';
import { cosine } from './helpers/compare.js';
import { encoderModel } from './helpers/models.js';

const fixture = encoderModel('nomic-bert', { vocab: 'bert', pooling: 'mean' });
const texts = ['The keeper of the lighthouse counts the ships.', 'Café au lait, s\'il vous plaît!', 'numbers 1234 and symbols #@$', 'UPPER lower MiXeD'];

describe('loadEmbedder', () => {
  it('a GGUF and its HF directory give the same tokens and the same vectors', async () => {
    const gguf = await loadEmbedder(fixture.gguf, { threads: 2 });
    const hf = await loadEmbedder(fixture.hfDir, { threads: 2 });
    try {
      expect([hf.info.format, gguf.info.format]).toEqual(['hf', 'gguf']);
      expect(hf.info.dimensions).toBe(gguf.info.dimensions);
      for (const t of texts) expect(await hf.tokenizer.encode(t, { addSpecial: true }), t).toEqual(await gguf.tokenizer.encode(t, { addSpecial: true }));
      const a = await gguf.embed(texts);
      const b = await hf.embed(texts);
      expect(b.promptTokens).toBe(a.promptTokens);
      for (let i = 0; i < texts.length; i++) expect(cosine(a.vectors[i]!, b.vectors[i]!)).toBeGreaterThanOrEqual(0.9999999);
    } finally {
      await gguf.close();
      await hf.close();
    }
  });

  it('checks options before tokenizing, refuses after close, and a closed model stays closed', async () => {
    const e = await loadEmbedder(fixture.gguf, { threads: 1 });
    await expect(e.embed([])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'input' });
    await expect(e.embed(['x'], { dimensions: 10 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'dimensions' });
    await expect(e.embed(['x'], { task: 'query' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'task' });
    await expect(e.embed(['x'], { task: 'summary' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'task' });
    await expect(e.embed([{} as never])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'input' });
    const ac = new AbortController();
    ac.abort();
    await expect(e.embed(['x'], { signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    // calls queue one after another on the one encoder
    const r = await Promise.all([e.embed(['a']), e.embed(['b', 'c']), e.embed(['d'])]);
    expect(r.map((x) => x.vectors.length)).toEqual([1, 2, 1]);
    await e.close();
    await expect(e.embed(['x'])).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(loadEmbedder(fixture.gguf, { threads: 1, minDimensions: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'minDimensions' });
  });
});
